"""Generic captures: any colour image plus a depth or disparity map file saved beside it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dc2kit.capture.decoders import COLOUR_FORMATS, decode_image, grey_codes, rgb_array
from dc2kit.capture.errors import CaptureError, UnsupportedCaptureError
from dc2kit.capture.limits import MAX_DEPTH_PIXELS, MAX_IMAGE_PIXELS
from dc2kit.capture.npy import read_npy_depth
from dc2kit.capture.record import Accuracy, CaptureRecord, DepthKind, DepthUnits

ASPECT_TOLERANCE = 0.02  # same tolerance as CaptureRecord.disparity_at_image_size
PILLOW_DEPTH_FORMATS = {".png": ("PNG",), ".tif": ("TIFF",), ".tiff": ("TIFF",)}


def load_rgb(image: str | Path | np.ndarray) -> np.ndarray:
    """A colour image given as a file path or an RGB array, as H×W×3 uint8."""
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise CaptureError(
                None, f"image array must be HxWx3 uint8, got {image.shape} {image.dtype}"
            )
        return image
    decoded = decode_image(Path(image), image, "image", MAX_IMAGE_PIXELS, formats=COLOUR_FORMATS)
    return rgb_array(decoded, image, "image")


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


def read_pair(
    image_path: str | Path,
    depth_path: str | Path,
    *,
    kind: DepthKind | str,
    units: DepthUnits | str,
    accuracy: Accuracy | str = Accuracy.RELATIVE,
    scale: float = 1.0,
    missing_value: float | None = None,
) -> CaptureRecord:
    """Any image plus a depth/disparity map file, with the meaning the caller states.

    Stored values are multiplied by `scale` (e.g. 0.001 for a 16-bit PNG in millimetres);
    stored values equal to `missing_value` (e.g. 0) become NaN. Pixels are used as stored:
    no EXIF rotation is applied to either file.
    """
    try:
        kind, units, accuracy = DepthKind(kind), DepthUnits(units), Accuracy(accuracy)
    except ValueError as error:
        raise ValueError(f"{depth_path}: {error}") from error
    image = load_rgb(Path(image_path))
    raw = read_depth_file(depth_path)
    check_aspect(image, raw, depth_path)
    with np.errstate(invalid="ignore", over="ignore"):  # NaN/inf in a float map stay as stored
        depth = (raw * np.float32(scale)).astype(np.float32)
    if missing_value is not None:
        depth[raw == missing_value] = np.nan
    return CaptureRecord(
        image=image,
        depth=depth,
        kind=kind,
        units=units,
        accuracy=accuracy,
        source_format="image+depth pair",
        path=Path(depth_path),
    )
