"""Bounded reads and atomic writes, shared by every reader and writer of capture files."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
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


@contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """A temporary path beside `path` that replaces it only if the block succeeds.

    A failure (an exception, a crash before the rename) leaves no partial output at `path`.
    """
    destination = Path(path)
    handle, temporary = tempfile.mkstemp(
        prefix=f".{destination.name}.", suffix=destination.suffix, dir=destination.parent
    )
    os.close(handle)
    try:
        yield Path(temporary)
        os.replace(temporary, destination)
    finally:
        Path(temporary).unlink(missing_ok=True)


def write_atomically(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file and a rename."""
    with atomic_output(path) as temporary:
        temporary.write_bytes(data)
