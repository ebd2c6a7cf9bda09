"""`inspect` runs the network in tiles like a render: every scale blended; one tile, one forward."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from dc2kit.capture.inputs import prepare_render
from dc2kit.cli import main
from dc2kit.model import DC2Net, preset_config
from dc2kit.model.defocus import SCALE_FACTORS
from dc2kit.readers import open_capture
from dc2kit.render.inspect import tiled_output
from dc2kit.render.tiles import TilePlan, render_tiles, tile_forward


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    path = tmp_path_factory.mktemp("inspect") / "scene.jpg"
    assert main(["capture", "synth", "--out", str(path), "--size", "128x96"]) == 0
    return path


@pytest.fixture(scope="module")
def inputs(capture):
    """The synthetic scene at 128x96, W given a blur of its own."""
    record = open_capture(capture)
    return prepare_render(
        record,
        focus_point=(64, 48),
        blur_strength=8.0,
        w_focus_disparity=1.0,
        w_blur_strength=3.0,
        max_side=0,
    )


def _model(height: int, width: int) -> DC2Net:
    torch.manual_seed(0)
    return DC2Net(preset_config("mobile", height, width)).eval()


def _tensors(output) -> list[torch.Tensor]:
    return [output.image, *(tensor for scale in output.scales for tensor in scale)]


def test_one_tile_is_the_full_frame_forward(inputs):
    model = _model(*inputs.image.shape[:2])
    with torch.inference_mode():
        direct = model(*inputs.model_tensors(None))
    tiled_tensors = _tensors(tiled_output(model, inputs, None))
    for tiled, expected in zip(tiled_tensors, _tensors(direct), strict=True):
        assert tiled.shape == expected.shape
        torch.testing.assert_close(tiled, expected, atol=1e-5, rtol=0)


def test_tiles_blend_every_scale_like_the_render(inputs):
    model = _model(64, 64)
    plan = TilePlan(inputs.image.shape[:2], (64, 64))
    assert (plan.rows, plan.columns) == ((0, 32), (0, 32, 64))
    output = tiled_output(model, inputs, None)
    assert [scale.mask_uw.shape[-2:] for scale in output.scales] == [
        (96 // f, 128 // f) for f in SCALE_FACTORS
    ]
    # The final image is the render's blend of the same tiles (up to its 8-bit rounding).
    image = (output.image[0].permute(1, 2, 0).numpy() + 1) * 127.5
    rendered = render_tiles(model, inputs, None).astype(np.float32)
    assert np.abs(np.clip(image, 0, 255) - rendered).max() <= 0.5 + 1e-3
    # Where the first tile alone covers the frame (rows and columns 0-31), every scale's
    # tensors are that tile's own.
    first = tile_forward(model, inputs, None)(next(plan.windows()))
    factors = (1, *(f for f in SCALE_FACTORS for _ in range(5)))
    for tiled, own, factor in zip(_tensors(output), _tensors(first), factors, strict=True):
        alone = slice(0, 32 // factor)
        torch.testing.assert_close(
            tiled[..., alone, alone], own[..., alone, alone], atol=1e-5, rtol=0
        )
    # Where tiles overlap, the masks are a convex blend: still in [0, 1].
    for scale in output.scales:
        assert float(scale.mask_uw.min()) >= 0.0 and float(scale.mask_uw.max()) <= 1.0


def test_inspect_at_full_size_runs_in_tiles(capture, tmp_path, capsys):
    panel = tmp_path / "panel.png"
    argv = ["inspect", str(capture), "--focus", "64,48", "--blur-strength", "8"]
    argv += ["--max-side", "0", "--tile", "64x64", "--random-weights"]
    capsys.readouterr()
    assert main([*argv, "--out", str(panel), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert "network run in 3x2 overlapping 64x64 tiles" in " ".join(result["notes"])
    assert [row["factor"] for row in result["scales"]] == list(SCALE_FACTORS)
    assert panel.stat().st_size > 0
