"""A colour photo file on its own: JPEG, PNG or TIFF via Pillow, HEIF via pillow-heif.

Pillow returns the stored pixels and the EXIF Orientation beside them; libheif applies the
HEIF container's `irot`/`imir` itself, so a HEIF photo comes back as displayed (orientation
None: nothing left to apply). Sizes are checked from the header before pixels are decoded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pillow_heif
from PIL import ExifTags

from dc2kit.capture.decoders import COLOUR_FORMATS, decode_image, decoder_guard, rgb_array
from dc2kit.capture.files import read_file_bytes
from dc2kit.capture.limits import MAX_IMAGE_PIXELS, check_pixels

# Major brands of HEVC-coded HEIF stills (AVIF, also ISO-BMFF, is not decoded by pillow-heif).
HEIF_MAJOR_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1"})


def is_heif(data: bytes) -> bool:
    return data[4:8] == b"ftyp" and data[8:12] in HEIF_MAJOR_BRANDS


@dataclass(frozen=True)
class Photo:
    """A photo's stored pixels, the EXIF Orientation still to apply (None: none), and the EXIF
    payload whose SubjectArea refers to those pixels (None for HEIF, whose pixels libheif has
    already turned, and for a photo without EXIF)."""

    rgb: np.ndarray
    orientation: int | None
    exif: bytes | None


def open_photo(path: str | Path) -> Photo:
    data = read_file_bytes(path)
    if is_heif(data):
        return Photo(_heif_rgb(data, path), None, None)
    image = decode_image(data, path, "image", MAX_IMAGE_PIXELS, formats=COLOUR_FORMATS)
    with decoder_guard(path, "EXIF"):
        orientation = image.getexif().get(ExifTags.Base.Orientation)
    return Photo(
        rgb_array(image, path, "image"),
        None if orientation is None else int(orientation),
        image.info.get("exif") or None,
    )


def read_photo(path: str | Path) -> tuple[np.ndarray, int | None]:
    """(H×W×3 uint8 RGB as stored, EXIF Orientation still to apply or None)."""
    photo = open_photo(path)
    return photo.rgb, photo.orientation


def _heif_rgb(data: bytes, path: str | Path) -> np.ndarray:
    with decoder_guard(path, "HEIF image"):
        heif = pillow_heif.open_heif(data, convert_hdr_to_8bit=True)
        width, height = heif.size
        check_pixels(width, height, MAX_IMAGE_PIXELS, len(data), "HEIF image", path)
        return np.ascontiguousarray(np.asarray(heif.to_pillow().convert("RGB"), dtype=np.uint8))
