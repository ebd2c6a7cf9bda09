"""Open any supported capture file as a `CaptureRecord`, chosen by content, never by name.

HEIF files go to the iPhone reader; JPEGs carrying Dynamic Depth or GDepth XMP to the Android
reader, other JPEGs to the iPhone portrait (MPF) reader; an image with a separate depth file to
the generic pair reader.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dc2kit.android_bridge import read_android_capture
from dc2kit.capture.errors import CaptureError, NoDepthError, UnsupportedCaptureError
from dc2kit.capture.files import one_line
from dc2kit.capture.pair import load_rgb, read_pair
from dc2kit.capture.record import Accuracy, CaptureRecord, DepthKind, DepthUnits
from dc2kit.ios_bridge import read_iphone_heic, read_iphone_jpeg


def _signature(path: Path) -> bytes:
    try:
        with path.open("rb") as stream:
            return stream.read(12)
    except OSError as error:
        raise CaptureError(path, f"cannot read file ({one_line(error)})") from error


def open_capture(
    path: str | Path,
    *,
    depth: str | Path | None = None,
    kind: DepthKind | str = DepthKind.DISPARITY,
    units: DepthUnits | str = DepthUnits.RELATIVE,
    accuracy: Accuracy | str = Accuracy.RELATIVE,
) -> CaptureRecord:
    """Read `path`; with `depth`, pair it with that depth or disparity map of the stated kind."""
    path = Path(path)
    if depth is not None:
        return read_pair(path, depth, kind=kind, units=units, accuracy=accuracy)
    head = _signature(path)
    if head[4:8] == b"ftyp":
        return read_iphone_heic(path)
    if not head.startswith(b"\xff\xd8\xff"):
        raise UnsupportedCaptureError(
            path, "not a HEIC or JPEG depth capture (give a depth map with --depth for others)"
        )
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
    """A plain photo (e.g. the ultra-wide frame) as RGB uint8, bounded like every capture read."""
    return load_rgb(path)
