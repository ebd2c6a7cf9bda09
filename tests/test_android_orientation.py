"""DEPTH16 and ARCore depth beside a turned camera image: photo, depth and confidence as displayed.

References are numpy's own rotations and flips (checked against Pillow's `exif_transpose` on
the photo), never dc2kit's orientation table.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import ExifTags, Image, ImageOps

from dc2kit.android_bridge import encode_depth16, read_arcore_depth, read_depth16
from dc2kit.capture.errors import CaptureError
from dc2kit.capture.orientation import orientation_for_rotation
from dc2kit.cli.capture import capture_summary

# Stored → displayed for each EXIF orientation, in numpy's terms (rot90 turns anticlockwise).
NUMPY_TURN = {
    1: lambda a: a,
    2: np.fliplr,
    3: lambda a: np.rot90(a, 2),
    4: np.flipud,
    5: lambda a: np.rot90(np.fliplr(a), 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: np.rot90(np.fliplr(a), -1),
    8: lambda a: np.rot90(a, 1),
}
HEIGHT, WIDTH = 24, 32  # the stored camera image; depth at half size


def _photo() -> np.ndarray:
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    return np.stack([x * 8, y * 10, (x + y) * 4], -1).astype(np.uint8)


def _depth() -> np.ndarray:
    """Whole millimetres, all different (so any wrong turn shows), one hole (NaN)."""
    depth = (np.arange(HEIGHT // 2 * WIDTH // 2, dtype=np.float32) + 500).reshape(HEIGHT // 2, -1)
    depth /= 1000
    depth[0, 1] = np.nan
    return depth


def _confidence() -> np.ndarray:
    return np.tile(np.arange(WIDTH // 2) % 8 / 7, (HEIGHT // 2, 1)).astype(np.float32)


def _jpeg(path, orientation: int | None) -> None:
    exif = Image.Exif()
    if orientation is not None:
        exif[ExifTags.Base.Orientation] = orientation
    Image.fromarray(_photo()).save(path, quality=95, exif=exif)


def _depth16_file(tmp_path):
    path = tmp_path / "depth.raw"
    path.write_bytes(encode_depth16(_depth(), _confidence()))
    return path


def _assert_equal_with_holes(actual: np.ndarray, expected: np.ndarray) -> None:
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))
    np.testing.assert_allclose(actual[~np.isnan(actual)], expected[~np.isnan(expected)], rtol=1e-6)


def test_numpy_reference_turns_match_pillows_exif_transpose(tmp_path):
    for orientation, turn in NUMPY_TURN.items():
        _jpeg(tmp_path / "p.jpg", orientation)
        with Image.open(tmp_path / "p.jpg") as image:
            stored = np.asarray(image.convert("RGB"))
            displayed = np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
        np.testing.assert_array_equal(turn(stored), displayed)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_depth16_beside_a_turned_jpeg_comes_out_displayed(tmp_path, orientation):
    photo = tmp_path / "photo.jpg"
    _jpeg(photo, orientation)
    record = read_depth16(_depth16_file(tmp_path), photo, width=WIDTH // 2, height=HEIGHT // 2)
    turn = NUMPY_TURN[orientation]
    with Image.open(photo) as image:
        stored = np.asarray(image.convert("RGB"))
    np.testing.assert_array_equal(record.image, turn(stored))
    _assert_equal_with_holes(record.depth, turn(np.rint(_depth() * 1000) / 1000))
    confidence = np.where(np.isnan(_depth()), 0, np.rint(_confidence() * 7) / 7)
    np.testing.assert_allclose(record.confidence, turn(confidence), atol=1e-6)
    assert record.orientation == orientation
    summary = capture_summary(record)
    assert summary["orientation"] == orientation
    assert (summary["image"]["width"], summary["image"]["height"]) == record.image_size
    assert summary["depth"]["width"] / summary["depth"]["height"] == pytest.approx(
        record.image_size[0] / record.image_size[1]
    )
    if orientation != 1:
        assert any("applied to the photo and to the depth map" in note for note in record.notes)


@pytest.mark.parametrize("degrees", [0, 90, 180, 270])
def test_arcore_with_a_rotation_given_by_the_caller(tmp_path, degrees):
    """An app that keeps the camera image as an array gives the sensor's clockwise rotation."""
    millimetres = np.rint(np.nan_to_num(_depth()) * 1000).astype(np.uint16)
    Image.fromarray(millimetres).save(tmp_path / "depth.png")
    codes = np.rint(_confidence() * 255).astype(np.uint8)
    Image.fromarray(codes).save(tmp_path / "conf.png")
    record = read_arcore_depth(
        tmp_path / "depth.png",
        _photo(),
        confidence_path=tmp_path / "conf.png",
        orientation=orientation_for_rotation(degrees),
    )
    clockwise = -degrees // 90
    np.testing.assert_array_equal(record.image, np.rot90(_photo(), clockwise))
    metres = np.where(millimetres > 0, millimetres / 1000, np.nan)
    _assert_equal_with_holes(record.depth, np.rot90(metres, clockwise))
    assert np.isnan(np.rot90(record.depth, -clockwise)[0, 1])
    np.testing.assert_allclose(record.confidence, np.rot90(codes / 255, clockwise), atol=1e-6)
    assert record.orientation == orientation_for_rotation(degrees)


