"""GDepth JPEGs (Google Camera "Lens Blur"): the depth map is base64 PNG/JPEG inside XMP.

The primary image is the blurred render; the extended XMP carries `GDepth:Data` (depth) and
`GImage:Data` (the all-in-focus original). Lens Blur depth comes from structure-from-motion
with an arbitrary scale, so it is recorded as relative depth.
"""

from __future__ import annotations

import base64
import binascii
import re
from pathlib import Path
from xml.etree.ElementTree import Element

import cv2
import numpy as np
from PIL import Image

from dc2kit.android_bridge._common import (
    decode_range,
    embedded_image,
    normalised_codes,
    parse_float,
    parse_range,
    primary_rgb,
)
from dc2kit.capture.decoders import rgb_array
from dc2kit.capture.errors import CaptureError, NoDepthError
from dc2kit.capture.exif_lens import jpeg_exif, with_exif_lens
from dc2kit.capture.files import read_file_bytes
from dc2kit.capture.jpeg_xmp import JpegXmp, read_jpeg_xmp
from dc2kit.capture.limits import MAX_DEPTH_PIXELS, MAX_IMAGE_PIXELS
from dc2kit.capture.record import Accuracy, CaptureRecord, DepthKind, DepthUnits, FocusFacts
from dc2kit.capture.xmp import namespace_values, parse_xmp

GDEPTH_NS = "http://ns.google.com/photos/1.0/depthmap/"
GFOCUS_NS = "http://ns.google.com/photos/1.0/focus/"
GIMAGE_NS = "http://ns.google.com/photos/1.0/image/"
FOCUS_FIELDS = ("BlurAtInfinity", "FocalDistance", "FocalPointX", "FocalPointY")
WHITESPACE = re.compile(rb"\s+")


def read_gdepth(path: str | Path) -> CaptureRecord:
    """Read a Lens Blur JPEG; CaptureError (or a subclass) for anything unusable."""
    data = read_file_bytes(path)
    return parse_gdepth(data, path, read_jpeg_xmp(data, path))


def parse_gdepth(data: bytes, path: str | Path, jpeg: JpegXmp) -> CaptureRecord:
    """Decode a GDepth file whose bytes and XMP segments are already read."""
    roots = [parse_xmp(packet, path) for packet in (jpeg.standard, jpeg.extended) if packet]
    depth_fields = _merged(roots, GDEPTH_NS)
    if "Data" not in depth_fields:
        raise NoDepthError(path, "no GDepth:Data depth image in the XMP")
    depth_format, near, far = parse_range(depth_fields, path)
    image = primary_rgb(data, jpeg.primary_end, path)
    depth_image = _base64_image(
        depth_fields["Data"], MAX_DEPTH_PIXELS, len(data), path, "GDepth:Data"
    )
    dn = normalised_codes(depth_image, path, "GDepth:Data")
    depth = _stretched(decode_range(dn, depth_format, near, far), image.shape)
    extras: dict[str, object] = {"depth_format": depth_format, "near": near, "far": far}
    focus = extras["focus"] = _focus(_merged(roots, GFOCUS_NS), path)
    image_fields = _merged(roots, GIMAGE_NS)
    if "Data" in image_fields:
        original = _base64_image(
            image_fields["Data"], MAX_IMAGE_PIXELS, len(data), path, "GImage:Data"
        )
        extras["original_image"] = rgb_array(original, path, "GImage:Data")
    record = CaptureRecord(
        image=image,
        depth=depth,
        kind=DepthKind.DEPTH,
        units=DepthUnits.RELATIVE,
        accuracy=Accuracy.RELATIVE,
        source_format="gdepth",
        path=Path(path),
        extras=extras,
    )
    record.render_focus = _render_focus(focus, image.shape, record.notes)
    return with_exif_lens(record, jpeg_exif(data, path))


def _merged(roots: list[Element], namespace: str) -> dict[str, str]:
    """Values of `namespace` from the standard packet, then the extended one."""
    merged: dict[str, str] = {}
    for root in roots:
        for key, value in namespace_values(root, namespace).items():
            merged.setdefault(key, value)
    return merged


def _focus(values: dict[str, str], path: str | Path) -> dict[str, float]:
    """The Lens Blur focus settings present (focal point normalised to the image size)."""
    return {key: parse_float(values, key, path) for key in FOCUS_FIELDS if key in values}


def _render_focus(
    focus: dict[str, float], shape: tuple[int, ...], notes: list[str]
) -> FocusFacts | None:
    """The Lens Blur render baked into the primary: focus distance (depth units), blur at
    infinity (fraction of the image width) and focal point (normalised, here in pixels)."""
    distance, blur = focus.get("FocalDistance"), focus.get("BlurAtInfinity")
    if distance is None or blur is None:
        return None
    if distance <= 0 or blur < 0:
        notes.append(
            f"GFocus FocalDistance {distance:g} / BlurAtInfinity {blur:g} describe no lens "
            "(need > 0 and >= 0): the primary's blur is unknown"
        )
        return None
    x, y = focus.get("FocalPointX"), focus.get("FocalPointY")
    point = None
    if x is not None and y is not None and 0 <= x < 1 and 0 <= y < 1:
        point = (x * shape[1], y * shape[0])
    elif x is not None or y is not None:
        notes.append(f"GFocus:FocalPointX/Y ({x}, {y}) is not a point of the image: ignored")
    fields = ["FocalDistance", "BlurAtInfinity"] + (["FocalPointX/Y"] if point else [])
    return FocusFacts(
        point=point,
        distance=distance,
        blur_at_infinity=blur,
        source="GDepth " + ", ".join(f"GFocus:{name}" for name in fields),
    )


def _base64_image(
    text: str, max_pixels: int, file_bytes: int, path: str | Path, field: str
) -> Image.Image:
    """A PNG/JPEG stored as strict base64 (whitespace allowed, other stray characters refused),
    bounded by `max_pixels` and by the size of the whole file."""
    try:
        encoded = base64.b64decode(WHITESPACE.sub(b"", text.encode("ascii")), validate=True)
    except (binascii.Error, UnicodeEncodeError) as error:
        raise CaptureError(path, f"{field} is not valid base64 ({error})") from error
    return embedded_image(encoded, max_pixels, file_bytes, path, field)


def _stretched(depth: np.ndarray, image_shape: tuple[int, ...]) -> np.ndarray:
    """Depth resized to the colour image, as Lens Blur stretches it to the photo."""
    height, width = image_shape[:2]
    if depth.shape == (height, width):
        return depth
    return cv2.resize(depth, (width, height), interpolation=cv2.INTER_LINEAR)
