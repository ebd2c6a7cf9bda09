"""Bounded reads shared by every capture reader (atomic writes live in `dc2kit.atomic`)."""

from __future__ import annotations

from pathlib import Path

from dc2kit.capture.errors import CaptureError
from dc2kit.capture.limits import MAX_FILE_BYTES


def one_line(error: BaseException) -> str:
    """A library's error text on one line (libheif's and OpenCV's messages span lines)."""
    text = " ".join(str(error).split())
    return text or type(error).__name__


def read_file_bytes(path: str | Path) -> bytes:
    """The whole file, refusing missing, unreadable or over-limit files with a CaptureError."""
    try:
        size = Path(path).stat().st_size
        if size > MAX_FILE_BYTES:
            raise CaptureError(
                path, f"file of {size} bytes exceeds the {MAX_FILE_BYTES}-byte limit"
            )
        return Path(path).read_bytes()
    except OSError as error:
        raise CaptureError(
            path, f"cannot read file ({error.strerror or one_line(error)})"
        ) from error
