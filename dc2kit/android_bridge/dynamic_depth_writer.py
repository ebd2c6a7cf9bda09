"""Write Dynamic Depth 1.0 JPEGs: the primary JPEG with the Device XMP, then its items.

Depth is stored as an 8- or 16-bit PNG (RangeInverse or RangeLinear codes), with an optional
confidence PNG and original JPEG, in the layout `dynamic_depth` reads (and Android writes).
"""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
from PIL import Image

from dc2kit.android_bridge._common import (
    RANGE_FORMATS,
    RANGE_INVERSE,
    encode_range,
    jpeg_bytes,
    png_bytes,
    quantise,
    range_problem,
)
from dc2kit.android_bridge.dynamic_depth_spec import (
    CONFIDENCE_URI,
    DEPTH_URI,
    ITEM_SEMANTICS,
    NAMESPACES,
    ORIGINAL_URI,
    UNITS,
)
from dc2kit.android_bridge.focal_table import encode_focal_table
from dc2kit.atomic import write_atomically
from dc2kit.capture.jpeg_xmp import XMP_NOTE_NS, extended_xmp_guid, insert_xmp
from dc2kit.capture.limits import MAX_DEPTH_PIXELS
from dc2kit.capture.record import Intrinsics
from dc2kit.capture.xmp import RDF_NS


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
