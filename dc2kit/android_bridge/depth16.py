"""Camera2 `DEPTH16` buffers (ImageFormat 0x44363159), e.g. from a time-of-flight sensor.

Each sample is a little-endian uint16: the low 13 bits are the range in millimetres (0 = no
estimate) and the top 3 bits a confidence code c, where c = 0 means full confidence and
c ≥ 1 means (c − 1)/7. A raw buffer has no colour image, so readers take one alongside.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dc2kit.android_bridge._common import (
    check_dimensions,
    metric_depth_record,
    pack_rows,
    unpack_rows,
)
from dc2kit.atomic import write_atomically
from dc2kit.capture.files import read_file_bytes
from dc2kit.capture.record import CaptureRecord

RANGE_MASK = 0x1FFF
CONFIDENCE_SHIFT = 13
MAX_RANGE_MM = RANGE_MASK


def decode_depth16(
    buffer: bytes,
    width: int,
    height: int,
    row_stride: int | None = None,
    *,
    path: str | Path | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(depth in metres with NaN for no estimate, confidence in [0, 1]) from a DEPTH16 buffer.

    `row_stride` is in bytes (Android's `Plane.getRowStride()`); None means tightly packed.
    Confidence is 0 where there is no estimate.
    """
    width, height = check_dimensions(width, height, path, even=True)
    rows = unpack_rows(buffer, width, height, 2, row_stride, path)
    samples = rows.view("<u2").astype(np.uint16)
    range_mm = samples & RANGE_MASK
    code = samples >> CONFIDENCE_SHIFT
    confidence = np.where(code == 0, 1.0, (code.astype(np.float32) - 1) / 7).astype(np.float32)
    has_range = range_mm > 0
    depth = np.where(has_range, range_mm.astype(np.float32) / 1000, np.nan).astype(np.float32)
    return depth, np.where(has_range, confidence, 0).astype(np.float32)


def read_depth16(
    buffer_path: str | Path,
    image: str | Path | np.ndarray | None,
    *,
    width: int,
    height: int,
    row_stride: int | None = None,
    orientation: int | None = None,
    orientation_from: str = "the caller",
) -> CaptureRecord:
    """A DEPTH16 dump plus the colour image it belongs to (a path, an RGB uint8 array, or None
    for the dump alone).

    The record is as displayed: the image's EXIF Orientation, or `orientation` (an EXIF code;
    `capture.orientation.orientation_for_rotation` turns Android's clockwise degrees into one),
    turns the image, depth and confidence alike; the notes name `orientation_from` as its source.
    """
    depth, confidence = decode_depth16(
        read_file_bytes(buffer_path), width, height, row_stride, path=buffer_path
    )
    return metric_depth_record(
        image, depth, confidence, "depth16", buffer_path, orientation, orientation_from
    )


def encode_depth16(
    depth: np.ndarray,
    confidence: np.ndarray | None = None,
    *,
    row_stride: int | None = None,
) -> bytes:
    """DEPTH16 bytes for depth in metres (NaN = no estimate) and optional confidence in [0, 1].

    Depth is rounded to whole millimetres (1 mm … 8.191 m); confidence to the nearest of
    0, 1/7, …, 6/7, 1. Raises ValueError for arrays that DEPTH16 cannot hold.
    """
    if not (isinstance(depth, np.ndarray) and depth.ndim == 2):
        raise ValueError("depth must be a 2-D array")
    height, width = depth.shape
    if width == 0 or height == 0 or width % 2 or height % 2:
        raise ValueError(f"DEPTH16 size {width}x{height} must be non-empty with even sides")
    codes = _confidence_codes(confidence, depth.shape)
    samples = _range_codes(depth) | (codes << CONFIDENCE_SHIFT)
    rows = samples.astype("<u2").view(np.uint8).reshape(height, 2 * width)
    return pack_rows(rows, row_stride)


def _range_codes(depth: np.ndarray) -> np.ndarray:
    """Whole millimetres, 0 (no estimate) where depth is NaN."""
    known = ~np.isnan(depth)
    millimetres = np.rint(np.where(known, depth, 0) * 1000)
    representable = (millimetres >= 1) & (millimetres <= MAX_RANGE_MM)
    if np.any(known & ~representable):
        raise ValueError(f"depth must be NaN or within 0.001–{MAX_RANGE_MM / 1000} m")
    return millimetres.astype(np.uint16)


def _confidence_codes(confidence: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray:
    """3-bit codes: 0 for full confidence, else 1 + round(7·c) (so c = 0 → 1)."""
    if confidence is None:
        return np.zeros(shape, dtype=np.uint16)
    if not isinstance(confidence, np.ndarray) or confidence.shape != shape:
        raise ValueError("confidence must be an array the size of depth")
    if not (np.isfinite(confidence).all() and confidence.min() >= 0 and confidence.max() <= 1):
        raise ValueError("confidence must be finite and within [0, 1]")
    sevenths = np.rint(confidence * 7).astype(np.uint16)
    return np.where(sevenths == 7, 0, sevenths + 1).astype(np.uint16)


def write_depth16(
    path: str | Path,
    depth: np.ndarray,
    confidence: np.ndarray | None = None,
    *,
    row_stride: int | None = None,
) -> None:
    """Write a DEPTH16 dump; ValueError (naming `path`) for arrays DEPTH16 cannot hold."""
    try:
        data = encode_depth16(depth, confidence, row_stride=row_stride)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from error
    write_atomically(path, data)
