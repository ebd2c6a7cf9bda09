"""Generic image + depth map pairs, and the bounded image decoding all readers share."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dc2kit.capture.decoders import PNG_ONLY, decode_image
from dc2kit.capture.errors import CaptureError, UnsupportedCaptureError
from dc2kit.capture.limits import MAX_DEPTH_PIXELS, MAX_IMAGE_PIXELS
from dc2kit.capture.pair import PairCalibration, read_pair
from dc2kit.capture.record import Accuracy, DepthKind, DepthUnits


def rgb(height: int, width: int) -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


@pytest.fixture
def image_path(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    Image.fromarray(rgb(30, 40)).save(path)
    return path


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width×height but which holds no pixel data."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return (
            struct.pack(">I", len(payload))
            + kind
            + payload
            + struct.pack(">I", zlib.crc32(kind + payload))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def test_eight_bit_png_disparity_values_are_kept(tmp_path, image_path):
    codes = np.arange(15 * 20, dtype=np.uint32).reshape(15, 20) % 256
    Image.fromarray(codes.astype(np.uint8)).save(tmp_path / "disp.png")
    record = read_pair(image_path, tmp_path / "disp.png", kind="disparity", units="relative")
    np.testing.assert_array_equal(record.depth, codes.astype(np.float32))
    assert record.depth.dtype == np.float32
    assert (record.kind, record.units, record.accuracy) == (
        DepthKind.DISPARITY,
        DepthUnits.RELATIVE,
        Accuracy.RELATIVE,
    )
    np.testing.assert_array_equal(record.image, rgb(30, 40))
    assert record.source_format == "image+depth pair"


def test_sixteen_bit_png_in_millimetres_with_holes(tmp_path, image_path):
    millimetres = (np.arange(30 * 40, dtype=np.uint32).reshape(30, 40) * 50).astype(np.uint16)
    Image.fromarray(millimetres).save(tmp_path / "depth.png")
    record = read_pair(
        image_path,
        tmp_path / "depth.png",
        kind=DepthKind.DEPTH,
        units=DepthUnits.METERS,
        accuracy="absolute",
        calibration=PairCalibration(scale=0.001, missing_value=0),
    )
    assert np.isnan(record.depth[0, 0])
    assert np.isnan(record.depth).sum() == 1
    np.testing.assert_allclose(record.depth.ravel()[1:], millimetres.ravel()[1:] / 1000, rtol=1e-6)
    assert record.accuracy is Accuracy.ABSOLUTE


@pytest.mark.parametrize("suffix", [".npy", ".tif"])
def test_float_maps_are_exact(tmp_path, image_path, suffix):
    depth = np.random.default_rng(5).uniform(0.3, 9.0, (60, 80)).astype(np.float32)
    path = tmp_path / f"depth{suffix}"
    if suffix == ".npy":
        np.save(path, depth[..., None])  # H×W×1 is accepted too
    else:
        Image.fromarray(depth).save(path)
    record = read_pair(image_path, path, kind="depth", units="m")
    np.testing.assert_array_equal(record.depth, depth)


def test_mismatched_aspect_ratio_is_refused(tmp_path, image_path):
    np.save(tmp_path / "square.npy", np.ones((30, 30), np.float32))
    with pytest.raises(CaptureError, match=r"square\.npy: .*aspect"):
        read_pair(image_path, tmp_path / "square.npy", kind="depth", units="m")


def test_exr_and_unknown_types_are_unsupported(tmp_path, image_path):
    (tmp_path / "depth.exr").write_bytes(b"\x76\x2f\x31\x01" + bytes(60))
    with pytest.raises(UnsupportedCaptureError, match=r"depth\.exr: .*OpenEXR"):
        read_pair(image_path, tmp_path / "depth.exr", kind="depth", units="m")
    (tmp_path / "depth.pfm").write_bytes(b"Pf\n")
    with pytest.raises(UnsupportedCaptureError, match=r"\.pfm"):
        read_pair(image_path, tmp_path / "depth.pfm", kind="depth", units="m")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: np.save(p, np.array([{"a": 1}], dtype=object)), "dtype object"),
        (lambda p: np.save(p, np.ones((2, 3, 4), np.float32)), "2-D real"),
        (lambda p: np.save(p, np.ones((3, 4), np.complex64)), "dtype complex64"),
        (lambda p: np.save(p, np.ones((0, 4), np.float32)), "empty"),
        (lambda p: p.write_bytes(b"\x93NUMPY garbage"), "version"),
    ],
)
def test_bad_npy_files(tmp_path, image_path, make, message):
    path = tmp_path / "bad.npy"
    make(path)
    with pytest.raises(CaptureError, match=rf"bad\.npy: .*{message}"):
        read_pair(image_path, path, kind="depth", units="m")


def test_corrupt_missing_and_over_limit_files(tmp_path, image_path):
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(30))
    with pytest.raises(CaptureError, match=r"broken\.png: cannot decode"):
        read_pair(image_path, tmp_path / "broken.png", kind="depth", units="m")
    with pytest.raises(CaptureError, match=r"nothing\.png"):
        read_pair(tmp_path / "nothing.png", tmp_path / "broken.png", kind="depth", units="m")
    side = int(MAX_DEPTH_PIXELS**0.5) + 1
    (tmp_path / "huge.png").write_bytes(png_header_only(side, side))
    with pytest.raises(CaptureError, match=r"huge\.png: depth map .* exceeds"):
        read_pair(image_path, tmp_path / "huge.png", kind="depth", units="m")


@pytest.mark.parametrize("side", [int(MAX_IMAGE_PIXELS**0.5) + 1, 20000])
def test_decompression_bombs_are_capture_errors(side):
    # 20000² exceeds Pillow's own hard limit (which raises before dc2kit's check can run).
    with pytest.raises(CaptureError, match="exceeds"):
        decode_image(
            png_header_only(side, side), "bomb.png", "image", MAX_IMAGE_PIXELS, formats=PNG_ONLY
        )


def test_invalid_kind_is_a_value_error(tmp_path, image_path):
    np.save(tmp_path / "d.npy", np.ones((3, 4), np.float32))
    with pytest.raises(ValueError, match="sideways"):
        read_pair(image_path, tmp_path / "d.npy", kind="sideways", units="m")


# --- depth ≤ 0 is no distance -----------------------------------------------------------------


def _metric_map_with_bad_values() -> np.ndarray:
    depth = np.linspace(0.5, 4.0, 30 * 40, dtype=np.float32).reshape(30, 40)
    depth[0, :3] = (0.0, -1.5, np.nan)
    depth[7, 9] = -0.0
    return depth


def test_depth_at_or_below_zero_is_a_counted_hole(tmp_path, image_path):
    depth = _metric_map_with_bad_values()
    np.save(tmp_path / "d.npy", depth)
    record = read_pair(image_path, tmp_path / "d.npy", kind="depth", units="m")
    bad = ~(depth > 0)  # 0, -1.5, -0.0 and the NaN
    np.testing.assert_array_equal(np.isnan(record.depth), bad)
    np.testing.assert_array_equal(record.depth[~bad], depth[~bad])
    assert f"3 of {depth.size} depth values are ≤ 0 (no distance): taken as holes" in record.notes
    assert np.isnan(record.disparity()[bad]).all()


def test_capture_info_counts_non_positive_metric_depth_as_holes(tmp_path, image_path, capsys):
    from dc2kit.cli import main

    depth = _metric_map_with_bad_values()
    np.save(tmp_path / "d.npy", depth)
    argv = ["capture", "info", str(image_path), "--depth", str(tmp_path / "d.npy")]
    argv += ["--depth-kind", "depth", "--depth-units", "m", "--json"]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["depth"]["holes"] == 4
    assert summary["depth"]["min"] == pytest.approx(float(depth[depth > 0].min()))
    assert summary["depth"]["min"] > 0
    assert any("≤ 0 (no distance): taken as holes" in note for note in summary["notes"])


def test_an_all_zero_metric_map_is_all_holes_and_refused_for_rendering(tmp_path, image_path):
    from dc2kit.capture.inputs import prepare_render

    np.save(tmp_path / "zeros.npy", np.zeros((30, 40), np.float32))
    record = read_pair(image_path, tmp_path / "zeros.npy", kind="depth", units="m")
    assert np.isnan(record.depth).all()
    with pytest.raises(CaptureError, match=r"zeros\.npy: the depth map has no valid value"):
        prepare_render(record, focus_disparity=1.0, blur_strength=4.0)


@pytest.mark.parametrize(
    ("kind", "units"), [("disparity", "1/m"), ("disparity", "relative"), ("depth", "diopters")]
)
def test_zero_disparity_and_diopters_are_infinity_not_holes(tmp_path, image_path, kind, units):
    values = np.zeros((30, 40), np.float32)
    values[10:] = 0.25
    np.save(tmp_path / "d.npy", values)
    record = read_pair(image_path, tmp_path / "d.npy", kind=kind, units=units)
    np.testing.assert_array_equal(record.depth, values)
    assert not any("no distance" in note for note in record.notes)
