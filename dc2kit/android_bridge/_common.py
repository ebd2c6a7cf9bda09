"""Pieces shared by the Android readers and writers: range codecs, XMP lookups, raw buffers.

Google's GDepth and Dynamic Depth store depth the same way: a normalised code dn in [0, 1]
mapped onto [near, far] either linearly or linearly in inverse depth.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from pathlib import Path
from xml.etree.ElementTree import Element

import numpy as np
from PIL import Image

from dc2kit.capture.decoders import JPEG_ONLY, PNG_OR_JPEG, decode_image, grey_codes, rgb_array
from dc2kit.capture.errors import CaptureError, UnsupportedCaptureError
from dc2kit.capture.exif_lens import with_exif_lens
from dc2kit.capture.limits import MAX_DEPTH_PIXELS, MAX_IMAGE_PIXELS
from dc2kit.capture.orientation import UPRIGHT, is_valid, oriented, to_stored
from dc2kit.capture.pair import check_aspect, load_rgb, pair_orientation
from dc2kit.capture.photo import Photo, open_photo
from dc2kit.capture.record import Accuracy, CaptureRecord, DepthKind, DepthUnits

RANGE_INVERSE = "RangeInverse"
RANGE_LINEAR = "RangeLinear"
RANGE_FORMATS = (RANGE_INVERSE, RANGE_LINEAR)


def uses_namespace(root: Element, namespace: str) -> bool:
    """True when any element or attribute in the packet belongs to `namespace`."""
    prefix = "{" + namespace + "}"
    return any(
        element.tag.startswith(prefix) or any(key.startswith(prefix) for key in element.attrib)
        for element in root.iter()
    )


def parse_float(values: Mapping[str, str], key: str, path: str | Path | None) -> float:
    """A required finite real number from XMP values."""
    if key not in values:
        raise CaptureError(path, f"XMP field {key} is missing")
    try:
        number = float(values[key])
    except ValueError as error:
        raise CaptureError(path, f"XMP field {key}={values[key]!r} is not a number") from error
    if not math.isfinite(number):
        raise CaptureError(path, f"XMP field {key}={values[key]!r} is not finite")
    return number


def parse_range(values: Mapping[str, str], path: str | Path | None) -> tuple[str, float, float]:
    """(Format, Near, Far) of a GDepth/DepthMap description, checked to be decodable."""
    depth_format = values.get("Format")
    if depth_format not in RANGE_FORMATS:
        raise UnsupportedCaptureError(path, f"depth Format {depth_format!r} is not supported")
    near, far = parse_float(values, "Near", path), parse_float(values, "Far", path)
    problem = range_problem(depth_format, near, far)
    if problem:
        raise CaptureError(path, problem)
    return depth_format, near, far


def range_problem(depth_format: str, near: float, far: float) -> str | None:
    """Why (near, far) cannot encode depth in `depth_format`, or None when it can."""
    if not (math.isfinite(near) and math.isfinite(far)) or near >= far:
        return f"depth range near={near} far={far} must be finite with near < far"
    if depth_format == RANGE_INVERSE and near <= 0:
        return f"RangeInverse needs near > 0, got {near}"
    return None


def decode_range(dn: np.ndarray, depth_format: str, near: float, far: float) -> np.ndarray:
    """Depth from normalised codes dn in [0, 1] (float64 maths, float32 result)."""
    dn = dn.astype(np.float64)
    if depth_format == RANGE_LINEAR:
        depth = dn * (far - near) + near
    else:
        depth = far * near / (far - (far - near) * dn)
    return depth.astype(np.float32)


def encode_range(depth: np.ndarray, depth_format: str, near: float, far: float) -> np.ndarray:
    """Normalised codes dn in [0, 1] for depth (values outside [near, far] are clamped)."""
    depth = np.clip(depth.astype(np.float64), near, far)
    if depth_format == RANGE_LINEAR:
        dn = (depth - near) / (far - near)
    else:
        dn = far * (depth - near) / (depth * (far - near))
    return np.clip(dn, 0.0, 1.0)


def quantise(dn: np.ndarray, bit_depth: int) -> np.ndarray:
    """Integer codes for dn in [0, 1] at 8 or 16 bits."""
    top = (1 << bit_depth) - 1
    codes = np.rint(dn * top)
    return codes.astype(np.uint8 if bit_depth == 8 else np.uint16)


def png_bytes(array: np.ndarray) -> bytes:
    """Lossless PNG of a uint8 grey, uint16 grey or uint8 RGB array."""
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg_bytes(rgb: np.ndarray, quality: int = 95, exif: Image.Exif | None = None) -> bytes:
    buffer = io.BytesIO()
    options = {} if exif is None else {"exif": exif}
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=quality, **options)
    return buffer.getvalue()


def embedded_image(
    payload: bytes,
    max_pixels: int,
    file_bytes: int,
    path: str | Path,
    what: str,
    formats: tuple[str, ...] = PNG_OR_JPEG,
) -> Image.Image:
    """An image item of a capture file of `file_bytes` bytes, bounded by that file's size."""
    return decode_image(payload, path, what, max_pixels, formats=formats, file_bytes=file_bytes)


