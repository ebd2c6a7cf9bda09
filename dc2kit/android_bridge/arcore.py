"""ARCore depth: `acquireDepthImage16Bits` / `acquireRawDepthImage16Bits` plus confidence.

Depth is uint16 millimetres using all 16 bits (0 = no estimate); the raw-depth confidence image
is uint8 where 0 is none and 255 full. Apps dump them either as raw plane buffers (with a row
stride in bytes) or as 16-bit / 8-bit PNGs, and both are read here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dc2kit.android_bridge._common import check_dimensions, metric_depth_record, unpack_rows
from dc2kit.capture.decoders import PNG_ONLY, decode_image, grey_codes
from dc2kit.capture.errors import CaptureError
from dc2kit.capture.files import read_file_bytes
from dc2kit.capture.limits import MAX_DEPTH_PIXELS
from dc2kit.capture.record import CaptureRecord


def decode_arcore_depth(
    buffer: bytes,
    width: int,
    height: int,
    row_stride: int | None = None,
    *,
    path: str | Path | None = None,
) -> np.ndarray:
    """Depth in metres (NaN where 0) from a raw little-endian uint16 millimetre buffer."""
    width, height = check_dimensions(width, height, path, even=False)
    millimetres = unpack_rows(buffer, width, height, 2, row_stride, path).view("<u2")
    return _metres(millimetres)


def decode_arcore_confidence(
    buffer: bytes,
    width: int,
    height: int,
    row_stride: int | None = None,
    *,
    path: str | Path | None = None,
) -> np.ndarray:
    """Confidence in [0, 1] from a raw uint8 buffer (0..255)."""
    width, height = check_dimensions(width, height, path, even=False)
    return (unpack_rows(buffer, width, height, 1, row_stride, path) / 255.0).astype(np.float32)


def read_arcore_depth(
    depth_path: str | Path,
    image: str | Path | np.ndarray | None,
    *,
    confidence_path: str | Path | None = None,
    width: int | None = None,
    height: int | None = None,
    row_stride: int | None = None,
    confidence_row_stride: int | None = None,
    orientation: int | None = None,
    orientation_from: str = "the caller",
) -> CaptureRecord:
    """ARCore depth (and confidence) beside the camera image (a path, an RGB uint8 array, or
    None for the depth alone).

    Files ending in `.png` are read as 16-bit (depth) or 8-bit (confidence) PNGs; anything
    else is a raw buffer and needs `width` and `height`. The record is as displayed: the
    image's EXIF Orientation, or `orientation` (an EXIF code, e.g. from
    `capture.orientation.orientation_for_rotation`), turns image, depth and confidence alike;
    the notes name `orientation_from` as its source.
    """
    depth = _read_depth(depth_path, width, height, row_stride)
    confidence = None
    if confidence_path is not None:
        confidence = _read_confidence(confidence_path, depth.shape, confidence_row_stride)
    return metric_depth_record(
        image, depth, confidence, "arcore_depth16", depth_path, orientation, orientation_from
    )


def _metres(millimetres: np.ndarray) -> np.ndarray:
    return np.where(millimetres > 0, millimetres / 1000.0, np.nan).astype(np.float32)


def is_png(path: str | Path) -> bool:
    """Whether a depth or confidence dump is a PNG (by its name, as apps save them)."""
    return Path(path).suffix.lower() == ".png"


def _png_codes(path: str | Path, bits: int, what: str) -> np.ndarray:
    image = decode_image(Path(path), path, what, MAX_DEPTH_PIXELS, formats=PNG_ONLY)
    codes, top = grey_codes(image, path, what)
    if top != (1 << bits) - 1:
        raise CaptureError(path, f"{what} PNG must be {bits}-bit, found {top.bit_length()}-bit")
    return codes


def _read_depth(
    path: str | Path, width: int | None, height: int | None, row_stride: int | None
) -> np.ndarray:
    if is_png(path):
        return _metres(_png_codes(path, 16, "ARCore depth"))
    if width is None or height is None:
        raise CaptureError(path, "a raw ARCore depth buffer needs width and height")
    return decode_arcore_depth(read_file_bytes(path), width, height, row_stride, path=path)


def _read_confidence(
    path: str | Path, shape: tuple[int, ...], row_stride: int | None
) -> np.ndarray:
    if is_png(path):
        confidence = (_png_codes(path, 8, "ARCore confidence") / 255.0).astype(np.float32)
    else:
        height, width = shape
        buffer = read_file_bytes(path)
        confidence = decode_arcore_confidence(buffer, width, height, row_stride, path=path)
    if confidence.shape != shape:
        raise CaptureError(path, f"confidence {confidence.shape} differs from depth {shape}")
    return confidence
