"""Read an iPhone portrait-mode HEIC (photo + AVDepthData disparity) into a `CaptureRecord`.

The box reader finds the depth item and its XMP and checks every size before anything is decoded;
pillow-heif then decodes the pixels. The XMP's range is preferred over the HEVC depth SEI's, and
the two must agree when both are present.
"""

from __future__ import annotations

import math
from functools import partial, reduce
from pathlib import Path

import numpy as np
import pillow_heif

from dc2kit.capture.decoders import decoder_guard
from dc2kit.capture.errors import CaptureError, NoDepthError, UnsupportedCaptureError
from dc2kit.capture.exif_lens import with_exif_lens
from dc2kit.capture.files import read_file_bytes
from dc2kit.capture.limits import MAX_DEPTH_PIXELS, MAX_IMAGE_PIXELS, MAX_XMP_BYTES, check_pixels
from dc2kit.capture.orientation import orientation_of, oriented, to_stored
from dc2kit.capture.record import Accuracy, CaptureRecord, DepthKind, DepthUnits
from dc2kit.ios_bridge.apple_depth_xmp import AppleDepthInfo, dequantize, parse_apple_depth_xmp
from dc2kit.ios_bridge.bmff import read_brands
from dc2kit.ios_bridge.clean_aperture import CleanAperture, item_crop
from dc2kit.ios_bridge.heif_boxes import HeifMeta, read_item, read_meta

HEIF_BRANDS = frozenset({"heic", "heix", "heim", "heis", "hevc", "hevx", "mif1", "msf1"})
# HEVC depth representation SEI: 0 inverse-Z and 1 disparity are both larger-is-nearer.
SEI_KINDS = {0: DepthKind.DISPARITY, 1: DepthKind.DISPARITY, 2: DepthKind.DEPTH}
RANGE_TOLERANCE = 1e-3


def read_iphone_heic(path: str | Path) -> CaptureRecord:
    """Photo, disparity (float32, native size, 1/m) and camera facts from an iPhone HEIC."""
    path = Path(path)
    data = read_file_bytes(path)
    if not read_brands(data, path) & HEIF_BRANDS:
        raise CaptureError(path, "not a HEIF image (no HEIF brand in 'ftyp')")
    meta = read_meta(data, path)
    depth_id = _depth_item_id(meta, path)
    _check_pixels(meta, meta.primary_id, MAX_IMAGE_PIXELS, "primary image", len(data), path)
    _check_pixels(meta, depth_id, MAX_DEPTH_PIXELS, "depth image", len(data), path)
    _check_same_transforms(meta, depth_id, path)
    xmp_id = meta.xmp_item_for(depth_id)
    info = None
    if xmp_id is not None:
        info = parse_apple_depth_xmp(read_item(data, meta, xmp_id, path, MAX_XMP_BYTES), path)

    stored, sei, image, exif = _decode(data, path)
    depth_crop = _kept_size(meta, depth_id, path)
    if stored.ndim != 2 or sorted(stored.shape) != sorted(depth_crop):
        raise CaptureError(path, f"decoded depth {stored.shape} does not match item {depth_id}")
    depth, kind = _depth_values(stored, info, sei, path)
    info = info or AppleDepthInfo(aux_type=kind.value)
    transforms = meta.transforms.get(meta.primary_id, ())
    turn = coded_orientation(transforms, path)
    coded_image, coded_depth = to_stored(image, turn), to_stored(depth, turn)
    crop = item_crop(transforms, meta.sizes[meta.primary_id], path)
    expected = _kept_size(meta, meta.primary_id, path)
    if coded_image.shape[1::-1] != expected:
        height, width = coded_image.shape[:2]
        raise CaptureError(
            path, f"libheif decoded the photo at {width}x{height}; its item gives {expected}"
        )
    record = apple_record(coded_image, coded_depth, kind, info, exif, "iphone-heic", path, crop)
    return oriented(record, turn)


def _kept_size(meta: HeifMeta, item_id: int, path: Path) -> tuple[int, int]:
    """(width, height) of an item's pixels after its clean aperture, before any turn."""
    crop = item_crop(meta.transforms.get(item_id, ()), meta.sizes[item_id], path)
    return meta.sizes[item_id] if crop is None else (crop.width, crop.height)


