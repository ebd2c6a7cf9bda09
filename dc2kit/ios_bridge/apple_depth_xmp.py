"""Apple's depth XMP (AVDepthData): parse it, apply its dequantisation, and write it back.

The same fields describe the depth item of a HEIC and the depth frame of a portrait JPEG, so both
readers share this module; the JPEG writer uses `build_apple_depth_xmp` to produce them.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from pathlib import Path
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape

import numpy as np

from dc2kit.capture.errors import CaptureError
from dc2kit.capture.record import Intrinsics
from dc2kit.capture.xmp import RDF_NS, namespace_values, parse_xmp

APDI_NS = "http://ns.apple.com/pixeldatainfo/1.0/"
DEPTH_DATA_NS = "http://ns.apple.com/depthData/1.0/"
DEPTH_BLUR_NS = "http://ns.apple.com/depthBlurEffect/1.0/"
DEPTH_AUX_TYPES = frozenset({"disparity", "depth"})


@dataclass(frozen=True)
class AppleDepthInfo:
    """What an Apple depth XMP says about one stored depth or disparity map."""

    aux_type: str
    native_format: str | None = None
    stored_format: str | None = None
    int_min: int | None = None
    int_max: int | None = None
    float_min: float | None = None
    float_max: float | None = None
    accuracy: str | None = None
    quality: str | None = None
    filtered: bool | None = None
    intrinsics: Intrinsics | None = None
    pixel_size_mm: float | None = None
    simulated_aperture: float | None = None

    @property
    def is_depth_map(self) -> bool:
        """True for disparity/depth; mattes and other auxiliary images share the XMP layout."""
        return self.aux_type in DEPTH_AUX_TYPES


def fourcc_from_code(code: int) -> str:
    """Core Video pixel format code (e.g. 1751411059) as its four characters ('hdis')."""
    return struct.pack(">I", code).decode("latin-1")


def code_from_fourcc(fourcc: str) -> int:
    (code,) = struct.unpack(">I", fourcc.encode("latin-1"))
    return code


def parse_apple_depth_xmp(data: bytes, path: str | Path | None) -> AppleDepthInfo | None:
    """The Apple depth fields of one XMP packet; None when it names no auxiliary image type."""
    root = parse_xmp(data, path)
    apdi = namespace_values(root, APDI_NS)
    depth = namespace_values(root, DEPTH_DATA_NS)
    blur = namespace_values(root, DEPTH_BLUR_NS)
    if "AuxiliaryImageType" not in apdi:
        return None
    return AppleDepthInfo(
        aux_type=apdi["AuxiliaryImageType"],
        native_format=_format_field(apdi, "NativeFormat", path),
        stored_format=_format_field(apdi, "StoredFormat", path),
        int_min=_int_field(apdi, "IntMinValue", path),
        int_max=_int_field(apdi, "IntMaxValue", path),
        float_min=_float_field(apdi, "FloatMinValue", path),
        float_max=_float_field(apdi, "FloatMaxValue", path),
        accuracy=depth.get("Accuracy"),
        quality=depth.get("Quality"),
        filtered=depth["Filtered"].lower() in ("true", "1") if "Filtered" in depth else None,
        intrinsics=_intrinsics(root, depth, path),
        pixel_size_mm=_float_field(depth, "PixelSize", path),
        simulated_aperture=_float_field(blur, "SimulatedAperture", path),
    )


def dequantize(stored: np.ndarray, info: AppleDepthInfo, path: str | Path | None) -> np.ndarray:
    """`value = Fmin + (v − Imin)/(Imax − Imin)·(Fmax − Fmin)` as float32."""
    ranges = (info.int_min, info.int_max, info.float_min, info.float_max)
    if any(value is None for value in ranges):
        raise CaptureError(path, "depth XMP lacks IntMin/IntMax/FloatMin/FloatMaxValue")
    int_min, int_max, float_min, float_max = ranges
    if int_max <= int_min:
        raise CaptureError(path, f"depth XMP has IntMaxValue {int_max} <= IntMinValue {int_min}")
    scale = (float_max - float_min) / (int_max - int_min)
    return (float_min + (stored.astype(np.float64) - int_min) * scale).astype(np.float32)


def build_apple_depth_xmp(info: AppleDepthInfo) -> bytes:
    """An XMP packet with `info`'s fields, laid out like the ones iPhones write."""
    fields: list[tuple[str, object]] = [
        ("apdi:AuxiliaryImageType", info.aux_type),
        ("apdi:NativeFormat", info.native_format and code_from_fourcc(info.native_format)),
        ("apdi:StoredFormat", info.stored_format and code_from_fourcc(info.stored_format)),
        ("apdi:IntMinValue", info.int_min),
        ("apdi:IntMaxValue", info.int_max),
        ("apdi:FloatMinValue", info.float_min),
        ("apdi:FloatMaxValue", info.float_max),
        ("depthData:Accuracy", info.accuracy),
        ("depthData:Quality", info.quality),
        ("depthData:Filtered", None if info.filtered is None else str(info.filtered)),
        ("depthData:PixelSize", info.pixel_size_mm),
        ("depthBlurEffect:SimulatedAperture", info.simulated_aperture),
    ]
    lines = [
        f"<{name}>{escape(str(value))}</{name}>" for name, value in fields if value is not None
    ]
    if (k := info.intrinsics) is not None:
        matrix = (k.fx, 0.0, 0.0, 0.0, k.fy, 0.0, k.cx, k.cy, 1.0)  # column-major
        items = "".join(f"<rdf:li>{value!r}</rdf:li>" for value in matrix)
        lines += [
            f"<depthData:IntrinsicMatrix><rdf:Seq>{items}</rdf:Seq></depthData:IntrinsicMatrix>",
            f"<depthData:IntrinsicMatrixReferenceWidth>{k.reference_width}"
            "</depthData:IntrinsicMatrixReferenceWidth>",
            f"<depthData:IntrinsicMatrixReferenceHeight>{k.reference_height}"
            "</depthData:IntrinsicMatrixReferenceHeight>",
        ]
    body = "\n".join(lines)
    return (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        f'<rdf:RDF xmlns:rdf="{RDF_NS}">'
        f'<rdf:Description rdf:about="" xmlns:apdi="{APDI_NS}" xmlns:depthData="{DEPTH_DATA_NS}"'
        f' xmlns:depthBlurEffect="{DEPTH_BLUR_NS}">\n{body}\n'
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
    ).encode()


