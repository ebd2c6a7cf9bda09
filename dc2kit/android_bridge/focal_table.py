"""The Dynamic Depth focal table: the blur a portrait render put into the primary image.

`DepthMap:FocalTable` is base64 of little-endian float32 (distance, radius) pairs,
`FocalTableEntryCount` of them: distances in the depth map's units, radii read here as pixels of
the primary image. A thin lens blurs by r = K · |s(d) − s(d_f)|, with s the disparity of a
distance (1/d, or d itself for diopters); the table is summarised by its focus distance d_f (the
entry of least radius) and K (the median of r / |s(d) − s(d_f)| over the other entries), as
`FocusFacts` with the blur at infinity K · s(d_f) as a fraction of the image width.
"""

from __future__ import annotations

import base64
import binascii
import math
import struct
from pathlib import Path

import numpy as np

from dc2kit.capture.errors import CaptureError
from dc2kit.capture.record import FocusFacts

MAX_ENTRIES = 4096
SOURCE = "Dynamic Depth DepthMap:FocalTable"


def decode_focal_table(
    values: dict[str, str], path: str | Path
) -> list[tuple[float, float]] | None:
    """The (distance, radius) pairs of a DepthMap, or None when it has no focal table."""
    text = values.get("FocalTable")
    if not text:
        return None
    try:
        raw = base64.b64decode("".join(text.split()), validate=True)
        count = int(values.get("FocalTableEntryCount", len(raw) // 8))
    except (binascii.Error, ValueError) as error:
        raise CaptureError(path, f"DepthMap:FocalTable is not valid ({error})") from None
    if not 0 < count <= MAX_ENTRIES or len(raw) != 8 * count:
        raise CaptureError(
            path,
            f"DepthMap:FocalTable holds {len(raw)} bytes, not {count} (distance, radius) pairs",
        )
    pairs = [struct.unpack_from("<ff", raw, 8 * index) for index in range(count)]
    if not all(_usable(d, r) for d, r in pairs):
        raise CaptureError(path, "DepthMap:FocalTable needs positive distances and radii >= 0")
    return pairs


def _usable(distance: float, radius: float) -> bool:
    return math.isfinite(distance) and math.isfinite(radius) and distance > 0 and radius >= 0


def encode_focal_table(pairs: list[tuple[float, float]]) -> dict[str, str]:
    """The DepthMap fields for a focal table (for the writer); ValueError for unusable pairs."""
    if not all(_usable(d, r) for d, r in pairs) or not 0 < len(pairs) <= MAX_ENTRIES:
        raise ValueError(f"focal table needs 1 to {MAX_ENTRIES} pairs, distance > 0, radius >= 0")
    raw = b"".join(struct.pack("<ff", distance, radius) for distance, radius in pairs)
    return {"FocalTable": base64.b64encode(raw).decode(), "FocalTableEntryCount": str(len(pairs))}


def focal_table_focus(
    pairs: list[tuple[float, float]], diopters: bool, image_width: int, notes: list[str]
) -> FocusFacts | None:
    """The focus distance and blur at infinity the table implies (None, with a note, if none)."""
    distances = np.array([d for d, _ in pairs], np.float64)
    radii = np.array([r for _, r in pairs], np.float64)
    disparities = distances if diopters else 1.0 / distances
    focus = int(np.argmin(radii))
    spread = np.abs(disparities - disparities[focus])
    others = spread > 0
    if not others.any():
        notes.append(f"{SOURCE} has no entry off the focal plane: the primary's blur is unknown")
        return None
    strength = float(np.median(radii[others] / spread[others]))
    return FocusFacts(
        distance=float(distances[focus]),
        blur_at_infinity=strength * float(disparities[focus]) / image_width,
        source=f"{SOURCE} ({len(pairs)} entries, thin-lens fit)",
    )