def coded_orientation(transforms: tuple[tuple[str, bytes], ...], path: Path) -> int:
    """The EXIF orientation equivalent to the `irot`/`imir` properties libheif applies, in order.

    libheif hands out pixels already turned, but the photo's EXIF SubjectArea and Apple's depth
    intrinsics refer to the coded pixels: the reader turns the pixels back, builds the record,
    and turns everything with `oriented`, which also reports the turn. `irot` is quarter turns
    anticlockwise (2 low bits), `imir` a mirror about a vertical (axis 0) or horizontal axis.
    """
    steps = []
    for kind, payload in transforms:
        if kind in ("irot", "imir") and not payload:
            raise CaptureError(path, f"HEIF '{kind}' property is empty")
        if kind == "irot":
            steps.append(partial(np.rot90, k=payload[0] & 3))
        elif kind == "imir":
            steps.append(np.fliplr if payload[0] & 1 == 0 else np.flipud)
    return orientation_of(lambda array: reduce(lambda turned, step: step(turned), steps, array))


def apple_record(
    image: np.ndarray,
    depth: np.ndarray,
    kind: DepthKind,
    info: AppleDepthInfo,
    exif: bytes | None,
    source_format: str,
    path: Path,
    crop: CleanAperture | None = None,
) -> CaptureRecord:
    """The record of an iPhone portrait capture (HEIC or JPEG) from its decoded parts.

    `crop` is the HEIF clean aperture the image was cut to: the intrinsics and the EXIF
    SubjectArea, which refer to the full coded image, are moved by its corner.
    """
    intrinsics = info.intrinsics
    if crop is not None and intrinsics is not None:
        intrinsics = crop.intrinsics(intrinsics)
    record = CaptureRecord(
        image=image,
        depth=depth,
        kind=kind,
        units=DepthUnits.INVERSE_METERS if kind is DepthKind.DISPARITY else DepthUnits.METERS,
        accuracy=accuracy_of(info, path),
        source_format=source_format,
        path=path,
        intrinsics=intrinsics,
        extras=depth_extras(info),
    )
    pitch = info.pixel_size_mm
    return with_exif_lens(
        record,
        exif,
        None if pitch is None else (pitch, "depthData:PixelSize"),
        origin=(0, 0) if crop is None else crop.corner,
    )


def accuracy_of(info: AppleDepthInfo, path: Path) -> Accuracy:
    """`depthData:Accuracy`; a map that does not say it is absolute is treated as relative."""
    if info.accuracy is None:
        return Accuracy.RELATIVE
    try:
        return Accuracy(info.accuracy.lower())
    except ValueError:
        raise CaptureError(path, f"unknown depthData:Accuracy {info.accuracy!r}") from None


def depth_extras(info: AppleDepthInfo) -> dict[str, object]:
    """The XMP facts a `CaptureRecord` has no field for, leaving out those not present."""
    extras = {
        "simulated_aperture": info.simulated_aperture,
        "quality": info.quality,
        "filtered": info.filtered,
        "native_format": info.native_format,
        "stored_format": info.stored_format,
    }
    return {name: value for name, value in extras.items() if value is not None}


def _depth_item_id(meta: HeifMeta, path: Path) -> int:
    depth_ids = meta.depth_item_ids()
    if not depth_ids:
        raise NoDepthError(
            path, "no depth or disparity image in this HEIF (not a portrait capture)"
        )
    return depth_ids[0]


