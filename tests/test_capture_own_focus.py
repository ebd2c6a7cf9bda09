"""W's own blur (`defocus_w`) from capture metadata, against the thin-lens formulas by hand."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from dc2kit.android_bridge import write_dynamic_depth
from dc2kit.capture.exif_lens import lens_exif
from dc2kit.capture.inputs import prepare_render
from dc2kit.cli import main
from dc2kit.readers import open_capture

HEIC = "data/captures/iphone13pro_portrait.heic"
GCAM = "data/captures/gcam_lensblur.jpg"
SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="module")
def iphone():
    """The real iPhone record, read once (decoding 4032×3024 takes seconds); never mutated."""
    path = SHARED / HEIC
    if not path.exists():
        pytest.skip(f"{path} is absent (a user checkout has no ../shared)")
    return open_capture(path)


def window_median(disparity: np.ndarray, x: float, y: float, half: int = 4) -> float:
    """The focus disparity: median of the 9×9 window at (x, y) of the native map."""
    patch = disparity[int(y) - half : int(y) + half + 1, int(x) - half : int(x) + half + 1]
    return float(np.median(patch))


def test_defocus_w_from_the_real_iphone_metadata(iphone):
    record = iphone
    assert record.camera_focus.point == (2003.0, 1506.0)  # SubjectArea (2003, 1506, 2209, 1327)
    inputs = prepare_render(record, focus_disparity=3.0, blur_strength=8.0, max_side=512)
    height, width = inputs.disparity.shape
    # K = f² / (2 N p) at the render size, p = 0.0019 mm · 4032 / 512 (render width before the
    # crop to multiples of 8, which only trims pixels).
    pitch_m = 0.0019e-3 * 4032 / 512
    strength = (5.7e-3) ** 2 / (2 * 1.5 * pitch_m)
    native = record.disparity()
    focus = window_median(native, 2003 * 768 / 4032, 1506 * 576 / 3024)
    expected = strength * np.abs(inputs.disparity - focus)
    np.testing.assert_allclose(inputs.defocus_w, expected, rtol=1e-4, atol=1e-5)
    assert (height, width) == (384, 512)
    assert 0.5 < float(inputs.defocus_w.max()) < 5.0  # a phone lens at f/1.5: a few pixels
    (note,) = [n for n in inputs.notes if n.startswith("input W defocus")]
    for source in ("EXIF SubjectArea", "EXIF FNumber", "EXIF FocalLength", "depthData:PixelSize"):
        assert source in note
    assert "relative" in note  # the map's accuracy is relative: said, not hidden


def test_w_flags_override_the_metadata(iphone):
    inputs = prepare_render(
        iphone,
        focus_disparity=3.0,
        blur_strength=8.0,
        w_focus_disparity=2.0,
        w_blur_strength=0.0,
        max_side=256,
    )
    assert not inputs.defocus_w.any()
    assert not any("from the camera" in note for note in inputs.notes)


def test_gdepth_gfocus_gives_defocus_w_only_when_the_primary_is_rendered(shared_file):
    record = open_capture(shared_file(GCAM))
    sharp = prepare_render(record, focus_disparity=0.05, blur_strength=10.0, max_side=256)
    assert not sharp.defocus_w.any()  # W is the embedded original: GFocus does not describe it
    (note,) = [n for n in sharp.notes if "defocus_w = 0" in n]
    assert "describes the blurred primary" in note
    del record.extras["original_image"]  # now W is the primary, Lens Blur's own render
    inputs = prepare_render(record, focus_disparity=0.05, blur_strength=10.0, max_side=256)
    render_width = round(580 * 256 / 1024)
    focal_distance, blur_at_infinity = 26.707642, 0.028747642
    strength = blur_at_infinity * render_width * focal_distance  # r_inf = K / d_f
    expected = strength * np.abs(inputs.disparity - 1 / focal_distance)
    np.testing.assert_allclose(inputs.defocus_w, expected, rtol=1e-4, atol=1e-4)
    # Far background (disparity → 1/far) approaches the stated blur at infinity.
    assert strength * abs(1 / 44.636 - 1 / focal_distance) < blur_at_infinity * render_width
    assert any("GFocus:BlurAtInfinity" in n and "blur render" in n for n in inputs.notes)


def metric_capture(path: Path, **options) -> Path:
    y, x = np.mgrid[0:60, 0:80]
    image = np.stack([x * 3, y * 4, (x + y) * 2], axis=-1).astype(np.uint8)
    depth = (0.5 + 2.5 * x / 79).astype(np.float32)
    write_dynamic_depth(path, image, depth, bit_depth=16, **options)
    return path


def test_subject_distance_places_w_focus_on_a_metric_map(tmp_path):
    exif = lens_exif(4.0, 2.0, 28)
    exif.get_ifd(0x8769)[0x9206] = 1.25  # SubjectDistance in metres
    record = open_capture(metric_capture(tmp_path / "metric.jpg", exif=exif))
    assert record.camera_focus.distance == pytest.approx(1.25)
    inputs = prepare_render(record, focus_disparity=1.0, blur_strength=4.0, max_side=0)
    strength = (4.0e-3) ** 2 / (2 * 2.0 * record.pixel_pitch_mm * 1e-3)
    expected = strength * np.abs(inputs.disparity - 1 / 1.25)
    np.testing.assert_allclose(inputs.defocus_w, expected, rtol=1e-4, atol=1e-5)
    assert any("focus distance 1.25 m (EXIF SubjectDistance)" in n for n in inputs.notes)


def test_lens_without_a_focus_leaves_w_sharp_and_says_why(tmp_path):
    record = open_capture(metric_capture(tmp_path / "lens.jpg", exif=lens_exif(4.0, 2.0, 28)))
    inputs = prepare_render(record, focus_disparity=1.0, blur_strength=4.0, max_side=0)
    assert not inputs.defocus_w.any()
    (note,) = [n for n in inputs.notes if "defocus_w = 0" in n]
    assert "says nowhere where the camera focused (no EXIF SubjectArea, SubjectLocation" in note


def test_dynamic_depth_focal_table_describes_the_rendered_primary(tmp_path):
    # A thin lens focused at 1.5 m with K = 12 px per 1/m at the 80 px wide primary.
    table = [(d, 12.0 * abs(1 / d - 1 / 1.5)) for d in (0.5, 1.0, 1.5, 2.0, 3.0)]
    record = open_capture(metric_capture(tmp_path / "table.jpg", focal_table=table))
    assert record.render_focus.distance == pytest.approx(1.5)
    assert record.render_focus.blur_at_infinity == pytest.approx(12.0 / 1.5 / 80, rel=1e-5)
    inputs = prepare_render(record, focus_disparity=1.0, blur_strength=4.0, max_side=0)
    expected = 12.0 * np.abs(inputs.disparity - 1 / 1.5)
    np.testing.assert_allclose(inputs.defocus_w, expected, rtol=1e-4, atol=1e-4)
    assert any("DepthMap:FocalTable" in n for n in inputs.notes)
    with pytest.raises(ValueError, match="focal table"):
        metric_capture(tmp_path / "bad.jpg", focal_table=[(0.0, 1.0)])
    assert not (tmp_path / "bad.jpg").exists()


def test_render_json_reports_where_defocus_w_came_from(shared_file, tmp_path, capsys):
    out = tmp_path / "w.png"
    argv = ["render", str(shared_file(HEIC)), "--focus", "2000,1500", "--blur-strength", "8"]
    assert main([*argv, "--max-side", "256", "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert any(n.startswith("input W defocus from the camera") for n in report["notes"])


def test_model_tensors_carry_the_metadata_defocus_w(iphone):
    inputs = prepare_render(iphone, focus_disparity=3.0, blur_strength=8.0, max_side=128)
    _, _, defocus_w, _ = inputs.model_tensors()
    assert torch.equal(defocus_w[0, 0], torch.from_numpy(inputs.defocus_w))
