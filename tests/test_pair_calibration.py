"""Image + depth pairs: HEIC photos, depth scale, missing value, lens facts, unit warnings."""

from __future__ import annotations

import json
import math

import numpy as np
import pillow_heif
import pytest
from PIL import ExifTags, Image

from dc2kit.capture.errors import CaptureError
from dc2kit.capture.inputs import prepare_render
from dc2kit.capture.pair import PairCalibration, read_pair
from dc2kit.cli import main

HEIGHT, WIDTH = 48, 64
FULL_FRAME_DIAGONAL_MM = math.hypot(36.0, 24.0)


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray(np.full((HEIGHT, WIDTH, 3), 120, np.uint8)).save(path)
    return path


def _millimetres(tmp_path):
    """A 16-bit PNG of depth in mm (500 … 4000 mm), 0 where there is no estimate."""
    millimetres = np.linspace(500, 4000, HEIGHT * WIDTH).reshape(HEIGHT, WIDTH).astype(np.uint16)
    millimetres[0, :4] = 0
    Image.fromarray(millimetres).save(tmp_path / "mm.png")
    return tmp_path / "mm.png", millimetres


def test_heic_photo_with_a_separate_depth_map(tmp_path):
    rgb = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    rgb[:, : WIDTH // 2] = (200, 40, 40)
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # pillow-heif stores this as an irot transform
    pillow_heif.from_pillow(Image.fromarray(rgb)).save(tmp_path / "photo.heic", exif=exif.tobytes())
    np.save(tmp_path / "depth.npy", np.ones((WIDTH, HEIGHT), np.float32))  # displayed grid
    record = read_pair(tmp_path / "photo.heic", tmp_path / "depth.npy", kind="depth", units="m")
    assert record.image.shape == (WIDTH, HEIGHT, 3)  # libheif turned it for display
    assert record.image[0, 0, 0] > 150 > record.image[-1, 0, 0]  # red half on top after 90° CW
    argv = ["capture", "info", str(tmp_path / "photo.heic"), "--depth", str(tmp_path / "depth.npy")]
    assert main([*argv, "--json"]) == 0


def test_scale_and_missing_value_from_the_command_line(tmp_path, photo, capsys):
    path, millimetres = _millimetres(tmp_path)
    argv = ["capture", "info", str(photo), "--depth", str(path), "--depth-kind", "depth"]
    argv += ["--depth-units", "m", "--depth-scale", "0.001", "--depth-missing", "0", "--json"]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["depth"]["holes"] == 4
    assert summary["depth"]["min"] == pytest.approx(millimetres[millimetres > 0].min() / 1000)
    assert summary["depth"]["max"] == pytest.approx(4.0)
    assert not any("implausible" in note for note in summary["notes"])


def test_millimetres_called_metres_are_warned_about(tmp_path, photo, capsys):
    path, _ = _millimetres(tmp_path)
    record = read_pair(photo, path, kind="depth", units="m")
    assert any("implausible" in note and "--depth-scale 0.001" in note for note in record.notes)
    out = tmp_path / "r.png"
    argv = ["render", str(photo), "--depth", str(path), "--depth-kind", "depth"]
    argv += ["--depth-units", "m", "--focus", "10,10", "--blur-strength", "4", "--out", str(out)]
    assert main(argv) == 0
    assert "implausible" in capsys.readouterr().out


@pytest.mark.parametrize("scale", [0.0, -1.0, math.nan, math.inf])
def test_a_depth_scale_that_is_not_positive_is_refused(tmp_path, photo, scale):
    path, _ = _millimetres(tmp_path)
    with pytest.raises(CaptureError, match="depth scale must be a positive number"):
        read_pair(photo, path, kind="depth", units="m", calibration=PairCalibration(scale=scale))


@pytest.mark.parametrize("scale", ["0", "nan"])
def test_cli_refuses_a_zero_or_nan_scale_in_one_line(tmp_path, photo, scale, capsys):
    path, _ = _millimetres(tmp_path)
    argv = ["capture", "info", str(photo), "--depth", str(path), "--depth-scale", scale]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "scale" in err


def test_pair_flags_without_a_depth_map_are_refused(photo, capsys):
    assert main(["capture", "info", str(photo), "--pixel-pitch-mm", "0.001"]) == 1
    message = "--pixel-pitch-mm: used with --depth or --depth16 or --arcore-depth only"
    assert message in capsys.readouterr().err


def test_focal_length_and_pixel_pitch_make_fnumber_possible(tmp_path, photo, capsys):
    path, _ = _millimetres(tmp_path)
    focal_px, pitch_mm, f_number = 50.0, 0.08, 2.0
    base = ["render", str(photo), "--depth", str(path), "--depth-kind", "depth", "--depth-units"]
    base += ["m", "--depth-scale", "0.001", "--focus", "32,24", "--max-side", "0", "--json"]
    assert main([*base, "--fnumber", "2", "--out", str(tmp_path / "no.png")]) == 1
    assert "focal length and pixel pitch" in capsys.readouterr().err
    lens = ["--focal-length-px", str(focal_px), "--pixel-pitch-mm", str(pitch_mm)]
    assert main([*base, *lens, "--fnumber", "2", "--out", str(tmp_path / "f2.png")]) == 0
    report = json.loads(capsys.readouterr().out)
    # Independent route: the exact thin-lens blur circle of a point at infinity with focus at
    # 1 m, c = f² / (N · (1 m − f)), for the lens equivalent by the diagonal (EXIF's 35 mm
    # definition, 43.27 mm), in equivalent pixels of the render.
    focal_mm = focal_px * pitch_mm
    diagonal_px = math.hypot(WIDTH, HEIGHT)
    focal_eq_m = focal_mm * FULL_FRAME_DIAGONAL_MM / (pitch_mm * diagonal_px) / 1000
    pitch_eq_m = FULL_FRAME_DIAGONAL_MM / diagonal_px / 1000
    coc_m = focal_eq_m**2 / (f_number * (1.0 - focal_eq_m))
    record = read_pair(
        photo,
        path,
        kind="depth",
        units="m",
        calibration=PairCalibration(0.001, None, focal_px, pitch_mm),
    )
    assert record.focal_length_mm == pytest.approx(focal_mm)
    inputs = prepare_render(record, focus_disparity=1.0, f_number=f_number, max_side=0)
    radius_px = inputs.blur_strength * 1.0  # |d − d_f| = 1 1/m for infinity focused at 1 m
    assert radius_px == pytest.approx(coc_m / 2 / pitch_eq_m, rel=0.05)
    assert report["blur_strength"] == pytest.approx(inputs.blur_strength, rel=0.05)
