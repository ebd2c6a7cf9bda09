"""Generic captures: any colour image plus a depth or disparity map file saved beside it.

Also home of the bounded Pillow decoding every reader shares: sizes are checked from the header
before pixels are decoded, and every decoder failure becomes a `CaptureError`.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from dc2kit.capture.errors import CaptureError, UnsupportedCaptureError
from dc2kit.capture.files import read_file_bytes
from dc2kit.capture.limits import MAX_DEPTH_PIXELS, MAX_IMAGE_PIXELS
from dc2kit.capture.record import Accuracy, CaptureRecord, DepthKind, DepthUnits

ASPECT_TOLERANCE = 0.02  # same tolerance as CaptureRecord.disparity_at_image_size
PILLOW_DEPTH_SUFFIXES = {".png", ".tif", ".tiff"}


def decode_image(
    source: bytes | str | Path, path: str | Path | None, what: str, max_pixels: int
) -> Image.Image:
    """Decode an image with Pillow after checking its header size against `max_pixels`."""
    data = source if isinstance(source, bytes) else read_file_bytes(source)
    try:
        with warnings.catch_warnings():
            # dc2kit enforces its own pixel limit below; Pillow's warning threshold is lower.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > max_pixels:
                raise CaptureError(path, f"{what} of {width}x{height} exceeds {max_pixels} pixels")
            image.load()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        raise CaptureError(path, f"cannot decode {what} ({error})") from error
    return image


def rgb_array(image: Image.Image) -> np.ndarray:
    """H×W×3 uint8 RGB (alpha dropped, grey replicated)."""
    return np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))


def grey_codes(image: Image.Image, path: str | Path | None, what: str) -> tuple[np.ndarray, int]:
    """Integer codes of a single-channel map and the largest code its bit depth allows.

    Colour-typed maps (RGB/RGBA PNGs written by some phones) carry the value in every channel;
    the first channel is used.
    """
    if image.mode in {"I;16", "I;16L", "I;16B", "I"}:
        codes = np.asarray(image)
        if codes.size and (codes.min() < 0 or codes.max() > 0xFFFF):
            raise UnsupportedCaptureError(path, f"{what} has values outside 16 bits")
        return codes.astype(np.uint16), 0xFFFF
    if image.mode in {"L", "LA", "RGB", "RGBA"}:
        codes = np.asarray(image, dtype=np.uint8)
        return (codes if codes.ndim == 2 else codes[..., 0]).copy(), 0xFF
    if image.mode == "P":
        return np.asarray(image.convert("L"), dtype=np.uint8), 0xFF
    raise UnsupportedCaptureError(path, f"{what} has unsupported pixel mode {image.mode}")


def load_rgb(image: str | Path | np.ndarray) -> np.ndarray:
    """A colour image given as a file path or an RGB array, as H×W×3 uint8."""
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise CaptureError(
                None, f"image array must be HxWx3 uint8, got {image.shape} {image.dtype}"
            )
        return image
    return rgb_array(decode_image(Path(image), image, "image", MAX_IMAGE_PIXELS))


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
        return _read_npy(path)
    if suffix in PILLOW_DEPTH_SUFFIXES:
        image = decode_image(Path(path), path, "depth map", MAX_DEPTH_PIXELS)
        if image.mode == "F":
            return np.asarray(image, dtype=np.float32).copy()
        codes, _ = grey_codes(image, path, "depth map")
        return codes.astype(np.float32)
    if suffix == ".exr":
        raise UnsupportedCaptureError(
            path, "this OpenCV build has no OpenEXR codec; save the map as .npy or 16-bit PNG"
        )
    raise UnsupportedCaptureError(path, f"unsupported depth file type '{suffix}'")


def _read_npy(path: str | Path) -> np.ndarray:
    """A 2-D (or H×W×1) numeric array from an .npy file, never unpickling."""
    try:
        array = np.load(io.BytesIO(read_file_bytes(path)), allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise CaptureError(path, f"cannot read NPY depth ({error})") from error
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim != 2 or not (np.issubdtype(array.dtype, np.number) and array.dtype.kind != "c"):
        raise CaptureError(
            path, f"NPY depth must be a 2-D real array, got {array.shape} {array.dtype}"
        )
    if array.size == 0 or array.size > MAX_DEPTH_PIXELS:
        raise CaptureError(path, f"NPY depth of {array.shape} is empty or exceeds the size limit")
    return array.astype(np.float32)


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
