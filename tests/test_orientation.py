"""EXIF orientation 1–8: photo and depth come out as displayed, focus points are displayed pixels.

References are Pillow's own rotations (`ImageOps.exif_transpose`, `Image.transpose`), never
dc2kit's transforms; files are written with dc2kit's Dynamic Depth writer and Pillow.
"""

from __future__ import annotations

import struct

import numpy as np
import pytest
from PIL import ExifTags, Image, ImageOps

from dc2kit.android_bridge import write_dynamic_depth
from dc2kit.capture.errors import UnsupportedCaptureError
from dc2kit.capture.exif_lens import SUBJECT_AREA
from dc2kit.capture.inputs import prepare_render
from dc2kit.capture.orientation import displayed_intrinsics, displayed_point, to_displayed
from dc2kit.capture.record import Intrinsics
from dc2kit.cli import main
from dc2kit.ios_bridge.heif_boxes import read_meta
from dc2kit.readers import open_capture
from dc2kit.samples import SAMPLES

ORIENTATIONS = range(1, 9)
TRANSPOSE = Image.Transpose
# What a viewer does to the stored pixels for each EXIF orientation (Pillow's names).
PILLOW_TURN = {
    1: None,
    2: TRANSPOSE.FLIP_LEFT_RIGHT,
    3: TRANSPOSE.ROTATE_180,
    4: TRANSPOSE.FLIP_TOP_BOTTOM,
    5: TRANSPOSE.TRANSPOSE,
    6: TRANSPOSE.ROTATE_270,
    7: TRANSPOSE.TRANSVERSE,
    8: TRANSPOSE.ROTATE_90,
}
HEIGHT, WIDTH = 48, 64  # stored photo; depth at half size
NEAR_BLOCK = (slice(0, 12), slice(0, 16))  # depth rows/cols of the near block (stored)


def _photo() -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)