def test_a_caller_orientation_overrides_the_files_and_says_so(tmp_path):
    photo = tmp_path / "photo.jpg"
    _jpeg(photo, 6)
    buffer = _depth16_file(tmp_path)
    record = read_depth16(buffer, photo, width=WIDTH // 2, height=HEIGHT // 2, orientation=3)
    assert record.orientation == 3
    _assert_equal_with_holes(record.depth, np.rot90(np.rint(_depth() * 1000) / 1000, 2))
    assert any("given by the caller" in note and "EXIF says 6" in note for note in record.notes)


@pytest.mark.parametrize("orientation", [6, 8])
def test_depth_already_displayed_is_recognised_by_its_aspect(tmp_path, orientation):
    """An ARCore PNG an app saved turned upright: only the photo turns, as for a pair."""
    photo = tmp_path / "photo.jpg"
    _jpeg(photo, orientation)
    displayed_mm = np.rint(NUMPY_TURN[orientation](np.nan_to_num(_depth())) * 1000)
    Image.fromarray(displayed_mm.astype(np.uint16)).save(tmp_path / "depth.png")
    record = read_arcore_depth(tmp_path / "depth.png", photo)
    assert record.image_size == (HEIGHT, WIDTH)
    _assert_equal_with_holes(record.depth, np.where(displayed_mm > 0, displayed_mm / 1000, np.nan))
    assert any("already in displayed orientation" in note for note in record.notes)


def test_orientation_outside_1_to_8(tmp_path):
    photo = tmp_path / "photo.jpg"
    _jpeg(photo, 9)
    buffer = _depth16_file(tmp_path)
    record = read_depth16(buffer, photo, width=WIDTH // 2, height=HEIGHT // 2)
    assert record.orientation == 1 and record.image_size == (WIDTH, HEIGHT)
    assert any("not 1–8: pixels used as stored" in note for note in record.notes)
    with pytest.raises(ValueError, match=r"depth\.raw: orientation 0 is not an EXIF orientation"):
        read_depth16(buffer, photo, width=WIDTH // 2, height=HEIGHT // 2, orientation=0)
    with pytest.raises(ValueError, match="not a multiple of 90"):
        orientation_for_rotation(45)
    assert [orientation_for_rotation(d) for d in (0, 90, 180, 270, -90, 450)] == [1, 6, 3, 8, 8, 6]


def test_a_turn_that_breaks_the_aspect_is_a_capture_error(tmp_path):
    """A turned photo does not excuse a depth map of another field of view."""
    buffer = tmp_path / "depth.raw"
    buffer.write_bytes(encode_depth16(np.ones((4, 6), np.float32)))
    with pytest.raises(CaptureError, match="different aspect ratios"):
        read_depth16(buffer, _photo(), width=6, height=4, orientation=6)
