"""Generic captures: any colour image plus a depth or disparity map file saved beside it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dc2kit.capture.decoders import decode_image, grey_codes
from dc2kit.capture.errors import CaptureError, UnsupportedCaptureError
from dc2kit.capture.limits import MAX_DEPTH_PIXELS
from dc2kit.capture.npy import read_npy_depth
from dc2kit.capture.orientation import SWAPS_AXES, UPRIGHT, is_valid, to_displayed
from dc2kit.capture.photo import read_photo
from dc2kit.capture.record import Accuracy, CaptureRecord, DepthKind, DepthUnits

ASPECT_TOLERANCE = 0.02  # same tolerance as CaptureRecord.disparity_at_image_size
PILLOW_DEPTH_FORMATS = {".png": ("PNG",), ".tif": ("TIFF",), ".tiff": ("TIFF",)}


def load_rgb(image: str | Path | np.ndarray) -> np.ndarray:
    """A colour image given as a file path or an RGB array, as H×W×3 uint8 (stored pixels)."""
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise CaptureError(
                None, f"image array must be HxWx3 uint8, got {image.shape} {image.dtype}"
            )
        return image
    return read_photo(image)[0]


def load_displayed_rgb(path: str | Path) -> np.ndarray:
    """A photo file as a viewer shows it: its EXIF Orientation applied (1–8; others ignored)."""
    rgb, orientation = read_photo(path)
    return to_displayed(rgb, orientation) if is_valid(orientation) else rgb


def check_aspect(image: np.ndarray, depth: np.ndarray, path: str | Path | None) -> None:
    """Depth must cover the same field of view as the image: equal aspect ratios."""
    image_ratio = image.shape[1] / image.shape[0]
    depth_ratio = depth.shape[1] / depth.shape[0]
    if abs(image_ratio - depth_ratio) > ASPECT_TOLERANCE * image_ratio:
        raise CaptureError(
            path,
            f"depth {depth.shape[1]}x{depth.shape[0]} and image {image.shape[1]}x{image.shape[0]}"
            " have different aspect ratios",
        )


def read_depth_file(path: str | Path) -> np.ndarray:
    """Raw values of a depth/disparity file as float32 (PNG/TIFF via Pillow, or NPY)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".npy":
        return read_npy_depth(path)
    if suffix in PILLOW_DEPTH_FORMATS:
        formats = PILLOW_DEPTH_FORMATS[suffix]
        image = decode_image(Path(path), path, "depth map", MAX_DEPTH_PIXELS, formats=formats)
        if image.mode == "F":
            return np.asarray(image, dtype=np.float32).copy()
        codes, _ = grey_codes(image, path, "depth map")
        return codes.astype(np.float32)
    if suffix == ".exr":
        raise UnsupportedCaptureError(
            path, "this OpenCV build has no OpenEXR codec; save the map as .npy or 16-bit PNG"
        )
    raise UnsupportedCaptureError(path, f"unsupported depth file type '{suffix}'")


