"""The capture record: what every reader (iPhone, Android, generic pair) produces.

Data flows one way: capture file → `CaptureRecord` → model inputs. Depth stays at its native
size and in its native kind and units; helpers convert on demand so nothing is guessed early.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from dc2kit.capture.errors import CaptureError


class DepthKind(StrEnum):
    DISPARITY = "disparity"  # larger = nearer
    DEPTH = "depth"  # larger = farther


class DepthUnits(StrEnum):
    INVERSE_METERS = "1/m"
    METERS = "m"
    DIOPTERS = "diopters"  # numerically 1/m
    RELATIVE = "relative"  # ordering only, arbitrary scale


class Accuracy(StrEnum):
    ABSOLUTE = "absolute"
    RELATIVE = "relative"


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics in pixels of an image of size (reference_width, reference_height)."""

    fx: float
    fy: float
    cx: float
    cy: float
    reference_width: int
    reference_height: int

    def scaled_to(self, width: int, height: int) -> Intrinsics:
        sx, sy = width / self.reference_width, height / self.reference_height
        return Intrinsics(self.fx * sx, self.fy * sy, self.cx * sx, self.cy * sy, width, height)


@dataclass(frozen=True)
class FocusFacts:
    """What a capture says about the focus of the blur already in an image (DC²'s `defocus_w`).

    `point` is a focus point (x, y) in the record's image as displayed, the pixels `--focus`
    takes: a reader turns a point the file gives in its stored pixels (EXIF SubjectArea, GDepth
    `FocalPointX/Y`) with the photo, by the JPEG's EXIF Orientation or the HEIF's `irot`/`imir`
    (`orientation.oriented`) and `clap` crop; `distance` a focus distance in the depth map's
    units (metres for EXIF SubjectDistance); `blur_at_infinity` the blur radius of an infinitely
    far point as a fraction of the image width (only for a blur render, whose strength is not a
    lens'; a camera's comes from its f-number, focal length and pixel pitch). `source` names the
    fields these came from.
    """

    point: tuple[float, float] | None = None
    distance: float | None = None
    blur_at_infinity: float | None = None
    source: str = ""


@dataclass
class CaptureRecord:
    """One photo with its depth, as read from a phone capture.

    `image` is H×W×3 uint8 RGB. `depth` is float32 at its native size, NaN where the source has
    no estimate. `confidence`, when present, is float32 in [0, 1] at the depth's size.

    A distance ≤ 0 is no estimate (no camera sees a point at or behind its own centre; DEPTH16
    and ARCore write 0 for "none"): whatever the reader, such values become NaN holes here, and
    the notes count them.
    """

    image: np.ndarray
    depth: np.ndarray
    kind: DepthKind
    units: DepthUnits
    accuracy: Accuracy
    source_format: str
    path: Path | None = None
    confidence: np.ndarray | None = None
    intrinsics: Intrinsics | None = None
    focal_length_mm: float | None = None
    f_number: float | None = None
    pixel_pitch_mm: float | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    orientation: int = 1  # the EXIF orientation applied: pixels and intrinsics are as displayed
    notes: list[str] = field(default_factory=list)  # what the reader assumed or fell back on
    camera_focus: FocusFacts | None = None  # where the camera focused the photo it took
    render_focus: FocusFacts | None = None  # the blur render baked into the primary image, if any

    def __post_init__(self) -> None:
        if not self._is_distance:
            return
        with np.errstate(invalid="ignore"):
            invalid = self.depth <= 0
        count = int(np.count_nonzero(invalid))
        if count:
            self.depth = np.where(invalid, np.float32(np.nan), self.depth).astype(np.float32)
            self.notes = [
                *self.notes,
                f"{count} of {self.depth.size} depth values are ≤ 0 (no distance): taken as holes",
            ]

    @property
    def _is_distance(self) -> bool:
        """Whether `depth` holds distances (diopters and disparity are inverse: 0 is infinity)."""
        return self.kind is DepthKind.DEPTH and self.units is not DepthUnits.DIOPTERS

    @property
    def image_size(self) -> tuple[int, int]:
        """(width, height) of the colour image."""
        return self.image.shape[1], self.image.shape[0]

    @property
    def depth_size(self) -> tuple[int, int]:
        """(width, height) of the depth map."""
        return self.depth.shape[1], self.depth.shape[0]

    def disparity(self) -> np.ndarray:
        """Disparity (larger = nearer) at the depth's native size; NaN where unknown.

        Depth in metres becomes 1/m; diopters already are 1/m; relative depth becomes relative
        disparity. Non-positive depth has no disparity and becomes NaN.
        """
        values = self.depth.astype(np.float32, copy=False)
        if not self._is_distance:
            return values.copy()
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(values > 0, 1.0 / values, np.nan).astype(np.float32)

    def disparity_at_image_size(self) -> np.ndarray:
        """Disparity resized to the colour image (bilinear; holes stay holes, never smeared)."""
        width, height = self.image_size
        disparity = self.disparity()
        if disparity.shape == (height, width):
            return disparity
        ratio_image, ratio_depth = width / height, disparity.shape[1] / disparity.shape[0]
        if abs(ratio_image - ratio_depth) > 0.02 * ratio_image:
            raise CaptureError(
                self.path,
                f"depth {disparity.shape[1]}x{disparity.shape[0]} and image {width}x{height} "
                "have different aspect ratios",
            )
        holes = ~np.isfinite(disparity)
        filled = np.where(holes, 0.0, disparity).astype(np.float32)
        resized = cv2.resize(filled, (width, height), interpolation=cv2.INTER_LINEAR)
        if holes.any():
            hole_mask = cv2.resize(
                holes.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR
            )
            resized[hole_mask > 0] = np.nan
        return resized

    def missing(self) -> list[str]:
        """Names of the optional facts this capture does not carry (for `capture info`)."""
        optional = {
            "confidence": self.confidence,
            "intrinsics": self.intrinsics,
            "focal_length_mm": self.focal_length_mm,
            "f_number": self.f_number,
            "pixel_pitch_mm": self.pixel_pitch_mm,
        }
        return [name for name, value in optional.items() if value is None]
