"""Capture → render inputs → classical and model engines, and the capture/render/sweep commands."""

import json

import cv2
import numpy as np
import pytest
import torch

from dc2kit.android_bridge import write_dynamic_depth
from dc2kit.capture.errors import CaptureError, NoDepthError
from dc2kit.capture.inputs import fill_holes, prepare_render
from dc2kit.cli import main
from dc2kit.model import DC2Net, preset_config, save_dc2
from dc2kit.model.synthetic import synthetic_view
from dc2kit.readers import open_capture

HEIC = "data/captures/iphone13pro_portrait.heic"
GCAM = "data/captures/gcam_lensblur.jpg"
NO_DEPTH = "data/captures/iphone7_no_depth.heic"


def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def synthetic_capture(tmp_path_factory):
    """The built-in scene as a Dynamic Depth JPEG: disk at 0.5 m before a 1–2 m background."""
    path = tmp_path_factory.mktemp("synth") / "scene.jpg"
    rgb, disparity = synthetic_view(240, 320)
    image = (rgb.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    write_dynamic_depth(path, image, (1 / disparity).numpy(), bit_depth=16)
    return path, disparity.numpy()


def test_capture_info_iphone_heic(shared_file, capsys):
    info = _json(capsys, ["capture", "info", str(shared_file(HEIC)), "--json"])
    depth = info["depth"]
    assert (depth["width"], depth["height"]) == (768, 576)
    assert depth["min"] == pytest.approx(1.498, abs=0.01)
    assert depth["max"] == pytest.approx(4.383, abs=0.01)
    assert (depth["kind"], depth["accuracy"]) == ("disparity", "relative")
    assert info["intrinsics"]["fx"] == pytest.approx(3032.594, abs=1e-3)
    assert (info["intrinsics"]["reference_width"], info["intrinsics"]["reference_height"]) == (
        4032,
        3024,
    )
    assert info["focal_length_mm"] == pytest.approx(5.7)
    assert info["f_number"] == pytest.approx(1.5)
    assert info["extras"]["simulated_aperture"] == pytest.approx(2.8)
    assert info["missing"] == ["confidence"]


def test_capture_info_gcam_lens_blur(shared_file, capsys):
    info = _json(capsys, ["capture", "info", str(shared_file(GCAM)), "--json"])
    assert info["format"] == "gdepth"
    assert info["extras"]["depth_format"] == "RangeInverse"
    assert info["extras"]["near"] == pytest.approx(9.6155, abs=1e-3)
    assert info["extras"]["far"] == pytest.approx(44.636, abs=1e-3)
    assert (info["depth"]["width"], info["depth"]["height"]) == (580, 1024)
    assert info["depth"]["min"] == pytest.approx(9.62, abs=0.05)
    assert info["depth"]["max"] == pytest.approx(42.8, abs=0.05)
    assert info["original_image"] is True


def test_no_depth_is_a_clear_error_and_nonzero_exit(shared_file, capsys):
    with pytest.raises(NoDepthError, match="no depth"):
        open_capture(shared_file(NO_DEPTH))
    assert main(["capture", "info", str(shared_file(NO_DEPTH))]) == 1
    err = capsys.readouterr().err.strip()
    assert "no depth" in err
    assert "\n" not in err


def test_synthetic_capture_round_trip_and_render_inputs(synthetic_capture):
    path, disparity = synthetic_capture
    record = open_capture(path)
    assert np.allclose(record.disparity(), disparity, rtol=1e-3)
    inputs = prepare_render(record, focus_point=(160, 120), blur_strength=12.0, max_side=0)
    assert inputs.focus_disparity == pytest.approx(2.0, rel=1e-3)
    spread = np.percentile(disparity, 99) - np.percentile(disparity, 1)
    expected = 12.0 / spread * (disparity - inputs.focus_disparity)
    assert np.allclose(inputs.defocus, expected, atol=1e-3)
    assert np.abs(inputs.defocus[120, 160]) < 1e-3  # the focus point is sharp


def test_lens_data_is_required_for_f_number(synthetic_capture):
    record = open_capture(synthetic_capture[0])
    with pytest.raises(CaptureError, match="focal length and pixel pitch"):
        prepare_render(record, focus_disparity=1.0, f_number=2.8)


def test_render_size_is_a_multiple_of_eight_without_distortion(shared_file):
    record = open_capture(shared_file(GCAM))
    inputs = prepare_render(record, focus_disparity=0.05, blur_strength=10, max_side=300)
    height, width = inputs.image.shape[:2]
    assert (height % 8, width % 8) == (0, 0)
    assert abs(width / height - 580 / 1024) < 0.02


def test_fill_holes_takes_the_nearest_valid_value():
    disparity = np.array([[1.0, np.nan, np.nan, 4.0], [1.0, 0.0, np.nan, 4.0]], np.float32)
    filled = fill_holes(disparity)
    assert np.array_equal(filled, [[1, 1, 4, 4], [1, 1, 4, 4]])


@pytest.mark.parametrize(
    ("capture", "focus"),
    [
        (HEIC, ["--focus", "2000,1500", "--fnumber", "2.8"]),
        (GCAM, ["--focus", "290,300", "--blur-strength", "15"]),
    ],
)
def test_render_and_sweep_real_files(shared_file, tmp_path, capsys, capture, focus):
    source = str(shared_file(capture))
    png, video = tmp_path / "out.png", tmp_path / "sweep.mp4"
    report = _json(
        capsys, ["render", source, *focus, "--max-side", "320", "--out", str(png), "--json"]
    )
    image = cv2.imread(str(png))
    assert image.shape[:2] == (report["size"]["height"], report["size"]["width"])
    report = _json(
        capsys,
        [
            "sweep",
            source,
            *focus[2:],
            "--frames",
            "5",
            "--max-side",
            "160",
            "--out",
            str(video),
            "--json",
        ],
    )
    capture_video = cv2.VideoCapture(str(video))
    assert int(capture_video.get(cv2.CAP_PROP_FRAME_COUNT)) == 5 == report["frames"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png", "sweep.mp4"]


def test_aperture_sweep_starts_sharp(synthetic_capture, tmp_path, capsys):
    path, _ = synthetic_capture
    video = tmp_path / "aperture.mp4"
    argv = [
        "sweep",
        str(path),
        "--sweep",
        "aperture",
        "--focus",
        "160,120",
        "--blur-strength",
        "10",
        "--frames",
        "3",
        "--max-side",
        "0",
        "--out",
        str(video),
        "--json",
    ]
    _json(capsys, argv)
    frames = cv2.VideoCapture(str(video))
    source = cv2.imread(str(path)).astype(float)
    errors = []
    while True:
        ok, frame = frames.read()
        if not ok:
            break
        errors.append(np.abs(frame.astype(float) - source).mean())
    assert len(errors) == 3
    assert errors[0] < errors[1] < errors[2]  # blur grows from none (codec noise only)
    assert errors[0] < 0.5 * errors[2]


def test_model_engine_with_checkpoint(synthetic_capture, tmp_path, capsys):
    checkpoint = tmp_path / "mobile.safetensors"
    torch.manual_seed(0)
    save_dc2(DC2Net(preset_config("mobile", 64, 64)), checkpoint)
    out = tmp_path / "model.png"
    report = _json(
        capsys,
        [
            "render",
            str(synthetic_capture[0]),
            "--focus-disparity",
            "2",
            "--blur-strength",
            "8",
            "--engine",
            "model",
            "--checkpoint",
            str(checkpoint),
            "--max-side",
            "160",
            "--out",
            str(out),
            "--json",
        ],
    )
    assert "W stands in for UW" in " ".join(report["notes"])
    assert cv2.imread(str(out)).shape == (120, 160, 3)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--engine", "model", "--checkpoint", "/nonexistent.safetensors"], "nonexistent"),
        (["--random-weights"], "used by --engine model only"),
        (["--out", "/nonexistent-dir/x.png"], "cannot write"),
    ],
)
def test_render_errors_are_one_line(synthetic_capture, tmp_path, capsys, extra, message):
    argv = [
        "render",
        str(synthetic_capture[0]),
        "--focus",
        "10,10",
        "--blur-strength",
        "5",
        "--out",
        str(tmp_path / "x.png"),
        *extra,
    ]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert message in err
    assert "\n" not in err
    assert not (tmp_path / "x.png").exists()


def test_truncated_capture_exits_nonzero(synthetic_capture, tmp_path, capsys):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(synthetic_capture[0].read_bytes()[:5000])
    assert main(["capture", "info", str(broken)]) == 1
    assert "broken.jpg" in capsys.readouterr().err
