"""App-io export: the graph's own preprocessing against independent formulas, the fp16 TFLite
artifact against the render pipeline on the real iPhone sample, the contract and its vectors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from dc2kit.cli import main
from dc2kit.convert.app_io import AppInputs, AppIOGraph
from dc2kit.convert.errors import ExportError
from dc2kit.metrics import psnr
from dc2kit.model.builder import build_dc2

TILE = (96, 128)  # (height, width)
FRAME = (192, 256)


def _inputs(rng: np.random.Generator, **changes) -> AppInputs:
    h, w = TILE
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    fields = {
        "w": image,
        "uw": image[::-1].copy(),
        "disparity": rng.uniform(0.2, 3.0, (h, w)).astype(np.float32),
        "focus_disparity": 1.1,
        "blur_strength": 4.5,
        "w_focus_disparity": 0.6,
        "w_blur_strength": 1.25,
        "tile_top": 48,
        "tile_left": 120,
        "frame_height": FRAME[0],
        "frame_width": FRAME[1],
    }
    return AppInputs(**{**fields, **changes})


def test_the_graph_computes_the_thin_lens_defocus_normalisation_and_tile_radial_mask():
    model, _ = build_dc2(None, TILE)
    graph = AppIOGraph(model.eval(), "NHWC").eval()
    seen = {}

    def keep(_, args, kwargs):
        seen.update(zip(("w", "uw", "defocus_w", "defocus_t"), args, strict=False), **kwargs)

    model.register_forward_pre_hook(keep, with_kwargs=True)
    app = _inputs(np.random.default_rng(0))
    with torch.no_grad():
        graph(*app.torch_feeds("NHWC"))
    d = app.disparity.astype(np.float64)
    expect_t = np.abs(4.5 * (d - 1.1))
    expect_w = np.abs(1.25 * (d - 0.6))
    np.testing.assert_allclose(seen["defocus_t"][0, 0].numpy(), expect_t, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(seen["defocus_w"][0, 0].numpy(), expect_w, rtol=1e-5, atol=1e-5)
    w_nchw = app.w.transpose(2, 0, 1).astype(np.float64) / 127.5 - 1.0
    np.testing.assert_allclose(seen["w"][0].numpy(), w_nchw, atol=1e-6)
    y = np.arange(48, 48 + TILE[0])[:, None]
    x = np.arange(120, 120 + TILE[1])[None, :]
    radial = np.hypot(y - FRAME[0] / 2, x - FRAME[1] / 2) / np.hypot(FRAME[0] / 2, FRAME[1] / 2)
    np.testing.assert_allclose(seen["radial"][0, 0].numpy(), radial, atol=1e-6)


@pytest.mark.parametrize(
    ("changes", "tile", "message"),
    [
        ({"blur_strength": -1.0}, TILE, "blur_strength must be ≥ 0"),
        ({"w_blur_strength": float("nan")}, TILE, "w_blur_strength must be finite"),
        ({"disparity": np.ones((48, 64), np.float32)}, TILE, "disparity map is 64x48"),
        ({}, (100, 128), "not a multiple of 8"),
        ({"tile_left": 200}, TILE, "outside the 256x192 frame"),
        ({"frame_height": 64}, TILE, "smaller than the tile"),
    ],
)
def test_bad_app_inputs_are_one_line_refusals(changes, tile, message):
    with pytest.raises(ExportError, match=message) as caught:
        _inputs(np.random.default_rng(1), **changes).check(tile, "case")
    assert "\n" not in str(caught.value)


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    """One fp16 app-io TFLite export at 128×96, gated on a tile of sample:iphone."""
    out = tmp_path_factory.mktemp("app")
    argv = ["export", "--target", "tflite", "--app-io", "--size", "128x96"]
    assert main([*argv, "--precision", "fp16", "--frame-side", "256", "--out", str(out)]) == 0
    (path,) = out.glob("*.tflite")
    return path


def test_app_io_tflite_meets_the_fp16_gate_against_the_render_pipeline(artifact):
    manifest = json.loads(artifact.with_name(artifact.name + ".manifest.json").read_text())
    assert manifest["options"]["app_io"] is True
    assert manifest["parity"]["passed"] and manifest["parity"]["min_psnr_db"] >= 45.0
    assert "sample:iphone" in manifest["parity"]["cases"][0]
    names = [row["name"] for row in manifest["contract"]["inputs"]]
    assert names[:3] == ["w", "uw", "disparity"] and "tile_left" in names
    latency = manifest["contract"]["latency_estimate"]
    assert latency["device"].startswith("Snapdragon") and latency["latency_ms_per_tile"] > 0
    assert "not a measurement" in latency["label"] and latency["assumptions"]


def test_verify_regates_an_app_io_artifact_against_the_render_pipeline(artifact, capsys):
    assert main(["verify", str(artifact), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] and report["sha256_matches"]
    manifest = json.loads(artifact.with_name(artifact.name + ".manifest.json").read_text())
    assert report["parity"]["min_psnr_db"] == pytest.approx(manifest["parity"]["min_psnr_db"])


def test_contract_vectors_fed_back_into_litert_reproduce_the_outputs(artifact, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    vectors = tmp_path / "vectors"
    assert main(["contract", str(artifact), "--vectors", str(vectors), "--json"]) == 0
    index = json.loads((vectors / "index.json").read_text())
    feeds = {
        key.removeprefix("feeds/"): np.load(vectors / entry["file"])
        for key, entry in index["files"].items()
        if key.startswith("feeds/")
    }
    assert feeds["w"].dtype == np.uint8 and feeds["w"].shape == (1, 96, 128, 3)
    runner = Interpreter(model_path=str(artifact)).get_signature_runner("render")
    assert set(runner.get_input_details()) == set(feeds)
    output = runner(**feeds)["image"]
    np.testing.assert_array_equal(output, np.load(vectors / "expected" / "image.npy"))
    pipeline = np.load(vectors / "expected" / "pipeline_image.npy")
    assert psnr(pipeline.astype(np.float64), output[0].astype(np.float64), peak=255.0) >= 45.0


def test_contract_refuses_bad_scalars_and_writes_nothing(artifact, tmp_path, capsys):
    vectors = tmp_path / "vectors"
    assert main(["contract", str(artifact), "--vectors", str(vectors), "--blur-px", "-5"]) == 1
    assert "argument --blur-px: must be a finite number in [0, 256]" in capsys.readouterr().err
    assert not vectors.exists()
    assert main(["contract", str(tmp_path / "none.tflite")]) == 1