@dataclass(frozen=True)
class PairCalibration:
    """What a bare depth file cannot say: how to scale it, its hole value, the lens.

    `scale` multiplies stored values (e.g. 0.001 for a 16-bit PNG in millimetres); stored values
    equal to `missing_value` become NaN. With `focal_length_px` (at the image's size) and
    `pixel_pitch_mm`, the focal length in mm follows, so a 35 mm-equivalent f-number can be used.
    """

    scale: float = 1.0
    missing_value: float | None = None
    focal_length_px: float | None = None
    pixel_pitch_mm: float | None = None

    def check(self, path: str | Path) -> None:
        if not (math.isfinite(self.scale) and self.scale > 0):
            raise CaptureError(path, f"depth scale must be a positive number, got {self.scale}")
        for name in ("focal_length_px", "pixel_pitch_mm"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise CaptureError(path, f"{name} must be a positive number, got {value}")

    @property
    def focal_length_mm(self) -> float | None:
        if self.focal_length_px is None or self.pixel_pitch_mm is None:
            return None
        return self.focal_length_px * self.pixel_pitch_mm


def read_pair(
    image_path: str | Path,
    depth_path: str | Path,
    *,
    kind: DepthKind | str,
    units: DepthUnits | str,
    accuracy: Accuracy | str = Accuracy.RELATIVE,
    calibration: PairCalibration | None = None,
) -> CaptureRecord:
    """Any image (JPEG, PNG, TIFF, HEIF) plus a depth/disparity map file, as the caller states.

    The result is in the photo's displayed orientation (see `pair_orientation`); notes say what
    was assumed, and warn when the values are implausible for the stated units.
    """
    try:
        kind, units, accuracy = DepthKind(kind), DepthUnits(units), Accuracy(accuracy)
    except ValueError as error:
        raise ValueError(f"{depth_path}: {error}") from error
    calibration = calibration or PairCalibration()
    calibration.check(depth_path)
    image, orientation = read_photo(image_path)
    raw = read_depth_file(depth_path)
    with np.errstate(invalid="ignore", over="ignore"):  # NaN/inf in a float map stay as stored
        depth = (raw * np.float32(calibration.scale)).astype(np.float32)
    if calibration.missing_value is not None:
        depth[raw == calibration.missing_value] = np.nan
    notes: list[str] = []
    photo_turn, depth_turn = pair_orientation(image.shape, depth.shape, orientation, notes)
    image, depth = to_displayed(image, photo_turn), to_displayed(depth, depth_turn)
    check_aspect(image, depth, depth_path)
    notes.extend(unit_warnings(depth, kind, units))
    extras = {}
    if calibration.focal_length_px is not None:
        extras["focal_length_px"] = calibration.focal_length_px
    return CaptureRecord(
        image=image,
        depth=depth,
        kind=kind,
        units=units,
        accuracy=accuracy,
        source_format="image+depth pair",
        path=Path(depth_path),
        focal_length_mm=calibration.focal_length_mm,
        pixel_pitch_mm=calibration.pixel_pitch_mm,
        extras=extras,
        orientation=photo_turn,
        notes=notes,
    )


def pair_orientation(
    image_shape: tuple[int, ...],
    depth_shape: tuple[int, ...],
    orientation: int | None,
    notes: list[str],
    named: str = "",
) -> tuple[int, int]:
    """(turn for the photo, turn for the depth map): the photo's EXIF orientation for both, or
    for the photo only when the map was made from the displayed photo. `named` is where the
    orientation came from, for the notes (default: "EXIF Orientation N").

    A separate depth map (a pair's file, a DEPTH16 or ARCore buffer) may have been made from the
    stored pixels or from the displayed photo. When the orientation swaps the axes, the map's
    aspect ratio tells which; otherwise it is taken to share the stored pixels, as every phone
    format's depth does. The notes say which; an orientation outside 1–8 turns nothing.
    """
    if orientation is None or orientation == UPRIGHT:
        return UPRIGHT, UPRIGHT
    named = named or f"EXIF Orientation {orientation}"
    if not is_valid(orientation):
        notes.append(f"{named} is not 1–8: pixels used as stored")
        return UPRIGHT, UPRIGHT
    height, width = image_shape[:2]
    if (
        orientation in SWAPS_AXES
        and _same_aspect(depth_shape, (width, height))
        and not _same_aspect(depth_shape, (height, width))
    ):
        notes.append(
            f"depth map has the displayed photo's aspect: taken as already in displayed "
            f"orientation ({named} applied to the photo only)"
        )
        return orientation, UPRIGHT
    notes.append(
        f"{named} applied to the photo and to the depth map, "
        "taken to share the photo's stored pixels"
    )
    return orientation, orientation


def _same_aspect(first: tuple[int, ...], second: tuple[int, ...]) -> bool:
    """Whether two (height, width, ...) shapes have the same aspect ratio."""
    ratio = second[1] / second[0]
    return abs(first[1] / first[0] - ratio) <= ASPECT_TOLERANCE * ratio


# Median values beyond which a map is implausible for its stated units (phones see 0.1–100 m).
PLAUSIBLE_MEDIAN = {
    DepthUnits.METERS: (100.0, "metres", "millimetres? give --depth-scale 0.001"),
    DepthUnits.INVERSE_METERS: (100.0, "1/m", "a subject nearer than 1 cm"),
    DepthUnits.DIOPTERS: (100.0, "diopters", "a subject nearer than 1 cm"),
}


def unit_warnings(depth: np.ndarray, kind: DepthKind, units: DepthUnits) -> list[str]:
    """A warning when the map's values are implausible for the units it is said to be in."""
    valid = depth[np.isfinite(depth) & (depth > 0)]
    if units not in PLAUSIBLE_MEDIAN or valid.size == 0:
        return []
    limit, name, hint = PLAUSIBLE_MEDIAN[units]
    median = float(np.median(valid))
    if median <= limit:
        return []
    return [
        f"warning: {kind.value} values have median {median:.4g} {name}, implausible for a "
        f"phone capture ({hint})"
    ]
