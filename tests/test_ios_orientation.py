"""A HEIC turned by its `irot`: libheif turns the pixels, and the reader turns what refers to the
coded pixels (EXIF SubjectArea, Apple's intrinsics) with them and reports the turn.

The turned files are the real iPhone sample with its one `irot` byte edited; references are
numpy's rotations of the upright record and the rotation formula for continuous points.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dc2kit.capture.errors import CaptureError
from dc2kit.cli.capture import capture_summary
from dc2kit.ios_bridge.heic import coded_orientation, read_iphone_heic
from dc2kit.samples import SAMPLES

# Quarter turns anticlockwise (`irot` angle) → the EXIF orientation that displays the same way.
EXIF_FOR_IROT = {1: 8, 2: 3, 3: 6}


@pytest.fixture(scope="module")
def upright():
    return read_iphone_heic(SAMPLES["iphone"].path)


def _turned_point(x: float, y: float, width: int, height: int, quarter_turns: int):
    """(x, y) of a width × height image after `quarter_turns` anticlockwise quarter turns."""
    for _ in range(quarter_turns):
        x, y, width, height = y, width - x, height, width
    return x, y


@pytest.mark.parametrize("quarter_turns", [1, 3])
def test_a_heic_turned_by_irot_turns_its_focus_point_and_intrinsics(
    tmp_path: Path, upright, quarter_turns: int
) -> None:
    data = bytearray(SAMPLES["iphone"].path.read_bytes())
    assert data.count(b"irot") == 1 and data[data.index(b"irot") + 4] == 0
    data[data.index(b"irot") + 4] = quarter_turns
    (tmp_path / "turned.heic").write_bytes(bytes(data))
    record = read_iphone_heic(tmp_path / "turned.heic")

    np.testing.assert_array_equal(record.image, np.rot90(upright.image, quarter_turns))
    np.testing.assert_array_equal(record.depth, np.rot90(upright.depth, quarter_turns))
    assert record.orientation == EXIF_FOR_IROT[quarter_turns]
    assert capture_summary(record)["orientation"] == EXIF_FOR_IROT[quarter_turns]

    width, height = upright.image_size
    expected = _turned_point(*upright.camera_focus.point, width, height, quarter_turns)
    assert record.camera_focus.point == pytest.approx(expected)
    k, turned_k = upright.intrinsics, record.intrinsics
    assert (turned_k.fx, turned_k.fy) == (k.fy, k.fx)
    assert (turned_k.reference_width, turned_k.reference_height) == (
        k.reference_height,
        k.reference_width,
    )
    centre = _turned_point(k.cx, k.cy, k.reference_width, k.reference_height, quarter_turns)
    assert (turned_k.cx, turned_k.cy) == pytest.approx(centre)
    assert (record.f_number, record.focal_length_mm) == (upright.f_number, upright.focal_length_mm)


def test_the_upright_sample_is_reported_upright(upright) -> None:
    assert upright.orientation == 1
    assert upright.camera_focus.point == (2003, 1506)


@pytest.mark.parametrize(
    ("transforms", "expected"),
    [
        ((), 1),
        ((("clap", b"\x00" * 32),), 1),  # a crop turns nothing
        ((("irot", b"\x02"),), 3),
        ((("imir", b"\x00"),), 2),  # mirror about a vertical axis: left ↔ right
        ((("imir", b"\x01"),), 4),  # about a horizontal axis: top ↔ bottom
        # a quarter turn anticlockwise, then left ↔ right: the anti-diagonal flip
        ((("irot", b"\x01"), ("imir", b"\x00")), 7),
        ((("irot", b"\xfd"),), 8),  # only the two low bits are the angle
    ],
)
def test_coded_orientation_of_transform_sequences(transforms, expected) -> None:
    assert coded_orientation(transforms, Path("x.heic")) == expected


def test_an_empty_transform_property_is_a_capture_error() -> None:
    with pytest.raises(CaptureError, match=r"x\.heic: HEIF 'irot' property is empty"):
        coded_orientation((("irot", b""),), Path("x.heic"))
