"""Android depth captures: Dynamic Depth and GDepth JPEGs, Camera2 DEPTH16, ARCore depth.

Readers return a `CaptureRecord` and raise only `CaptureError` (or its subclasses) for bad
input. Writers raise ValueError, naming the destination, for arguments they cannot store, and
replace the destination atomically.
"""

from dc2kit.android_bridge.arcore import (
    decode_arcore_confidence,
    decode_arcore_depth,
    read_arcore_depth,
)
from dc2kit.android_bridge.depth16 import (
    decode_depth16,
    encode_depth16,
    read_depth16,
    write_depth16,
)
from dc2kit.android_bridge.dynamic_depth import read_dynamic_depth
from dc2kit.android_bridge.dynamic_depth_writer import write_dynamic_depth
from dc2kit.android_bridge.gdepth import read_gdepth
from dc2kit.android_bridge.sniff import read_android_capture

__all__ = [
    "decode_arcore_confidence",
    "decode_arcore_depth",
    "decode_depth16",
    "encode_depth16",
    "read_android_capture",
    "read_arcore_depth",
    "read_depth16",
    "read_dynamic_depth",
    "read_gdepth",
    "write_depth16",
    "write_dynamic_depth",
]