def primary_rgb(data: bytes, primary_end: int, path: str | Path) -> np.ndarray:
    """The primary JPEG (the bytes before `primary_end`) of a capture file as RGB."""
    image = embedded_image(
        data[:primary_end], MAX_IMAGE_PIXELS, len(data), path, "image", JPEG_ONLY
    )
    return rgb_array(image, path, "image")


def normalised_codes(image: Image.Image, path: str | Path, what: str) -> np.ndarray:
    """Codes of an 8- or 16-bit map scaled to [0, 1]."""
    codes, top = grey_codes(image, path, what)
    return codes / float(top)


def check_dimensions(
    width: object, height: object, path: str | Path | None, *, even: bool
) -> tuple[int, int]:
    """Buffer dimensions as Python ints: positive, bounded and (for DEPTH16) even.

    Python ints keep the size arithmetic exact: numpy integers wrap on overflow, so that
    2**32 × 2**32 would pass a bound as 0.
    """
    width, height = _count(width), _count(height)
    if width is None or height is None or width <= 0 or height <= 0:
        raise CaptureError(path, f"buffer size {width}x{height} must be positive integers")
    if even and (width % 2 or height % 2):
        raise CaptureError(path, f"DEPTH16 size {width}x{height} must have even sides")
    if width * height > MAX_DEPTH_PIXELS:
        raise CaptureError(path, f"buffer of {width}x{height} exceeds {MAX_DEPTH_PIXELS} pixels")
    return width, height


