"""Read iPhone portrait captures (HEIC and MPF JPEG) into `CaptureRecord`s; write MPF portraits."""

from __future__ import annotations

from pathlib import Path

from dc2kit.capture.errors import CaptureError
from dc2kit.capture.files import read_file_head
from dc2kit.capture.record import CaptureRecord
from dc2kit.ios_bridge.apple_depth_xmp import (
    AppleDepthInfo,
    build_apple_depth_xmp,
    parse_apple_depth_xmp,
)
from dc2kit.ios_bridge.heic import read_iphone_heic
from dc2kit.ios_bridge.portrait_jpeg import read_iphone_jpeg, write_iphone_portrait_jpeg

__all__ = [
    "AppleDepthInfo",
    "build_apple_depth_xmp",
    "parse_apple_depth_xmp",
    "read_iphone_capture",
    "read_iphone_heic",
    "read_iphone_jpeg",
    "write_iphone_portrait_jpeg",
]


def read_iphone_capture(path: str | Path) -> CaptureRecord:
    """Read a HEIC or a portrait JPEG, chosen by the file's signature rather than its name."""
    path = Path(path)
    head = read_file_head(path, 12)
    if head.startswith(b"\xff\xd8\xff"):
        return read_iphone_jpeg(path)
    if head[4:8] == b"ftyp":
        return read_iphone_heic(path)
    raise CaptureError(path, "neither a HEIF/HEIC nor a JPEG file (unrecognised signature)")
