"""ISO base media file format (ISO-BMFF) boxes: bounded iteration, big-endian reads, brands.

The ground layer of the HEIF reader (`heif_boxes`): a box is a size and a four-character type
followed by its payload; every size is checked against the bytes of its container, and every read
against the box it is in, so a damaged file gives a `CaptureError`, never an exception of
`struct` or an out-of-range slice.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from dc2kit.capture.errors import CaptureError

_INT_FORMATS = {1: ">B", 2: ">H", 4: ">I", 8: ">Q"}


@dataclass(frozen=True)
class Box:
    """One box: its four-character type and the byte range of its payload (header excluded)."""

    kind: str
    start: int
    end: int


class BoxCursor:
    """Big-endian reads inside one box; running past its end is a CaptureError, never a crash."""

    def __init__(self, data: bytes, box: Box, path: Path | None) -> None:
        self.data, self.box, self.path = data, box, path
        self.pos = box.start

    def uint(self, size: int) -> int:
        if size == 0:
            return 0
        if size not in _INT_FORMATS:
            raise CaptureError(self.path, f"'{self.box.kind}' box uses a {size}-byte integer")
        self._need(size)
        (value,) = struct.unpack_from(_INT_FORMATS[size], self.data, self.pos)
        self.pos += size
        return value

    def fourcc(self) -> str:
        self._need(4)
        self.pos += 4
        return self.data[self.pos - 4 : self.pos].decode("latin-1")

    def cstring(self) -> str:
        """A NUL-terminated UTF-8 string; a missing terminator ends the string at the box end."""
        stop = self.data.find(b"\x00", self.pos, self.box.end)
        stop = self.box.end if stop < 0 else stop
        text = self.data[self.pos : stop].decode("utf-8", errors="replace")
        self.pos = min(stop + 1, self.box.end)
        return text

    def full_box_header(self) -> tuple[int, int]:
        """(version, flags) of a FullBox."""
        word = self.uint(4)
        return word >> 24, word & 0xFFFFFF

    def remaining(self) -> int:
        return self.box.end - self.pos

    def _need(self, size: int) -> None:
        if self.pos + size > self.box.end:
            raise CaptureError(self.path, f"truncated '{self.box.kind}' box")


def iter_boxes(data: bytes, start: int, end: int, path: Path | None) -> Iterator[Box]:
    """The boxes laid end to end in data[start:end]; a size running past `end` is an error."""
    pos = start
    while pos < end:
        if end - pos < 8:
            raise CaptureError(path, f"truncated box header at byte {pos}")
        size, raw_kind = struct.unpack_from(">I4s", data, pos)
        kind = raw_kind.decode("latin-1")
        header = 8
        if size == 1:
            if end - pos < 16:
                raise CaptureError(path, f"truncated '{kind}' box header at byte {pos}")
            (size,) = struct.unpack_from(">Q", data, pos + 8)
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise CaptureError(
                path,
                f"'{kind}' box at byte {pos} claims {size} bytes, past the end of its container",
            )
        yield Box(kind, pos + header, pos + size)
        pos += size


def read_brands(data: bytes, path: Path | None) -> set[str]:
    """Major and compatible brands of the leading `ftyp` box."""
    first = next(iter_boxes(data, 0, min(len(data), 8 + 4096), path), None)
    if first is None or first.kind != "ftyp":
        raise CaptureError(path, "not an ISO-BMFF file (no leading 'ftyp' box)")
    cursor = BoxCursor(data, first, path)
    brands = {cursor.fourcc()}
    cursor.uint(4)  # minor version
    while cursor.remaining() >= 4:
        brands.add(cursor.fourcc())
    return brands
