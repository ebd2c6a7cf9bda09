"""Bounded reads shared by every capture reader (atomic writes live in `dc2kit.atomic`).

Only regular files are read, and never more than the size they had when opened: a link to
`/dev/zero` or a named pipe is refused instead of being read until memory runs out (or, for a
pipe, waited on forever).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from dc2kit.capture.errors import CaptureError
from dc2kit.capture.limits import MAX_FILE_BYTES
from dc2kit.errors import one_line

# Opening a FIFO without O_NONBLOCK waits for a writer; regular files ignore the flag.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)


def read_file_bytes(path: str | Path, limit: int = MAX_FILE_BYTES) -> bytes:
    """The whole file, refusing missing, unreadable, non-regular or over-`limit` files."""
    return _read(path, None, limit)


def read_file_head(path: str | Path, count: int) -> bytes:
    """At most the first `count` bytes of a regular file (fewer when the file is shorter)."""
    return _read(path, count, MAX_FILE_BYTES)


def _read(path: str | Path, count: int | None, limit: int) -> bytes:
    try:
        descriptor = os.open(path, _OPEN_FLAGS)
    except OSError as error:
        raise _unreadable(path, error) from error
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise CaptureError(path, "not a regular file (devices, pipes and folders are refused)")
        if count is None and info.st_size > limit:
            raise CaptureError(path, f"file of {info.st_size} bytes exceeds the {limit}-byte limit")
        return _read_at_most(descriptor, info.st_size if count is None else count)
    except OSError as error:
        raise _unreadable(path, error) from error
    finally:
        os.close(descriptor)


def _read_at_most(descriptor: int, size: int) -> bytes:
    """Up to `size` bytes: a file that grows while being read is cut at its opened size."""
    chunks, remaining = [], size
    while remaining > 0:
        chunk = os.read(descriptor, min(remaining, 1 << 24))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _unreadable(path: str | Path, error: OSError) -> CaptureError:
    return CaptureError(path, f"cannot read file ({error.strerror or one_line(error)})")