def _check_same_transforms(meta: HeifMeta, depth_id: int, path: Path) -> None:
    """libheif turns each item by its own `irot`/`imir`/`clap`; iPhones give the depth item the
    photo's (the real iPhone 13 Pro sample shares one `irot` between photo, gain map and depth).
    Different turns, or crops that keep different parts of the view (a `clap` is in each item's
    own pixels, so the same box crops a smaller map more), would put the depth away from the
    photo: refused, never guessed."""
    photo, depth = meta.transforms.get(meta.primary_id, ()), meta.transforms.get(depth_id, ())
    turns = [(kind, payload) for kind, payload in photo if kind != "clap"]
    same_turns = turns == [(kind, payload) for kind, payload in depth if kind != "clap"]
    if not same_turns or [kind for kind, _ in photo] != [kind for kind, _ in depth]:
        names = " ".join(kind for kind, _ in photo) or "none"
        raise UnsupportedCaptureError(
            path,
            f"depth item {depth_id} is not transformed like the photo (photo: {names}; depth: "
            f"{' '.join(kind for kind, _ in depth) or 'none'}), so they would not line up",
        )
    photo_crop = item_crop(photo, meta.sizes[meta.primary_id], path)
    depth_crop = item_crop(depth, meta.sizes[depth_id], path)
    if photo_crop is not None and depth_crop is not None:
        slack = 1 / min(depth_crop.coded_width, depth_crop.coded_height)  # a depth pixel
        edges = zip(photo_crop.edges(), depth_crop.edges(), strict=True)
        if any(abs(a - b) > slack for a, b in edges):
            raise UnsupportedCaptureError(
                path,
                f"the depth item's clean aperture {depth_crop} keeps another part of the view "
                f"than the photo's {photo_crop}, so they would not line up",
            )


def _check_pixels(
    meta: HeifMeta, item_id: int | None, limit: int, what: str, file_bytes: int, path: Path
) -> None:
    """Refuse an item before decoding when its `ispe` size is missing or over its bounds."""
    if item_id not in meta.sizes:
        raise CaptureError(path, f"HEIF {what} has no 'ispe' size")
    width, height = meta.sizes[item_id]
    check_pixels(width, height, limit, file_bytes, f"HEIF {what}", path)


def _decode(data: bytes, path: Path) -> tuple[np.ndarray, dict, np.ndarray, bytes | None]:
    """With pillow-heif: the stored depth samples, their SEI, the RGB photo and its EXIF bytes."""
    with decoder_guard(path, "HEIF image"):
        heif = pillow_heif.open_heif(data, convert_hdr_to_8bit=True)
        if len(heif) == 0:
            raise CaptureError(path, "libheif found no decodable image in this HEIF")
        depth_images = heif.info.get("depth_images") or []
        if not depth_images:
            raise UnsupportedCaptureError(path, "libheif did not decode the depth image item")
        stored = np.asarray(depth_images[0])
        sei = depth_images[0].info.get("metadata") or {}
        image = np.asarray(heif.to_pillow().convert("RGB"))
        return stored, sei, image, heif.info.get("exif")


def _depth_values(
    stored: np.ndarray, info: AppleDepthInfo | None, sei: dict, path: Path
) -> tuple[np.ndarray, DepthKind]:
    """Dequantised float32 values and their kind, from the XMP when present, else from the SEI."""
    sei_range = (sei.get("d_min"), sei.get("d_max"))
    if info is not None and info.float_min is not None and info.float_max is not None:
        if not info.is_depth_map:
            raise UnsupportedCaptureError(path, f"unknown AuxiliaryImageType {info.aux_type!r}")
        if None not in sei_range and not _ranges_agree(sei_range, (info.float_min, info.float_max)):
            raise CaptureError(
                path,
                f"depth XMP range [{info.float_min}, {info.float_max}] disagrees with the SEI's "
                f"[{sei_range[0]}, {sei_range[1]}]",
            )
        return dequantize(stored, info, path), DepthKind(info.aux_type)
    if None in sei_range:
        raise UnsupportedCaptureError(
            path, "depth image has neither Apple XMP nor a depth SEI range"
        )
    kind = SEI_KINDS.get(sei.get("representation_type"))
    if kind is None:
        raise UnsupportedCaptureError(
            path, f"depth SEI representation type {sei.get('representation_type')} is not supported"
        )
    int_max = int(np.iinfo(stored.dtype).max)
    sei_info = AppleDepthInfo(
        aux_type=kind.value,
        int_min=0,
        int_max=int_max,
        float_min=sei_range[0],
        float_max=sei_range[1],
    )
    return dequantize(stored, sei_info, path), kind


def _ranges_agree(first: tuple[float, float], second: tuple[float, float]) -> bool:
    return all(
        math.isclose(a, b, rel_tol=RANGE_TOLERANCE, abs_tol=RANGE_TOLERANCE)
        for a, b in zip(first, second, strict=True)
    )
