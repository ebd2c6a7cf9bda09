"""A HEIC cut by its `clap` (clean aperture): libheif crops the pixels, and the reader moves what
refers to the coded pixels (EXIF SubjectArea, Apple's intrinsics) with them.

The cropped files are the real iPhone sample with `clap` boxes added (tests/heic_edit.py). The
references are slices of the uncropped record at the corner ISO/IEC 14496-12 defines (centre
offset from (W − 1)/2), and, for fractional corners, what libheif itself decodes.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pillow_heif
import pytest
from heic_edit import clap_box, with_clap

from dc2kit.capture.errors import CaptureError, UnsupportedCaptureError
from dc2kit.ios_bridge.clean_aperture import clean_aperture, item_crop
from dc2kit.ios_bridge.heic import read_iphone_heic
from dc2kit.ios_bridge.heif_boxes import read_meta
from dc2kit.samples import SAMPLES

PHOTO, DEPTH = (4032, 3024), (768, 576)  # the sample's coded sizes: 5.25 photo pixels per depth


@pytest.fixture(scope="module")
def sample():
    data = SAMPLES["iphone"].path.read_bytes()
    meta = read_meta(data, None)
    return data, meta.primary_id, meta.depth_item_ids()[0], read_iphone_heic(SAMPLES["iphone"].path)


def _spec_corner(coded: int, kept: int, offset: Fraction) -> Fraction:
    """14496-12: the clean aperture's centre is `offset` from the coded centre (coded − 1)/2;
    its first pixel centre is (kept − 1)/2 before that."""
    return offset + Fraction(coded - 1, 2) - Fraction(kept - 1, 2)


def _cropped_file(tmp_path, sample, photo_clap, depth_clap, name="cropped.heic") -> Path:
    data, photo_id, depth_id, _ = sample
    edited = with_clap(
        with_clap(data, [photo_id], clap_box(*photo_clap)), [depth_id], clap_box(*depth_clap)
    )
    (tmp_path / name).write_bytes(edited)
    return tmp_path / name


# (photo clap, depth clap): width, height, horizontal and vertical offsets, the same view kept.
# Even photo corners, so that 4:2:0 chroma lines up and the crop equals a slice exactly.
CENTRED = (((3948, 1), (2940, 1)), ((752, 1), (560, 1)))
OFF_CENTRE = (((3948, 1), (2940, 1), (42, 1), (-42, 1)), ((752, 1), (560, 1), (8, 1), (-8, 1)))


@pytest.mark.parametrize("claps", [CENTRED, OFF_CENTRE], ids=["centred", "off-centre"])
def test_a_clean_aperture_crops_photo_and_depth_and_moves_focus_and_intrinsics(
    tmp_path, sample, claps
):
    upright = sample[3]
    record = read_iphone_heic(_cropped_file(tmp_path, sample, *claps))
    photo_clap, depth_clap = claps
    (cw, _), (ch, _) = photo_clap[:2]
    h_off, v_off = (Fraction(*o) for o in (photo_clap[2:] or ((0, 1), (0, 1))))
    left, top = _spec_corner(PHOTO[0], cw, h_off), _spec_corner(PHOTO[1], ch, v_off)
    assert left.denominator == top.denominator == 1
    left, top = int(left), int(top)
    np.testing.assert_array_equal(record.image, upright.image[top : top + ch, left : left + cw])
    (dw, _), (dh, _) = depth_clap[:2]
    d_left, d_top = round(left * DEPTH[0] / PHOTO[0]), round(top * DEPTH[1] / PHOTO[1])
    expected_depth = upright.depth[d_top : d_top + dh, d_left : d_left + dw]
    np.testing.assert_array_equal(record.depth, expected_depth)

    x, y = upright.camera_focus.point
    assert record.camera_focus.point == (x - left, y - top)
    k, cropped = upright.intrinsics, record.intrinsics
    assert (cropped.reference_width, cropped.reference_height) == (cw, ch)
    assert (cropped.fx, cropped.fy) == (k.fx, k.fy)  # the reference is the full 4032×3024
    assert (cropped.cx, cropped.cy) == pytest.approx((k.cx - left, k.cy - top))
    assert record.orientation == 1 and record.f_number == upright.f_number


def test_a_clean_aperture_then_a_quarter_turn(tmp_path, sample):
    path = _cropped_file(tmp_path, sample, *OFF_CENTRE)
    data = bytearray(path.read_bytes())
    data[data.index(b"irot") + 4] = 1  # one quarter turn anticlockwise, after the crop
    path.write_bytes(bytes(data))
    record = read_iphone_heic(path)
    upright, left, top, cw, ch = sample[3], 84, 0, 3948, 2940
    crop = upright.image[top : top + ch, left : left + cw]
    np.testing.assert_array_equal(record.image, np.rot90(crop))
    x, y = upright.camera_focus.point
    # A point (x, y) of a w × h image, turned a quarter anticlockwise, is at (y, w − x).
    assert record.camera_focus.point == (y - top, cw - (x - left))
    assert record.orientation == 8
    k = record.intrinsics
    assert (k.reference_width, k.reference_height) == (ch, cw)
    assert (k.cx, k.cy) == pytest.approx(
        (upright.intrinsics.cy, cw - (upright.intrinsics.cx - left))
    )


def test_a_subject_area_outside_the_clean_aperture_is_dropped_and_said(tmp_path, sample):
    # Keep the right quarter of the view: x from 3024 (the SubjectArea centre is at x = 2003).
    claps = (((1008, 1), (3024, 1), (1512, 1), (0, 1)), ((192, 1), (576, 1), (288, 1), (0, 1)))
    record = read_iphone_heic(_cropped_file(tmp_path, sample, *claps))
    assert record.image_size == (1008, 3024) and record.depth_size == (192, 576)
    assert record.camera_focus is None
    assert (
        "EXIF SubjectArea centre (2003, 1506) lies outside the 1008x3024 image "
        "(cropped from (3024, 0)): ignored"
    ) in record.notes


def test_one_clap_box_on_photo_and_depth_keeps_different_views_and_is_refused(tmp_path, sample):
    data, photo_id, depth_id, _ = sample
    (tmp_path / "shared.heic").write_bytes(
        with_clap(data, [photo_id, depth_id], clap_box((3948, 1), (2940, 1)))
    )
    with pytest.raises(UnsupportedCaptureError, match="keeps another part of the view"):
        read_iphone_heic(tmp_path / "shared.heic")


def test_a_clean_aperture_on_the_photo_only_is_refused(tmp_path, sample):
    data, photo_id, _, _ = sample
    (tmp_path / "photo.heic").write_bytes(
        with_clap(data, [photo_id], clap_box((3948, 1), (2940, 1)))
    )
    with pytest.raises(UnsupportedCaptureError, match=r"photo: clap irot; depth: irot"):
        read_iphone_heic(tmp_path / "photo.heic")


# Fractional corners: what libheif 1.23.6 keeps (measured on the sample's depth item): the
# first column rounded down, the first row rounded half up, the size kept from there.
FRACTIONAL = [
    ((762, 1), (572, 1), (-1, 1), (1, 2), (2, 3, 762, 572)),  # top 2.5 → 3
    ((761, 1), (571, 1), (-1, 3), (1, 3), (3, 3, 761, 571)),  # left 3.17 → 3, top 2.83 → 3
    ((760, 1), (570, 1), (1, 2), (-1, 2), (4, 3, 760, 570)),  # left 4.5 → 4, top 2.5 → 3
    ((2000, 1), (572, 1), (0, 1), (0, 1), (0, 2, 768, 572)),  # wider than the map: clamped
]


@pytest.mark.parametrize(("width", "height", "h_off", "v_off", "kept"), FRACTIONAL)
def test_the_crop_is_the_one_libheif_decodes(tmp_path, sample, width, height, h_off, v_off, kept):
    data, _, depth_id, _ = sample
    crop = clean_aperture(clap_box(width, height, h_off, v_off)[8:], *DEPTH, None)
    assert (crop.left, crop.top, crop.width, crop.height) == kept
    uncropped = np.asarray(pillow_heif.open_heif(data).info["depth_images"][0])
    edited = with_clap(data, [depth_id], clap_box(width, height, h_off, v_off))
    decoded = np.asarray(pillow_heif.open_heif(edited).info["depth_images"][0])
    left, top, w, h = kept
    np.testing.assert_array_equal(decoded, uncropped[top : top + h, left : left + w])


def test_whole_pixel_corners_follow_the_spec_formula():
    for coded, kept, offset in [(4032, 3948, 0), (4032, 3948, 42), (3024, 2940, -42), (9, 3, -3)]:
        crop = clean_aperture(
            clap_box((kept, 1), (kept, 1), (offset, 1), (offset, 1))[8:], coded, coded, None
        )
        assert crop.left == crop.top == _spec_corner(coded, kept, Fraction(offset))
        assert crop.width == crop.height == kept


@pytest.mark.parametrize(
    ("payload", "error", "message"),
    [
        (clap_box((0, 1), (10, 1))[8:], CaptureError, "keeps no pixel"),
        (clap_box((10, 1), (10, 1), (100, 1))[8:], CaptureError, "keeps no pixel"),
        (clap_box((10, 0), (10, 1))[8:], CaptureError, "'clap' width has a zero denominator"),
        (clap_box((10, 1), (10, 1), (1, 0))[8:], CaptureError, "horizontal offset has a zero"),
        (b"\x00" * 31, CaptureError, "'clap' property has 31 bytes, needs 32"),
    ],
)
def test_a_clap_that_cannot_crop_is_a_capture_error(payload, error, message):
    with pytest.raises(error, match=message):
        clean_aperture(payload, 64, 48, Path("x.heic"))


def test_a_clap_after_a_turn_or_twice_is_refused():
    clap = ("clap", clap_box((10, 1), (10, 1))[8:])
    assert item_crop((("irot", b"\x00"),), (64, 48), None) is None
    assert item_crop((clap, ("irot", b"\x01")), (64, 48), None).width == 10
    for transforms in [(("irot", b"\x01"), clap), (clap, clap)]:
        with pytest.raises(UnsupportedCaptureError, match="only one 'clap', before any turn"):
            item_crop(transforms, (64, 48), Path("x.heic"))


def test_a_broken_clap_in_a_real_file_is_one_typed_error(tmp_path, sample):
    data, photo_id, depth_id, _ = sample
    bad = clap_box((3948, 0), (2940, 1))
    (tmp_path / "bad.heic").write_bytes(with_clap(data, [photo_id, depth_id], bad))
    with pytest.raises(CaptureError, match=r"bad\.heic: HEIF 'clap' width has a zero denominator"):
        read_iphone_heic(tmp_path / "bad.heic")
