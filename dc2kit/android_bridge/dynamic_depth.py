"""Read Dynamic Depth 1.0 JPEGs (Android `DEPTH_JPEG`) into a CaptureRecord.

The primary JPEG's XMP (standard or extended) describes a `Device` whose `Container:Directory`
lists media items; their bytes follow the primary image's EOI in directory order, each item
`Length` bytes plus `Padding`. `Camera:DepthMap` names the depth and confidence items by URI.
The writer is `dynamic_depth_writer`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from xml.etree.ElementTree import Element

import numpy as np

from dc2kit.android_bridge._common import (
    decode_range,
    embedded_image,
    normalised_codes,
    parse_float,
    parse_range,
    primary_rgb,
    uses_namespace,
)
from dc2kit.android_bridge.dynamic_depth_spec import DEVICE_NS, NAMESPACES, ORIGINAL_URI, UNITS
from dc2kit.android_bridge.focal_table import decode_focal_table, focal_table_focus
from dc2kit.capture.decoders import rgb_array
from dc2kit.capture.errors import CaptureError, NoDepthError
from dc2kit.capture.exif_lens import jpeg_exif, with_exif_lens
from dc2kit.capture.files import read_file_bytes
from dc2kit.capture.jpeg_xmp import JpegXmp, read_jpeg_xmp
from dc2kit.capture.limits import MAX_DEPTH_PIXELS, MAX_IMAGE_PIXELS
from dc2kit.capture.record import Accuracy, CaptureRecord, DepthKind, DepthUnits, Intrinsics
from dc2kit.capture.xmp import namespace_values, parse_xmp

MAX_COUNT_DIGITS = 15  # far beyond any file dc2kit accepts; keeps int() cheap and total


@dataclass(frozen=True)
class Item:
    """One `Container:Item` of the directory."""

    semantic: str
    length: int
    padding: int
    uri: str


def read_dynamic_depth(path: str | Path) -> CaptureRecord:
    """Read a Dynamic Depth JPEG; CaptureError (or a subclass) for anything unusable."""
    data = read_file_bytes(path)
    return parse_dynamic_depth(data, path, read_jpeg_xmp(data, path))


def parse_dynamic_depth(data: bytes, path: str | Path, jpeg: JpegXmp) -> CaptureRecord:
    """Decode a Dynamic Depth file whose bytes and XMP segments are already read."""
    root = _device_packet(jpeg, path)
    payloads = _item_payloads(_directory(root, path), data, jpeg.primary_end, path)
    depth_map, imaging_model = _depth_camera(root, path)
    depth_format, near, far = parse_range(depth_map, path)
    units, accuracy = _units(depth_map, path)
    depth_payload = _payload(payloads, depth_map.get("DepthURI"), path)
    depth_image = embedded_image(depth_payload, MAX_DEPTH_PIXELS, len(data), path, "depth map")
    depth = decode_range(normalised_codes(depth_image, path, "depth map"), depth_format, near, far)
    image = primary_rgb(data, jpeg.primary_end, path)
    extras: dict[str, object] = {"depth_format": depth_format, "near": near, "far": far}
    semantic = extras["depth_item_semantic"] = depth_map.get("ItemSemantic", "Depth")
    notes = (
        []
        if semantic == "Depth"
        else [f'depth map labelled ItemSemantic="{semantic}", read as depth']
    )
    if ORIGINAL_URI in payloads:
        what = "original image"
        original = embedded_image(payloads[ORIGINAL_URI], MAX_IMAGE_PIXELS, len(data), path, what)
        extras["original_image"] = rgb_array(original, path, what)
    record = CaptureRecord(
        image=image,
        depth=depth,
        kind=DepthKind.DEPTH,
        units=units,
        accuracy=accuracy,
        source_format="dynamic_depth",
        path=Path(path),
        confidence=_confidence(depth_map, payloads, depth.shape, len(data), path),
        intrinsics=_intrinsics(imaging_model, path),
        extras=extras,
        notes=notes,
    )
    table = decode_focal_table(depth_map, path)
    if table is not None:
        diopters = units is DepthUnits.DIOPTERS
        record.render_focus = focal_table_focus(table, diopters, image.shape[1], record.notes)
    return with_exif_lens(record, jpeg_exif(data, path))


def _device_packet(jpeg: JpegXmp, path: str | Path) -> Element:
    """The XMP packet (standard or extended) that carries the Dynamic Depth Device."""
    for packet in (jpeg.standard, jpeg.extended):
        if packet is not None:
            root = parse_xmp(packet, path)
            if uses_namespace(root, DEVICE_NS):
                return root
    raise NoDepthError(path, "no Dynamic Depth Device in the XMP")


def _directory(root: Element, path: str | Path) -> list[Item]:
    """The container's items in directory order."""
    elements = list(root.iter(f"{{{NAMESPACES['Container']}}}Item"))
    if not elements:
        raise CaptureError(path, "Dynamic Depth XMP has no Container:Directory items")
    return [_item(namespace_values(element, NAMESPACES["Item"]), path) for element in elements]


