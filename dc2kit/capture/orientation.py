"""EXIF orientation (1–8): turn stored pixels, their depth and intrinsics into displayed ones.

A JPEG's pixels are stored as the sensor read them; the EXIF `Orientation` tag says how a viewer
turns them for display. Every phone depth format stores its depth in the same grid as the
photo's stored pixels (Android's camera service gives the depth and confidence JPEGs of a
Dynamic Depth file the photo's EXIF orientation, or rotates all three physically; Apple's
AVDepthData carries no orientation of its own and follows the photo's), so one transform
applies to both. HEIF is different: libheif already applies the container's `irot`/`imir` to
each item it decodes, and the HEIF EXIF orientation is informational only; the HEIC reader
reports the turn libheif made and turns what refers to the coded pixels (EXIF SubjectArea,
Apple's intrinsics) with it.

Transforms follow the EXIF definition (Pillow's `ImageOps.exif_transpose` is the reference
in the tests): 2 mirror, 3 rotate 180°, 4 flip, 5 transpose, 6 rotate 90° clockwise,
7 transverse, 8 rotate 90° counter-clockwise.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image

from dc2kit.capture.decoders import JPEG_ONLY, decoder_guard
from dc2kit.capture.record import CaptureRecord, Intrinsics

UPRIGHT = 1
SWAPS_AXES = frozenset({5, 6, 7, 8})  # displayed width is the stored height
FOCUS_FIELDS = ("camera_focus", "render_focus")  # focus facts whose `point` is an image point


def _transpose(array: np.ndarray) -> np.ndarray:
    return array.swapaxes(0, 1)


# Stored array (rows, columns, ...) → displayed array, per EXIF orientation.
DISPLAYED: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: _transpose,
    6: lambda a: _transpose(a)[:, ::-1],
    7: lambda a: _transpose(a)[::-1, ::-1],
    8: lambda a: _transpose(a)[::-1],
}


# Clockwise degrees a stored image turns to be upright (Android's SENSOR_ORIENTATION, the
# rotation an app records beside a camera buffer) → the EXIF orientation that does the same.
CLOCKWISE_ROTATIONS = {0: 1, 90: 6, 180: 3, 270: 8}


# The orientation that undoes each one (6 and 8 turn opposite ways; the others undo themselves).
INVERSE = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 8, 7: 7, 8: 6}


def is_valid(orientation: object) -> bool:
    return isinstance(orientation, int) and orientation in DISPLAYED


def orientation_for_rotation(degrees: int) -> int:
    """The EXIF orientation of a stored image that turns `degrees` clockwise to display."""
    if (
        isinstance(degrees, bool)
        or not isinstance(degrees, int)
        or degrees % 360 not in (CLOCKWISE_ROTATIONS)
    ):
        raise ValueError(f"rotation {degrees!r} is not a multiple of 90 degrees")
    return CLOCKWISE_ROTATIONS[degrees % 360]


def to_displayed(array: np.ndarray, orientation: int) -> np.ndarray:
    """An H×W or H×W×C array turned from stored to displayed orientation (a contiguous copy)."""
    return np.ascontiguousarray(DISPLAYED[orientation](array))


def to_stored(array: np.ndarray, orientation: int) -> np.ndarray:
    """A displayed array turned back to the stored orientation (the inverse of `to_displayed`)."""
    return to_displayed(array, INVERSE[orientation])


def orientation_of(turned: Callable[[np.ndarray], np.ndarray]) -> int:
    """The EXIF orientation that turns arrays as `turned` does (any sequence of quarter turns and
    mirrors is one of the eight)."""
    probe = np.arange(6).reshape(2, 3)
    result = turned(probe)
    return next(code for code, turn in DISPLAYED.items() if np.array_equal(turn(probe), result))


def displayed_point(
    x: float, y: float, width: int, height: int, orientation: int
) -> tuple[float, float]:
    """A continuous point (pixel edges at integers) of a stored width×height image, displayed."""
    if orientation in SWAPS_AXES:
        x, y, width, height = y, x, height, width
    flip_x = orientation in (2, 3, 6, 7)
    flip_y = orientation in (3, 4, 7, 8)
    return (width - x if flip_x else x), (height - y if flip_y else y)


def displayed_intrinsics(intrinsics: Intrinsics, orientation: int) -> Intrinsics:
    """Pinhole intrinsics of the displayed image (focal lengths swap with the axes)."""
    k = intrinsics
    cx, cy = displayed_point(k.cx, k.cy, k.reference_width, k.reference_height, orientation)
    if orientation in SWAPS_AXES:
        return Intrinsics(k.fy, k.fx, cx, cy, k.reference_height, k.reference_width)
    return Intrinsics(k.fx, k.fy, cx, cy, k.reference_width, k.reference_height)


def jpeg_orientation(data: bytes, path: str | Path | None) -> int | None:
    """The primary JPEG's EXIF Orientation as stored (None when absent); header read only."""
    with decoder_guard(path, "EXIF"):
        image = Image.open(io.BytesIO(data), formats=list(JPEG_ONLY))
        value = image.getexif().get(ExifTags.Base.Orientation)
    return None if value is None else int(value)


def oriented(record: CaptureRecord, stored_orientation: int | None) -> CaptureRecord:
    """The record in displayed orientation: photo, depth, confidence, original, intrinsics.

    An Orientation outside 1–8 is not guessed at: the pixels stay as stored, and the record's
    notes say so.
    """
    if stored_orientation is None or stored_orientation == UPRIGHT:
        return record
    if not is_valid(stored_orientation):
        note = f"EXIF Orientation {stored_orientation} is not 1–8: pixels used as stored"
        return replace(record, notes=[*record.notes, note])
    turn = stored_orientation
    extras = dict(record.extras)
    if isinstance(extras.get("original_image"), np.ndarray):
        extras["original_image"] = to_displayed(extras["original_image"], turn)
    width, height = record.image_size
    focus = {
        name: replace(facts, point=displayed_point(*facts.point, width, height, turn))
        for name in FOCUS_FIELDS
        if (facts := getattr(record, name, None)) is not None and facts.point is not None
    }
    return replace(
        record,
        **focus,
        image=to_displayed(record.image, turn),
        depth=to_displayed(record.depth, turn),
        confidence=None if record.confidence is None else to_displayed(record.confidence, turn),
        intrinsics=None
        if record.intrinsics is None
        else displayed_intrinsics(record.intrinsics, turn),
        orientation=turn,
        extras=extras,
    )
