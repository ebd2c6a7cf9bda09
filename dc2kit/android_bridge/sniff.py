"""Pick the right Android reader for a JPEG from the XMP namespaces it carries."""

from __future__ import annotations

from pathlib import Path

from dc2kit.android_bridge._common import uses_namespace
from dc2kit.android_bridge.dynamic_depth import parse_dynamic_depth
from dc2kit.android_bridge.dynamic_depth_spec import DEVICE_NS
from dc2kit.android_bridge.gdepth import GDEPTH_NS, parse_gdepth
from dc2kit.capture.errors import NoDepthError
from dc2kit.capture.files import read_file_bytes
from dc2kit.capture.jpeg_xmp import read_jpeg_xmp
from dc2kit.capture.record import CaptureRecord
from dc2kit.capture.xmp import parse_xmp


def read_android_capture(path: str | Path) -> CaptureRecord:
    """Read a Dynamic Depth or GDepth JPEG; a JPEG with neither raises NoDepthError."""
    data = read_file_bytes(path)
    jpeg = read_jpeg_xmp(data, path)
    roots = [parse_xmp(packet, path) for packet in (jpeg.standard, jpeg.extended) if packet]
    if any(uses_namespace(root, DEVICE_NS) for root in roots):
        return parse_dynamic_depth(data, path, jpeg)
    if any(uses_namespace(root, GDEPTH_NS) for root in roots):
        return parse_gdepth(data, path, jpeg)
    raise NoDepthError(path, "JPEG has no Dynamic Depth or GDepth metadata")