def _item(values: dict[str, str], path: str | Path) -> Item:
    return Item(
        semantic=values.get("Semantic", ""),
        length=_count(values, "Length", path),
        padding=_count(values, "Padding", path),
        uri=values.get("DataURI", ""),
    )


def _count(values: dict[str, str], key: str, path: str | Path) -> int:
    """A non-negative byte count; absent means 0 (the primary item has no length)."""
    text = values.get(key, "0").strip()
    if not (text.isascii() and text.isdigit() and len(text) <= MAX_COUNT_DIGITS):
        raise CaptureError(path, f"Item:{key}={text!r} is not a byte count")
    return int(text)


def _item_payloads(
    items: list[Item], data: bytes, primary_end: int, path: str | Path
) -> dict[str, bytes]:
    """Bytes of each item, keyed by DataURI, located after the primary image in order.

    The first item is the primary image itself: whatever Length it states, its bytes are the
    JPEG before `primary_end`, so only its padding is skipped.
    """
    payloads: dict[str, bytes] = {}
    position = primary_end
    for index, item in enumerate(items):
        end = position + (0 if index == 0 else item.length)  # item 0 is the primary JPEG
        if end > len(data):
            raise CaptureError(
                path,
                f"item {item.uri or item.semantic!r} ({item.length} bytes at offset {position})"
                f" extends past the end of the file ({len(data)} bytes)",
            )
        if item.uri:
            payloads[item.uri] = data[position:end]
        position = end + item.padding
    return payloads


def _payload(payloads: dict[str, bytes], uri: str | None, path: str | Path) -> bytes:
    if not uri:
        raise CaptureError(path, "DepthMap names no item (DepthURI/ConfidenceURI is empty)")
    if uri not in payloads:
        raise CaptureError(path, f"DepthMap refers to item {uri!r}, absent from the directory")
    return payloads[uri]


def _depth_camera(root: Element, path: str | Path) -> tuple[dict[str, str], dict[str, str]]:
    """DepthMap and ImagingModel values of the camera whose depth map is read.

    A map labelled `ItemSemantic="Depth"` is preferred; otherwise the first one with another
    label is taken, since the spec allows `Segmentation` and real Pixel portraits label their
    only depth map so (the caller records the label). Only a file with no DepthMap is refused.
    """
    found = []
    for camera in list(root.iter(f"{{{DEVICE_NS}}}Camera")) or [root]:
        for element in camera.iter(f"{{{NAMESPACES['Camera']}}}DepthMap"):
            found.append((namespace_values(element, NAMESPACES["DepthMap"]), camera))
    if not found:
        raise NoDepthError(path, "Dynamic Depth file has no Camera:DepthMap")
    depth_map, camera = next(
        (entry for entry in found if entry[0].get("ItemSemantic", "Depth") == "Depth"), found[0]
    )
    model = camera.find(f".//{{{NAMESPACES['Camera']}}}ImagingModel")
    imaging = {} if model is None else namespace_values(model, NAMESPACES["ImagingModel"])
    return depth_map, imaging


def _units(depth_map: dict[str, str], path: str | Path) -> tuple[DepthUnits, Accuracy]:
    label = depth_map.get("Units", "None")
    if label not in UNITS:
        raise CaptureError(path, f"DepthMap:Units {label!r} is not Meters, Diopters or None")
    return UNITS[label]


def _confidence(
    depth_map: dict[str, str],
    payloads: dict[str, bytes],
    shape: tuple[int, ...],
    file_bytes: int,
    path: str | Path,
) -> np.ndarray | None:
    if not depth_map.get("ConfidenceURI"):
        return None
    payload = _payload(payloads, depth_map["ConfidenceURI"], path)
    image = embedded_image(payload, MAX_DEPTH_PIXELS, file_bytes, path, "confidence map")
    confidence = normalised_codes(image, path, "confidence map").astype(np.float32)
    if confidence.shape != shape:
        raise CaptureError(
            path, f"confidence map {confidence.shape} differs from depth map {shape} in size"
        )
    return confidence


def _intrinsics(values: dict[str, str], path: str | Path) -> Intrinsics | None:
    """Pinhole intrinsics from `Camera:ImagingModel`, or None when it is absent or partial.

    Focal lengths are in pixels. The principal point is in pixels as Android's camera service
    writes it, or normalised to the image size (values ≤ 1) as the spec's default (0.5, 0.5).
    """
    keys = ("FocalLengthX", "FocalLengthY", "PrincipalPointX", "PrincipalPointY")
    if not all(key in values for key in (*keys, "ImageWidth", "ImageHeight")):
        return None
    fx, fy, cx, cy = (parse_float(values, key, path) for key in keys)
    width, height = (round(parse_float(values, key, path)) for key in ("ImageWidth", "ImageHeight"))
    if width <= 0 or height <= 0 or fx <= 0 or fy <= 0:
        raise CaptureError(path, "ImagingModel has non-positive focal length or image size")
    if cx <= 1 and cy <= 1:
        cx, cy = cx * width, cy * height
    return Intrinsics(fx, fy, cx, cy, width, height)