def _float_field(values: dict[str, str], name: str, path: str | Path | None) -> float | None:
    if name not in values:
        return None
    try:
        number = float(values[name])
    except ValueError:
        raise CaptureError(
            path, f"depth XMP field {name}={values[name]!r} is not a number"
        ) from None
    if not math.isfinite(number):
        raise CaptureError(path, f"depth XMP field {name} is not finite")
    return number


def _int_field(values: dict[str, str], name: str, path: str | Path | None) -> int | None:
    number = _float_field(values, name, path)
    if number is None:
        return None
    if number != int(number):
        raise CaptureError(path, f"depth XMP field {name}={values[name]!r} is not an integer")
    return int(number)


def _format_field(values: dict[str, str], name: str, path: str | Path | None) -> str | None:
    """A pixel format, written as its decimal code; a four-character spelling is also taken."""
    text = values.get(name)
    if text is None or (len(text) == 4 and not text.isdigit()):
        return text
    code = _int_field(values, name, path)
    if not 0 <= code < 2**32:
        raise CaptureError(path, f"depth XMP field {name}={text!r} is not a pixel format")
    return fourcc_from_code(code)


def _intrinsics(
    root: Element, values: dict[str, str], path: str | Path | None
) -> Intrinsics | None:
    """`depthData:IntrinsicMatrix` (column-major 3×3, as an rdf:Seq or a spaced list)."""
    matrix = _number_list(root, values, "IntrinsicMatrix", path)
    if matrix is None:
        return None
    width = _int_field(values, "IntrinsicMatrixReferenceWidth", path)
    height = _int_field(values, "IntrinsicMatrixReferenceHeight", path)
    if len(matrix) != 9 or width is None or height is None or width <= 0 or height <= 0:
        raise CaptureError(path, "depth XMP intrinsics are not a 3x3 matrix with a reference size")
    fx, fy, cx, cy = matrix[0], matrix[4], matrix[6], matrix[7]
    if fx <= 0 or fy <= 0:
        raise CaptureError(path, f"depth XMP intrinsics have non-positive focal lengths {fx}, {fy}")
    return Intrinsics(fx, fy, cx, cy, width, height)


def _number_list(
    root: Element, values: dict[str, str], name: str, path: str | Path | None
) -> list[float] | None:
    element = root.find(f".//{{{DEPTH_DATA_NS}}}{name}")
    if element is not None:
        texts = [item.text or "" for item in element.iter(f"{{{RDF_NS}}}li")]
        texts = texts or (element.text or "").split()
    elif name in values:
        texts = values[name].split()
    else:
        return None
    numbers = [_float_field({name: text}, name, path) for text in texts]
    return [number for number in numbers if number is not None]
