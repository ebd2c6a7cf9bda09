"""Tiled model renders: tile layout, blend weights, per-tile radial masks, tiled = untiled, CLI."""

import itertools
import json
from dataclasses import replace

import cv2
import numpy as np
import pytest
import torch

from dc2kit.capture.inputs import prepare_render
from dc2kit.cli import main
from dc2kit.metrics import psnr
from dc2kit.model import DC2Net
from dc2kit.model.builder import build_dc2
from dc2kit.readers import open_capture
from dc2kit.render.tiles import (
    TileError,
    TilePlan,
    axis_weights,
    render_tiles,
    tile_renderer,
    tile_size,
    tile_starts,
)

HEIC = "data/captures/iphone13pro_portrait.heic"


@pytest.mark.parametrize(("length", "tile"), [(256, 128), (192, 96), (3024, 384), (4032, 512)])
def test_tiles_cover_the_axis_on_the_grid_with_overlap(length, tile):
    starts = tile_starts(length, tile)
    assert starts[0] == 0 and starts[-1] == length - tile
    assert all(start % 8 == 0 for start in starts)
    overlaps = [a + tile - b for a, b in itertools.pairwise(starts)]
    assert min(overlaps) >= tile // 4 - 8


def test_one_tile_when_the_tile_is_the_frame():
    assert tile_starts(96, 96) == (0,)
    assert TilePlan((96, 128), (96, 128)).note() == ()


def test_weights_sum_to_one_along_an_axis():
    starts = tile_starts(4032, 512)
    total = np.zeros(4032)
    for start, weight in zip(starts, axis_weights(starts, 512), strict=True):
        assert weight.min() > 0
        total[start : start + 512] += weight
    np.testing.assert_allclose(total, 1.0, atol=1e-6)


def test_blend_reassembles_a_frame_from_its_tiles():
    field = np.random.default_rng(0).normal(size=(200, 264, 2)).astype(np.float32)
    plan = TilePlan((200, 264), (96, 128))
    assert len(plan.rows) > 1 and len(plan.columns) > 1
    np.testing.assert_allclose(plan.blend(lambda window: window.of(field), 2), field, atol=1e-5)


@pytest.mark.parametrize(
    ("tile", "message"),
    [((100, 128), "multiple of 8"), ((0, 128), "multiple of 8"), ((96, 264), "larger than")],
)
def test_bad_tiles_are_refused(tile, message):
    with pytest.raises(TileError, match=message):
        tile_size((192, 256), tile, full_resolution=True)


def test_tile_size_defaults():
    assert tile_size((3024, 4032), None, full_resolution=True) == (384, 512)
    assert tile_size((240, 4032), None, full_resolution=True) == (240, 512)
    assert tile_size((768, 1024), None, full_resolution=False) == (768, 1024)


@pytest.fixture
def iphone_inputs(shared_file):
    """The real iPhone portrait at 256 px on the long side, focused on its subject."""
    record = open_capture(shared_file(HEIC))
    width, height = record.image_size
    return prepare_render(
        record, focus_point=(width / 2, height / 2), blur_strength=12.0, max_side=256
    )


def test_a_tile_gets_the_radial_mask_of_its_place_in_the_frame(iphone_inputs):
    """A tile's output equals a network built for that crop of the frame (mask baked in)."""
    frame = iphone_inputs.image.shape[:2]
    tile = (frame[0] // 2, frame[1] // 2)
    model, _ = build_dc2(None, tile)
    window = list(TilePlan(frame, tile).windows())[-1]  # the bottom-right corner tile
    assert window.top > 0 and window.left > 0
    placed = replace(
        model.config,
        full_height=frame[0],
        full_width=frame[1],
        crop_top=window.top,
        crop_left=window.left,
    )
    baked = DC2Net(placed).eval()
    baked.load_state_dict(model.state_dict())
    rows, columns = window.slices
    tensors = [t[..., rows, columns].contiguous() for t in iphone_inputs.model_tensors()]
    with torch.inference_mode():
        expected = baked(*tensors).image[0].permute(1, 2, 0).numpy()
    tiled = tile_renderer(model, iphone_inputs, None)(window)
    np.testing.assert_allclose(tiled, expected, atol=1e-5)


def test_tiled_render_matches_the_untiled_render(iphone_inputs):
    """Shipped weights, a 2x2-tile-sized grid (3x3 tiles with overlap) against one network."""
    frame = iphone_inputs.image.shape[:2]
    whole, _ = build_dc2(None, frame)
    tiled, _ = build_dc2(None, (frame[0] // 2, frame[1] // 2))
    untiled_image = render_tiles(whole, iphone_inputs, None)
    tiled_image = render_tiles(tiled, iphone_inputs, None)
    assert tiled_image.shape == untiled_image.shape == (*frame, 3)
    assert psnr(untiled_image, tiled_image, peak=255.0) >= 40.0


@pytest.fixture(scope="module")
def synthetic_capture(tmp_path_factory):
    """The built-in scene (`capture synth`) as a 160x120 Dynamic Depth JPEG."""
    path = tmp_path_factory.mktemp("tiles") / "scene.jpg"
    assert main(["capture", "synth", "--out", str(path), "--size", "160x120"]) == 0
    return path


def test_sweep_runs_the_model_in_tiles(synthetic_capture, tmp_path, capsys):
    video = tmp_path / "sweep.mp4"
    argv = ["sweep", str(synthetic_capture), "--blur-strength", "6", "--frames", "2"]
    argv += ["--engine", "model", "--max-side", "0", "--tile", "80x64"]
    assert main([*argv, "--out", str(video), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert "network run in 3x3 overlapping 80x64 tiles" in " ".join(report["notes"])
    assert int(cv2.VideoCapture(str(video)).get(cv2.CAP_PROP_FRAME_COUNT)) == 2


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--engine", "model", "--tile", "100x96"], "multiple of 8"),
        (["--engine", "model", "--tile", "0x96"], "multiple of 8"),
        (["--engine", "model", "--max-side", "0", "--tile", "320x96"], "larger than"),
        (["--tile", "64x64"], "used by --engine model only"),
    ],
)
def test_bad_tile_options_are_one_line_errors(synthetic_capture, tmp_path, capsys, extra, message):
    out = tmp_path / "x.png"
    argv = ["render", str(synthetic_capture), "--focus-disparity", "2", "--blur-strength", "6"]
    assert main([*argv, "--out", str(out), *extra]) != 0
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
    assert not out.exists()
