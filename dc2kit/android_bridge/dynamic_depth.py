"""Dynamic Depth 1.0 JPEGs (Android `DEPTH_JPEG`): read into a CaptureRecord, and write.

The primary JPEG's XMP (standard or extended) describes a `Device` whose `Container:Directory`
lists media items; their bytes follow the primary image's EOI in directory order, each item
`Length` bytes plus `Padding`. `Camera:DepthMap` names the depth and confidence items by URI.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape

import numpy as np
from PIL import Image

from dc2kit.android_bridge._common import (
    RANGE_FORMATS,
    RANGE_INVERSE,
    decode_range,
    embedded_image,
    encode_range,
    jpeg_bytes,
    normalised_codes,
    parse_float,
    parse_range,
    png_bytes,
    primary_rgb,
    quantise,
    range_problem,
    uses_namespace,
)
from dc2kit.android_bridge.focal_table import (
    decode_focal_table,
    encode_focal_table,
    focal_table_focus,
)
from dc2kit.atomic import write_atomically
from dc2kit.capture.decoders import rgb_array
from dc2kit.capture.errors import CaptureError, NoDepthError
from dc2kit.capture.exif_lens import jpeg_exif, with_exif_lens
from dc2kit.capture.files import read_file_bytes
from dc2kit.capture.jpeg_xmp import (
    XMP_NOTE_NS,
    JpegXmp,
    extended_xmp_guid,
    insert_xmp,
    read_jpeg_xmp,
)
from dc2kit.capture.limits import MAX_DEPTH_PIXELS, MAX_IMAGE_PIXELS
from dc2kit.capture.record import Accuracy, CaptureRecord, DepthKind, DepthUnits, Intrinsics
from dc2kit.capture.xmp import RDF_NS, namespace_values, parse_xmp

DD_NS = "http://ns.google.com/photos/dd/1.0/{}/"
NAMESPACES = {
    name: DD_NS.format(name.lower())
    for name in ("Device", "Container", "Item", "Camera", "DepthMap", "ImagingModel", "Profile")
}
DEVICE_NS = NAMESPACES["Device"]
DEPTH_URI = "android/depthmap"
CONFIDENCE_URI = "android/confidencemap"
ORIGINAL_URI = "android/original_image"
ITEM_SEMANTICS = ("Depth", "Segmentation")  # DepthMap:ItemSemantic values the spec defines
MAX_COUNT_DIGITS = 15  # far beyond any file dc2kit accepts; keeps int() cheap and total
UNITS = {
    "Meters": (DepthUnits.METERS, Accuracy.ABSOLUTE),
    "Diopters": (DepthUnits.DIOPTERS, Accuracy.RELATIVE),
    "None": (DepthUnits.RELATIVE, Accuracy.RELATIVE),
}


@dataclass(frozen=True)
class Item:
    """One `Container:Item` of the directory."""

    semantic: str
    length: int
    padding: int
    uri: str


# ---------------------------------------------------------------------------------------------
# Reading


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


# ---------------------------------------------------------------------------------------------
# Writing


def write_dynamic_depth(
    path: str | Path,
    image: np.ndarray,
    depth: np.ndarray,
    *,
    format: str = RANGE_INVERSE,
    near: float | None = None,
    far: float | None = None,
    units: str = "Meters",
    bit_depth: int = 8,
    confidence: np.ndarray | None = None,
    intrinsics: Intrinsics | None = None,
    original_image: np.ndarray | None = None,
    extended_xmp: bool = False,
    item_semantic: str = "Depth",
    exif: Image.Exif | None = None,
    focal_table: list[tuple[float, float]] | None = None,
) -> None:
    """Write a Dynamic Depth JPEG (depth as PNG, optional confidence PNG and original JPEG).

    `near`/`far` default to the depth's extremes (so constant depth needs them given); depth
    outside them is clamped. Invalid arguments (NaN depth, wrong shapes or dtypes, unknown
    format) raise ValueError naming `path`, before anything is written. `item_semantic` labels
    the depth map (`Segmentation` as real Pixel portraits label theirs); `exif` (e.g.
    `capture.exif_lens.lens_exif(...)`) goes into the primary JPEG; `focal_table` is the
    (distance, radius px) pairs of a blur render in the primary.
    """
    _check_rgb(path, image, "image")
    near, far = _checked_range(path, depth, format, near, far)
    if units not in UNITS:
        raise _invalid(path, f"units {units!r} is not one of {sorted(UNITS)}")
    if bit_depth not in (8, 16):
        raise _invalid(path, f"bit_depth {bit_depth} is not 8 or 16")
    depth_png = png_bytes(quantise(encode_range(depth, format, near, far), bit_depth))
    items = [("image/jpeg", "Primary", b"", ""), ("image/png", "Depth", depth_png, DEPTH_URI)]
    depth_map = {"Format": format, "Near": repr(near), "Far": repr(far), "Units": units}
    if item_semantic not in ITEM_SEMANTICS:
        raise _invalid(path, f"item_semantic {item_semantic!r} is not one of {ITEM_SEMANTICS}")
    depth_map |= {"MeasureType": "OpticalAxis", "ItemSemantic": item_semantic}
    depth_map["DepthURI"] = DEPTH_URI
    if focal_table:
        try:
            depth_map |= encode_focal_table(focal_table)
        except ValueError as error:
            raise _invalid(path, str(error)) from None
    if confidence is not None:
        confidence_png = _confidence_png(path, confidence, depth)
        items.append(("image/png", "Confidence", confidence_png, CONFIDENCE_URI))
        depth_map["ConfidenceURI"] = CONFIDENCE_URI
    if original_image is not None:
        _check_rgb(path, original_image, "original_image")
        items.append(("image/jpeg", "Original", jpeg_bytes(original_image), ORIGINAL_URI))
    device = _device_xmp(items, depth_map, _imaging_model_fields(intrinsics))
    primary = _with_xmp(jpeg_bytes(image, exif=exif), device, extended_xmp)
    write_atomically(path, primary + b"".join(payload for _, _, payload, _ in items))


def _with_xmp(primary: bytes, device: bytes, extended: bool) -> bytes:
    """The primary JPEG carrying the Device XMP, in extended XMP when asked (as Pixels do)."""
    if not extended:
        return insert_xmp(primary, device)
    guid = extended_xmp_guid(device)
    note = _xmp_packet(f'xmlns:xmpNote="{XMP_NOTE_NS}" xmpNote:HasExtendedXMP="{guid}"', "")
    return insert_xmp(primary, note, device)


def _invalid(path: str | Path, problem: str) -> ValueError:
    return ValueError(f"{path}: {problem}")


def _check_rgb(path: str | Path, array: np.ndarray, name: str) -> None:
    if not (isinstance(array, np.ndarray) and array.ndim == 3 and array.shape[2] == 3):
        raise _invalid(path, f"{name} must be an HxWx3 array")
    if array.dtype != np.uint8 or array.shape[0] == 0 or array.shape[1] == 0:
        raise _invalid(path, f"{name} must be non-empty uint8, got {array.shape} {array.dtype}")


def _checked_range(
    path: str | Path, depth: np.ndarray, depth_format: str, near: float | None, far: float | None
) -> tuple[float, float]:
    """(near, far) for writing `depth`, defaulting to its extremes; depth must be finite."""
    if depth_format not in RANGE_FORMATS:
        raise _invalid(path, f"format {depth_format!r} is not one of {RANGE_FORMATS}")
    if not (isinstance(depth, np.ndarray) and depth.ndim == 2 and depth.size > 0):
        raise _invalid(path, "depth must be a non-empty 2-D array")
    if depth.size > MAX_DEPTH_PIXELS or not np.issubdtype(depth.dtype, np.floating):
        raise _invalid(
            path, f"depth must be floating point within the size limit, got {depth.dtype}"
        )
    if not np.isfinite(depth).all():
        raise _invalid(path, "depth contains NaN or infinite values")
    near = float(depth.min()) if near is None else float(near)
    far = float(depth.max()) if far is None else float(far)
    problem = range_problem(depth_format, near, far)
    if problem:
        raise _invalid(path, problem)
    return near, far


def _confidence_png(path: str | Path, confidence: np.ndarray, depth: np.ndarray) -> bytes:
    if not isinstance(confidence, np.ndarray) or confidence.shape != depth.shape:
        raise _invalid(path, "confidence must be an array the size of depth")
    if not (np.isfinite(confidence).all() and confidence.min() >= 0 and confidence.max() <= 1):
        raise _invalid(path, "confidence must be finite and within [0, 1]")
    return png_bytes(quantise(confidence, 8))


def _imaging_model_fields(intrinsics: Intrinsics | None) -> dict[str, str]:
    if intrinsics is None:
        return {}
    return {
        "FocalLengthX": repr(float(intrinsics.fx)),
        "FocalLengthY": repr(float(intrinsics.fy)),
        "PrincipalPointX": repr(float(intrinsics.cx)),
        "PrincipalPointY": repr(float(intrinsics.cy)),
        "ImageWidth": str(intrinsics.reference_width),
        "ImageHeight": str(intrinsics.reference_height),
    }


def _device_xmp(
    items: list[tuple[str, str, bytes, str]],
    depth_map: dict[str, str],
    imaging_model: dict[str, str],
) -> bytes:
    """The Device description: directory (attribute form), one profile, one camera."""
    directory = "".join(
        '<rdf:li rdf:parseType="Resource"><Container:Item'
        f' Item:Mime="{escape(mime)}" Item:Semantic="{escape(semantic)}"'
        f' Item:Length="{len(payload)}" Item:Padding="0"'
        + (f' Item:DataURI="{escape(uri)}"' if uri else "")
        + "/></rdf:li>"
        for mime, semantic, payload, uri in items
    )
    camera = _leaf_elements("DepthMap", depth_map)
    if imaging_model:
        camera += _leaf_elements("ImagingModel", imaging_model)
    body = (
        f"<Device:Container><Container:Directory><rdf:Seq>{directory}</rdf:Seq>"
        "</Container:Directory></Device:Container>"
        '<Device:Profiles><rdf:Seq><rdf:li rdf:parseType="Resource"><Device:Profile'
        ' Profile:Type="DepthPhoto" Profile:CameraIndices="0"/></rdf:li></rdf:Seq>'
        "</Device:Profiles>"
        '<Device:Cameras><rdf:Seq><rdf:li rdf:parseType="Resource">'
        f'<Device:Camera rdf:parseType="Resource"><Camera:Trait>Physical</Camera:Trait>{camera}'
        "</Device:Camera></rdf:li></rdf:Seq></Device:Cameras>"
    )
    declarations = " ".join(f'xmlns:{name}="{uri}"' for name, uri in NAMESPACES.items())
    return _xmp_packet(declarations, body)


def _leaf_elements(name: str, values: dict[str, str]) -> str:
    """`<Camera:Name>` holding one `<Name:Key>value</Name:Key>` element per field."""
    fields = "".join(
        f"<{name}:{key}>{escape(value)}</{name}:{key}>" for key, value in values.items()
    )
    return f'<Camera:{name} rdf:parseType="Resource">{fields}</Camera:{name}>'


def _xmp_packet(declarations: str, body: str) -> bytes:
    return (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        f'<rdf:RDF xmlns:rdf="{RDF_NS}"><rdf:Description rdf:about="" {declarations}'
        + (f">{body}</rdf:Description>" if body else "/>")
        + "</rdf:RDF></x:xmpmeta>"
    ).encode("utf-8")
