"""HEIF `clap` (clean aperture): the crop libheif applies to an item's coded pixels.

ISO/IEC 14496-12 defines the clean aperture by fractions: its width and height, and the offset of
its centre from the coded image's centre ((W − 1)/2, (H − 1)/2). libheif (1.23.6, as bundled
with pillow-heif 1.8.1, checked on the real iPhone sample with `clap` boxes added) keeps columns
floor(left) … round(left + width − 1) and rows round(top) … round(top + height − 1), halves
rounded up, clamped to the image. Like `irot`, the crop changes what coded-pixel references mean:
the EXIF SubjectArea and Apple's intrinsics are shifted by the crop's corner here.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from dc2kit.capture.errors import CaptureError, UnsupportedCaptureError
from dc2kit.capture.record import Intrinsics

CLAP_BYTES = 32  # eight 32-bit fields: width, height, horizontal and vertical offset (N, D)


@dataclass(frozen=True)
class CleanAperture:
    """The pixels an item keeps: `width` × `height` from column `left`, row `top` of its
    coded_width × coded_height coded pixels."""

    left: int
    top: int
    width: int
    height: int
    coded_width: int
    coded_height: int

    @property
    def corner(self) -> tuple[int, int]:
        return self.left, self.top

    def edges(self) -> tuple[float, float, float, float]:
        """(left, top, right, bottom) as fractions of the coded size: the field of view kept."""
        return (
            self.left / self.coded_width,
            self.top / self.coded_height,
            (self.left + self.width) / self.coded_width,
            (self.top + self.height) / self.coded_height,
        )

    def intrinsics(self, k: Intrinsics) -> Intrinsics:
        """Intrinsics of the coded image (at any reference size) for the cropped one."""
        coded = k.scaled_to(self.coded_width, self.coded_height)
        return Intrinsics(
            coded.fx, coded.fy, coded.cx - self.left, coded.cy - self.top, self.width, self.height
        )


def _fraction(numerator: int, denominator: int, name: str, path: Path | None) -> Fraction:
    if denominator == 0:
        raise CaptureError(path, f"HEIF 'clap' {name} has a zero denominator")
    return Fraction(numerator, denominator)


def _round_half_up(value: Fraction) -> int:
    return math.floor(value + Fraction(1, 2))


def clean_aperture(
    payload: bytes, coded_width: int, coded_height: int, path: Path | None
) -> CleanAperture:
    """The crop a `clap` payload makes of a coded_width × coded_height item, as libheif makes it;
    a crop that keeps no pixel is a `CaptureError`."""
    if len(payload) < CLAP_BYTES:
        raise CaptureError(path, f"HEIF 'clap' property has {len(payload)} bytes, needs 32")
    fields = struct.unpack(">IIIIiIiI", payload[:CLAP_BYTES])
    width = _fraction(fields[0], fields[1], "width", path)
    height = _fraction(fields[2], fields[3], "height", path)
    h_offset = _fraction(fields[4], fields[5], "horizontal offset", path)
    v_offset = _fraction(fields[6], fields[7], "vertical offset", path)
    left_edge = h_offset + Fraction(coded_width - 1, 2) - (width - 1) / 2
    top_edge = v_offset + Fraction(coded_height - 1, 2) - (height - 1) / 2
    left, top = math.floor(left_edge), _round_half_up(top_edge)
    right = min(_round_half_up(width - 1 + left), coded_width - 1)
    bottom = min(_round_half_up(height - 1 + top), coded_height - 1)
    left, top = max(left, 0), max(top, 0)
    if right < left or bottom < top:
        raise CaptureError(
            path,
            f"HEIF 'clap' {width}x{height} at offset ({h_offset}, {v_offset}) keeps no pixel "
            f"of the {coded_width}x{coded_height} image",
        )
    return CleanAperture(left, top, right - left + 1, bottom - top + 1, coded_width, coded_height)


def item_crop(
    transforms: tuple[tuple[str, bytes], ...], size: tuple[int, int], path: Path | None
) -> CleanAperture | None:
    """An item's clean aperture (None without `clap`). HEIF puts `clap` before `irot`/`imir`;
    a crop of turned pixels, or two crops, is refused rather than composed."""
    kinds = [kind for kind, _ in transforms]
    if "clap" not in kinds:
        return None
    if kinds.count("clap") > 1 or kinds[0] != "clap":
        raise UnsupportedCaptureError(
            path, f"HEIF transforms {' '.join(kinds)}: only one 'clap', before any turn, is read"
        )
    return clean_aperture(transforms[0][1], *size, path)