def _depth() -> np.ndarray:
    """Metric depth at half size: 4 m everywhere, 1 m in the stored top-left block."""
    depth = np.full((HEIGHT // 2, WIDTH // 2), 4.0, np.float32)
    depth[NEAR_BLOCK] = 1.0
    return depth


def _reference(array: np.ndarray, orientation: int) -> np.ndarray:
    """Pillow's rotation of a float map (mode F) or an RGB image."""
    turn = PILLOW_TURN[orientation]
    image = Image.fromarray(array)
    return np.asarray(image if turn is None else image.transpose(turn))


def _near_point_displayed(orientation: int) -> tuple[float, float]:
    """Centre of the near block in displayed photo pixels, from Pillow's rotated depth."""
    displayed = _reference(_depth(), orientation)
    rows, cols = np.nonzero(displayed == 1.0)
    scale = 2  # depth is half the photo's size
    return (cols.mean() + 0.5) * scale, (rows.mean() + 0.5) * scale


def _exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    return exif


def _with_exif_segment(jpeg: bytes, orientation: int) -> bytes:
    """The JPEG with an EXIF APP1 segment (Orientation only) right after SOI."""
    payload = _exif(orientation).tobytes()
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_transforms_match_pillows_exif_transpose(orientation):
    photo = _photo()
    stored = Image.fromarray(photo)
    stored.info["exif"] = _exif(orientation).tobytes()
    stored.getexif()[ExifTags.Base.Orientation] = orientation
    expected = np.asarray(ImageOps.exif_transpose(stored))
    np.testing.assert_array_equal(to_displayed(photo, orientation), expected)


@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_points_and_intrinsics_follow_the_pixels(orientation):
    marked = np.zeros((HEIGHT, WIDTH), np.float32)
    marked[5, 9] = 1.0  # pixel centre (9.5, 5.5)
    rows, cols = np.nonzero(_reference(marked, orientation))
    x, y = displayed_point(9.5, 5.5, WIDTH, HEIGHT, orientation)
    assert (x, y) == (cols[0] + 0.5, rows[0] + 0.5)
    k = displayed_intrinsics(Intrinsics(100.0, 90.0, 9.5, 5.5, WIDTH, HEIGHT), orientation)
    swapped = orientation >= 5
    assert (k.reference_width, k.reference_height) == (
        (HEIGHT, WIDTH) if swapped else (WIDTH, HEIGHT)
    )
    assert (k.fx, k.fy) == ((90.0, 100.0) if swapped else (100.0, 90.0))
    assert (k.cx, k.cy) == (x, y)


def _check_displayed(record, orientation, photo_reference):
    np.testing.assert_array_equal(record.image, photo_reference)
    np.testing.assert_allclose(record.depth, _reference(_depth(), orientation), rtol=0.02)
    assert record.orientation == orientation
    inputs = prepare_render(
        record, focus_point=_near_point_displayed(orientation), blur_strength=4, max_side=0
    )
    assert inputs.focus_disparity == pytest.approx(1.0, rel=0.02)  # the near block, 1/(1 m)


@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_pair_comes_out_displayed_with_focus_in_displayed_pixels(tmp_path, orientation):
    photo = tmp_path / "photo.png"
    Image.fromarray(_photo()).save(photo, exif=_exif(orientation))
    np.save(tmp_path / "depth.npy", _depth())  # depth in the photo's stored grid
    record = open_capture(photo, depth=tmp_path / "depth.npy", kind="depth", units="m")
    _check_displayed(record, orientation, _reference(_photo(), orientation))
    if orientation != 1:
        assert any("stored pixels" in note for note in record.notes)


@pytest.mark.parametrize("orientation", [5, 6, 7, 8])
def test_pair_depth_already_displayed_is_recognised_by_its_aspect(tmp_path, orientation):
    photo = tmp_path / "photo.png"
    Image.fromarray(_photo()).save(photo, exif=_exif(orientation))
    np.save(tmp_path / "depth.npy", _reference(_depth(), orientation))
    record = open_capture(photo, depth=tmp_path / "depth.npy", kind="depth", units="m")
    np.testing.assert_array_equal(record.depth, _reference(_depth(), orientation))
    assert any("already in displayed orientation" in note for note in record.notes)


@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_dynamic_depth_comes_out_displayed_with_focus_in_displayed_pixels(tmp_path, orientation):
    path = tmp_path / "dd.jpg"
    k = Intrinsics(80.0, 80.0, 30.0, 20.0, WIDTH, HEIGHT)
    write_dynamic_depth(path, _photo(), _depth(), bit_depth=16, intrinsics=k, format="RangeLinear")
    path.write_bytes(_with_exif_segment(path.read_bytes(), orientation))
    with Image.open(path) as stored:
        assert stored.getexif()[ExifTags.Base.Orientation] == orientation
        photo_reference = np.asarray(ImageOps.exif_transpose(stored).convert("RGB"))
    record = open_capture(path)
    _check_displayed(record, orientation, photo_reference)
    cx, cy = displayed_point(30.0, 20.0, WIDTH, HEIGHT, orientation)
    assert (record.intrinsics.cx, record.intrinsics.cy) == (cx, cy)


def test_capture_info_reports_the_orientation(tmp_path, capsys):
    path = tmp_path / "dd.jpg"
    write_dynamic_depth(path, _photo(), _depth())
    path.write_bytes(_with_exif_segment(path.read_bytes(), 6))
    assert main(["capture", "info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "image 48x64 as displayed (orientation 6)" in out


@pytest.mark.parametrize("orientation", [0, 9, 300])
def test_orientation_outside_1_to_8_keeps_stored_pixels_and_says_so(tmp_path, orientation):
    path = tmp_path / "dd.jpg"
    write_dynamic_depth(path, _photo(), _depth())
    path.write_bytes(_with_exif_segment(path.read_bytes(), orientation))
    record = open_capture(path)
    assert record.image.shape == (HEIGHT, WIDTH, 3) and record.orientation == 1
    assert any(f"Orientation {orientation} is not 1–8" in note for note in record.notes)
    photo = tmp_path / "photo.png"
    Image.fromarray(_photo()).save(photo, exif=_exif(orientation))
    np.save(tmp_path / "depth.npy", _depth())
    pair = open_capture(photo, depth=tmp_path / "depth.npy", kind="depth", units="m")
    np.testing.assert_array_equal(pair.depth, _depth())
    assert any("pixels used as stored" in note for note in pair.notes)


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_the_cameras_focus_point_turns_with_the_pixels(tmp_path, orientation):
    exif = _exif(orientation)
    exif.get_ifd(ExifTags.IFD.Exif)[SUBJECT_AREA] = (8, 6)  # stored pixels, in the near block
    path = tmp_path / "dd.jpg"
    write_dynamic_depth(path, _photo(), _depth(), exif=exif)
    record = open_capture(path)
    assert record.camera_focus.point == displayed_point(8, 6, WIDTH, HEIGHT, orientation)
    x, y = record.camera_focus.point
    scale = record.depth_size[0] / record.image_size[0]
    assert record.depth[int(y * scale), int(x * scale)] == pytest.approx(1.0, rel=0.02)


def _ipma_entry_offsets(data: bytes, item_id: int) -> list[tuple[int, int]]:
    """(byte offset, property index) of each ipma association of `item_id` (narrow entries)."""
    start = data.index(b"ipma") + 4
    version, flags = data[start], int.from_bytes(data[start + 1 : start + 4], "big")
    assert flags & 1 == 0  # one-byte entries, as in the sample
    count, cursor = int.from_bytes(data[start + 4 : start + 8], "big"), start + 8
    id_bytes = 2 if version < 1 else 4
    for _ in range(count):
        current = int.from_bytes(data[cursor : cursor + id_bytes], "big")
        n, cursor = data[cursor + id_bytes], cursor + id_bytes + 1
        if current == item_id:
            return [(cursor + i, data[cursor + i] & 0x7F) for i in range(n)]
        cursor += n
    raise AssertionError(f"item {item_id} not in ipma")


def test_heic_depth_turns_with_the_photo_and_a_depth_turned_otherwise_is_refused(tmp_path):
    data = SAMPLES["iphone"].path.read_bytes()
    meta = read_meta(data, None)
    depth_id = meta.depth_item_ids()[0]
    # The real iPhone 13 Pro file gives photo and depth one and the same irot property.
    assert meta.transforms[meta.primary_id] == meta.transforms[depth_id] == (("irot", b"\x00"),)
    entries = _ipma_entry_offsets(data, depth_id)
    irot_index = next(
        index for index, kind in enumerate(_property_kinds(data), 1) if kind == "irot"
    )
    offset = next(offset for offset, index in entries if index == irot_index)
    edited = bytearray(data)
    edited[offset] = (edited[offset] & 0x80) | entries[0][1]  # irot → the depth's own hvcC
    (tmp_path / "turned.heic").write_bytes(bytes(edited))
    with pytest.raises(UnsupportedCaptureError, match="not transformed like the photo"):
        open_capture(tmp_path / "turned.heic")


def _property_kinds(data: bytes) -> list[str]:
    """Kinds of the ipco properties in order (boxes are walked by their sizes)."""
    start = data.index(b"ipco") + 4
    end = start - 8 + int.from_bytes(data[start - 8 : start - 4], "big")
    kinds, cursor = [], start
    while cursor < end:
        size = int.from_bytes(data[cursor : cursor + 4], "big")
        kinds.append(data[cursor + 4 : cursor + 8].decode("ascii"))
        cursor += size
    return kinds