def _count(value: object) -> int | None:
    """`value` as a Python int when it is an integer (bools are not), else None."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        return None
    return int(value)


def unpack_rows(
    buffer: bytes,
    width: int,
    height: int,
    bytes_per_pixel: int,
    row_stride: object,
    path: str | Path | None,
) -> np.ndarray:
    """The height × (width·bytes_per_pixel) pixel bytes of a strided buffer.

    Android image planes may omit the padding after the last row, so any length from
    stride·(height−1) + row bytes up to stride·height is accepted. Rows are read in place:
    nothing larger than the pixels themselves is allocated, whatever the stride claims.
    """
    row_bytes = width * bytes_per_pixel
    stride = row_bytes if row_stride is None else _count(row_stride)
    if stride is None or stride < row_bytes:
        raise CaptureError(
            path, f"row stride {row_stride!r} is not an integer of at least {row_bytes} bytes"
        )
    length = len(buffer)
    shortest, longest = stride * (height - 1) + row_bytes, stride * height
    if not shortest <= length <= longest:
        expected = f"{shortest}" if shortest == longest else f"{shortest} to {longest}"
        raise CaptureError(
            path,
            f"buffer has {length} bytes; {width}x{height} with stride {stride} needs {expected}",
        )
    flat = np.frombuffer(buffer, dtype=np.uint8, count=shortest)
    rows = np.lib.stride_tricks.as_strided(flat, (height, row_bytes), (stride, 1), writeable=False)
    return rows.copy()


def pack_rows(rows: np.ndarray, row_stride: int | None) -> bytes:
    """Bytes of a height × row_bytes uint8 array with zero padding up to `row_stride`."""
    height, row_bytes = rows.shape
    stride = row_bytes if row_stride is None else row_stride
    if stride < row_bytes:
        raise ValueError(f"row stride {stride} is less than {row_bytes} bytes per row")
    padded = np.zeros((height, stride), dtype=np.uint8)
    padded[:, :row_bytes] = rows
    return padded.tobytes()


def metric_depth_record(
    image: str | Path | np.ndarray | None,
    depth: np.ndarray,
    confidence: np.ndarray | None,
    source_format: str,
    path: str | Path,
    orientation: int | None = None,
    orientation_from: str = "the caller",
) -> CaptureRecord:
    """A camera buffer's metric depth (metres, absolute) beside its colour image, as displayed.

    The buffer shares the camera image's stored pixels, so the image's turn to display (its EXIF
    Orientation, or `orientation` when the caller gives one: it overrides the file's) is applied
    to the depth and confidence too, unless the map's aspect shows it was made from the displayed
    image (`capture.pair.pair_orientation`). The notes say where the turn came from (the photo's
    EXIF, `orientation_from`, e.g. a command-line flag, or neither) and what it turned. A photo
    file's EXIF lens data and SubjectArea (`capture.exif_lens`) refer to its stored pixels, so
    they are read before the turn, which then moves the focus point with the pixels. With no
    image (None) a black one of the buffer's size stands in, said in the notes.
    """
    if orientation is not None and not is_valid(orientation):
        raise ValueError(f"{path}: orientation {orientation!r} is not an EXIF orientation 1–8")
    photo = _photo(image, depth.shape)
    turn, named, notes = _turn_and_source(orientation, photo.orientation, orientation_from)
    if image is None:
        notes.insert(0, "no photo given: the depth alone, beside a black stand-in of its size")
    photo_turn, depth_turn = UPRIGHT, UPRIGHT
    if turn not in (None, UPRIGHT):
        photo_turn, depth_turn = pair_orientation(photo.rgb.shape, depth.shape, turn, notes, named)
    if depth_turn != photo_turn:  # made from the displayed photo: back to the stored grid
        depth = to_stored(depth, photo_turn)
        confidence = None if confidence is None else to_stored(confidence, photo_turn)
    check_aspect(photo.rgb, depth, path)
    record = CaptureRecord(
        image=photo.rgb,
        depth=depth,
        kind=DepthKind.DEPTH,
        units=DepthUnits.METERS,
        accuracy=Accuracy.ABSOLUTE,
        source_format=source_format,
        path=Path(path),
        confidence=confidence,
        notes=notes,
    )
    return oriented(with_exif_lens(record, photo.exif), photo_turn)


def _photo(image: str | Path | np.ndarray | None, shape: tuple[int, ...]) -> Photo:
    """The photo file, a caller's stored RGB array, or a black stand-in of `shape`."""
    if image is None:
        return Photo(np.zeros((*shape, 3), np.uint8), None, None)
    if isinstance(image, np.ndarray):
        return Photo(load_rgb(image), None, None)
    return open_photo(image)


def _turn_and_source(
    orientation: int | None, stored: int | None, orientation_from: str
) -> tuple[int | None, str, list[str]]:
    """(the turn to apply, a phrase naming where it came from, notes on an upright or absent one).

    A given orientation wins over the photo's EXIF (and the notes say it overrode one); with
    neither, the pixels stay as stored.
    """
    notes: list[str] = []
    if orientation is not None:
        named = f"orientation {orientation} given by {orientation_from}"
        if stored not in (None, orientation):
            notes.append(f"{named}; the image's EXIF says {stored}, not used")
        turn = orientation
    elif stored is not None:
        named, turn = f"the photo's EXIF Orientation {stored}", stored
    else:
        named, turn = "", None
        notes.append("no orientation given and no EXIF Orientation: pixels used as stored")
    if turn == UPRIGHT:
        notes.append(f"{named}: upright, nothing turned")
    return turn, named, notes
