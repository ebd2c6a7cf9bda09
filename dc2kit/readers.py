"""Open any supported capture file as a `CaptureRecord`, chosen by content, never by name.

HEIF files go to the iPhone reader; JPEGs carrying Dynamic Depth or GDepth XMP to the Android
reader, other JPEGs to the iPhone portrait (MPF) reader; an image with a separate depth file to
the generic pair reader. This dispatch sits above `capture/` and both bridges, which import
`capture/` but never this module, so imports point one way.

Records come out in displayed orientation: JPEG captures are turned by their EXIF Orientation
here, libheif turns HEIF items itself, and the pair reader turns pairs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dc2kit.android_bridge import read_android_capture
from dc2kit.capture.errors import NoDepthError, UnsupportedCaptureError
from dc2kit.capture.files import read_file_bytes, read_file_head
from dc2kit.capture.orientation import jpeg_orientation, oriented
from dc2kit.capture.pair import PairCalibration, load_displayed_rgb, read_pair
from dc2kit.capture.record import Accuracy, CaptureRecord, DepthKind, DepthUnits
from dc2kit.ios_bridge import read_iphone_heic, read_iphone_jpeg


def open_capture(
    path: str | Path,
    *,
    depth: str | Path | None = None,
    kind: DepthKind | str = DepthKind.DISPARITY,
    units: DepthUnits | str = DepthUnits.RELATIVE,
    accuracy: Accuracy | str = Accuracy.RELATIVE,
    calibration: PairCalibration | None = None,
) -> CaptureRecord:
    """Read `path`; with `depth`, pair it with that depth or disparity map of the stated kind
    (and the scale, missing value and lens facts of `calibration`)."""
    path = Path(path)
    if depth is not None:
        return read_pair(
            path, depth, kind=kind, units=units, accuracy=accuracy, calibration=calibration
        )
    head = read_file_head(path, 12)
    if head[4:8] == b"ftyp":
        return read_iphone_heic(path)
    if not head.startswith(b"\xff\xd8\xff"):
        raise UnsupportedCaptureError(
            path, "not a HEIC or JPEG depth capture (give a depth map with --depth for others)"
        )
    record = _read_depth_jpeg(path)
    # Every JPEG depth format stores its depth in the photo's stored grid: one turn for both.
    return oriented(record, jpeg_orientation(read_file_bytes(path), path))


def _read_depth_jpeg(path: Path) -> CaptureRecord:
    try:
        return read_android_capture(path)
    except NoDepthError:
        pass
    try:
        return read_iphone_jpeg(path)
    except NoDepthError:
        raise NoDepthError(
            path, "no depth found (looked for Dynamic Depth, GDepth and Apple MPF depth)"
        ) from None


def open_capture_image(path: str | Path) -> np.ndarray:
    """A plain photo (e.g. the ultra-wide frame) as RGB uint8 as displayed, bounded like every
    capture read."""
    return load_displayed_rgb(path)
