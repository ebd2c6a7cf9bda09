"""Bounds every reader enforces before decoding, so a hostile file cannot exhaust memory or time.

All limits live here, in one place, so that the README's table and the commands' help text
print the same numbers the readers enforce (`CAPTURE_LIMITS`).
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from dc2kit.capture.errors import CaptureError

MAX_FILE_BYTES = 512 * 1024 * 1024
MAX_IMAGE_PIXELS = 100_000_000  # a 12 MP photo is 12e6; 108 MP sensors exist
MAX_DEPTH_PIXELS = 16_000_000
# Decoded pixels are also bounded by the capture file's size: real photos decode to ~5–30
# pixels per byte of file, while a 40 KB PNG can claim 10000×10000 pixels. Small images are
# always allowed, however well they compress.
MAX_PIXELS_PER_FILE_BYTE = 64
PIXELS_ALWAYS_ALLOWED = 1 << 22  # 2048×2048
MAX_XMP_BYTES = 16 * 1024 * 1024
# Parse time grows with elements and attributes, not bytes: each needs a '<' or a '='.
MAX_XMP_MARKUP = 50_000
MAX_HEIF_ITEMS = 65_536
MAX_HEIF_EXTENTS = 1 << 20
MAX_MPF_FRAMES = 64


class Limit(NamedTuple):
    """One documented bound: its constant's name, value, unit and what it bounds."""

    name: str
    value: int
    unit: str
    meaning: str

    def line(self) -> str:
        """One line for help texts, e.g. `MAX_MPF_FRAMES = 64 frames: frames of a … JPEG`."""
        return f"{self.name} = {self.value:,} {self.unit}: {self.meaning}"


CAPTURE_LIMITS = (
    Limit("MAX_FILE_BYTES", MAX_FILE_BYTES, "bytes", "size of any capture or depth file"),
    Limit("MAX_IMAGE_PIXELS", MAX_IMAGE_PIXELS, "pixels", "a decoded colour image"),
    Limit("MAX_DEPTH_PIXELS", MAX_DEPTH_PIXELS, "pixels", "a decoded depth or confidence map"),
    Limit(
        "MAX_PIXELS_PER_FILE_BYTE",
        MAX_PIXELS_PER_FILE_BYTE,
        "pixels per byte",
        "any decoded image larger than PIXELS_ALWAYS_ALLOWED, per byte of its capture file",
    ),
    Limit(
        "PIXELS_ALWAYS_ALLOWED",
        PIXELS_ALWAYS_ALLOWED,
        "pixels",
        "images this small are exempt from the per-byte bound",
    ),
    Limit("MAX_XMP_BYTES", MAX_XMP_BYTES, "bytes", "one XMP packet (standard or extended)"),
    Limit("MAX_XMP_MARKUP", MAX_XMP_MARKUP, "'<' and '='", "elements and attributes of a packet"),
    Limit(
        "MAX_HEIF_ITEMS",
        MAX_HEIF_ITEMS,
        "items",
        "items listed by a HEIF 'iinf', 'ipma' or 'iloc' box",
    ),
    Limit("MAX_HEIF_EXTENTS", MAX_HEIF_EXTENTS, "extents", "extents of all HEIF items together"),
    Limit("MAX_MPF_FRAMES", MAX_MPF_FRAMES, "frames", "frames of a multi-picture (MPF) JPEG"),
)


def pixel_limit(absolute: int, file_bytes: int) -> int:
    """The most pixels one image decoded from a capture file of `file_bytes` bytes may have."""
    relative = max(PIXELS_ALWAYS_ALLOWED, MAX_PIXELS_PER_FILE_BYTE * file_bytes)
    return min(absolute, relative)


def check_pixels(
    width: int, height: int, absolute: int, file_bytes: int, what: str, path: str | Path | None
) -> None:
    """Refuse, before any pixel is decoded, an image over its absolute or per-byte bound."""
    pixels = width * height
    if pixels > absolute:
        raise CaptureError(path, f"{what} of {width}x{height} exceeds {absolute} pixels")
    limit = pixel_limit(absolute, file_bytes)
    if pixels > limit:
        raise CaptureError(
            path,
            f"{what} of {width}x{height} exceeds {limit} pixels, the bound for a "
            f"{file_bytes}-byte file ({MAX_PIXELS_PER_FILE_BYTE} pixels per byte)",
        )
