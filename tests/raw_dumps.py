"""What the raw depth dump tests share: a photo of known pixels and padded buffer rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from dc2kit.capture.record import CaptureRecord


def gradient_photo(tmp_path: Path, width: int, height: int) -> Path:
    """A PNG photo whose every pixel differs from its neighbours (so any wrong turn shows)."""
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x * 4 % 256, y * 5 % 256, (x + y) % 256], axis=-1).astype(np.uint8)
    path = tmp_path / "photo.png"
    Image.fromarray(rgb).save(path)
    return path


def padded_rows(rows: np.ndarray, stride: int) -> bytes:
    """Rows of bytes zero-padded to `stride`, the last row's padding left out (as Android may)."""
    padded = np.zeros((rows.shape[0], stride), np.uint8)
    padded[:, : rows.shape[1]] = rows
    return padded.tobytes()[: stride * (rows.shape[0] - 1) + rows.shape[1]]


# Clockwise degrees (None: no --rotation) → the same turn in numpy's anticlockwise quarter turns.
NUMPY_TURNS = {None: 0, 0: 0, 90: -1, 180: 2, 270: 1}


def assert_read_as_displayed(
    record: CaptureRecord,
    photo: Path,
    depth: np.ndarray,
    confidence: np.ndarray,
    rotation: int | None,
) -> None:
    """The record holds `depth` and `confidence` (as stored) and the photo, all turned by
    `rotation` with numpy's rotations; NaN holes compare equal."""
    turns = NUMPY_TURNS[rotation]
    np.testing.assert_allclose(record.depth, np.rot90(depth, turns), rtol=1e-6)
    np.testing.assert_allclose(record.confidence, np.rot90(confidence, turns), atol=1e-6)
    np.testing.assert_array_equal(record.image, np.rot90(np.asarray(Image.open(photo)), turns))
    assert record.units.value == "m" and record.accuracy.value == "absolute"
