"""Core ML app-io: the fp16 ML program against the render pipeline on the real iPhone sample (run
here by dc2kit's MIL executor, image-input scale and bias included), against the defocus formula
written out independently, on a 12 MP frame's corner tile, and its contract, vectors and verify."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch

from dc2kit.cli import main
from dc2kit.cli.contract import gate_cases
from dc2kit.convert.errors import ExportError
from dc2kit.convert.export import verify_artifact
from dc2kit.convert.manifest import read_manifest
from dc2kit.convert.mil_executor import execute
from dc2kit.metrics import psnr
from dc2kit.model.builder import WeightsOrigin, build_dc2

TILE = (96, 128)  # (height, width)


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    """One fp16 app-io Core ML export at 128×96, gated on a tile of sample:iphone."""
    out = tmp_path_factory.mktemp("app_coreml")
    argv = ["export", "--target", "coreml", "--app-io", "--size", "128x96", "--precision", "fp16"]
    assert main([*argv, "--frame-side", "256", "--out", str(out)]) == 0
    (path,) = out.glob("*.mlpackage")
    return path


@pytest.fixture(scope="module")
def vectors(artifact, tmp_path_factory):
    folder = tmp_path_factory.mktemp("vectors") / "vectors"
    assert main(["contract", str(artifact), "--vectors", str(folder), "--json"]) == 0
    index = json.loads((folder / "index.json").read_text())
    arrays = {key: np.load(folder / entry["file"]) for key, entry in index["files"].items()}
    return index, arrays


def _model(artifact):
    manifest = read_manifest(artifact)
    choice = WeightsOrigin.from_dict(manifest["weights"]).choice()
    return build_dc2(manifest["preset"], TILE, weights=choice)[0].eval()


def _program_tensors(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """What Core ML hands the program for these pixel buffers: NCHW, images 0–255 as floats."""
    tensors = {name: value for name, value in feeds.items() if value.shape == (1,)}
    for name in ("w", "uw"):
        tensors[name] = feeds[name].astype(np.float32).transpose(2, 0, 1)[None]
    tensors["disparity"] = feeds["disparity"].astype(np.float32)[None, None]
    return tensors


def _run(artifact, feeds) -> np.ndarray:
    """The program in fp16 emulation; its RGB output image as an app reads it, (H, W, 3) uint8."""
    image = execute(artifact, _program_tensors(feeds), fp16=True).outputs["image"][0]
    return np.clip(np.rint(image), 0, 255).astype(np.uint8).transpose(1, 2, 0)


def _feeds(arrays) -> dict[str, np.ndarray]:
    return {k.removeprefix("feeds/"): v for k, v in arrays.items() if k.startswith("feeds/")}


def _independent_render(model, feeds, defocus_scale: float = 1.0) -> np.ndarray:
    """The app-io render with every formula written out here in numpy: |K·(d − d_f)|, the
    radial mask of the tile's place in the frame, x / 127.5 − 1; only DC2Net is shared."""
    s = {name: float(value[0]) for name, value in feeds.items() if value.shape == (1,)}
    d = feeds["disparity"].astype(np.float64)
    defocus_t = defocus_scale * np.abs(s["blur_strength"] * (d - s["focus_disparity"]))
    defocus_w = defocus_scale * np.abs(s["w_blur_strength"] * (d - s["w_focus_disparity"]))
    h, w = d.shape
    y = np.arange(h)[:, None] + s["tile_top"] - s["frame_height"] / 2
    x = np.arange(w)[None, :] + s["tile_left"] - s["frame_width"] / 2
    radial = np.hypot(y, x) / np.hypot(s["frame_height"] / 2, s["frame_width"] / 2)

    def tensor(array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(array, np.float32))

    images = [tensor(feeds[n].transpose(2, 0, 1)[None] / 127.5 - 1.0) for n in ("w", "uw")]
    with torch.no_grad():
        out = model(
            *images,
            tensor(defocus_w[None, None]),
            tensor(defocus_t[None, None]),
            radial=tensor(radial[None, None]),
        ).image
    return np.clip(np.rint((out[0].numpy().transpose(1, 2, 0) + 1.0) * 127.5), 0, 255)


def test_app_io_coreml_meets_the_fp16_gate_against_the_render_pipeline(artifact):
    manifest = read_manifest(artifact)
    assert manifest["target"] == "coreml" and manifest["options"]["app_io"] is True
    assert manifest["parity"]["passed"] and manifest["parity"]["min_psnr_db"] >= 45.0
    runtime = "Core ML" if sys.platform == "darwin" else "ML-program executor (fp16 emulation)"
    assert runtime in manifest["parity"]["runtime"]
    assert manifest["parity"]["case_settings"][0]["capture"] == "sample:iphone"
    latency = manifest["contract"]["latency_estimate"]
    assert latency["device"].startswith("A16") and latency["latency_ms_per_tile"] > 0
    assert "estimate" in latency["label"] and latency["assumptions"]


def test_the_program_computes_the_defocus_formula_written_out_independently(artifact, vectors):
    """Fails if the graph's defocus formula changes: a render whose defocus is only 30 % off
    the formula is already far below the gate this one meets."""
    _, arrays = vectors
    feeds = _feeds(arrays)
    model = _model(artifact)
    output = _run(artifact, feeds).astype(np.float64)
    assert psnr(_independent_render(model, feeds), output, peak=255.0) >= 45.0
    assert psnr(_independent_render(model, feeds, 1.3), output, peak=255.0) < 40.0


def test_contract_vectors_fed_back_into_the_mil_executor_reproduce_the_outputs(artifact, vectors):
    index, arrays = vectors
    feeds = _feeds(arrays)
    assert feeds["w"].dtype == np.uint8 and feeds["w"].shape == (*TILE, 3)
    assert feeds["disparity"].dtype == np.float16 and feeds["disparity"].shape == TILE
    assert feeds["tile_left"].dtype == np.float32 and feeds["tile_left"].shape == (1,)
    assert index["artifact_sha256"] == read_manifest(artifact)["sha256"]
    output = arrays["expected/image"]
    assert output.dtype == np.uint8 and output.shape == (1, *TILE, 3)
    np.testing.assert_array_equal(_run(artifact, feeds), output[0])
    pipeline = arrays["expected/pipeline_image"].astype(np.float64)
    assert psnr(pipeline, output[0].astype(np.float64), peak=255.0) >= 45.0


@pytest.mark.skipif(sys.platform != "darwin", reason="Core ML predictions need macOS")
def test_core_ml_itself_reproduces_the_vectors(artifact, vectors):
    from dc2kit.convert.app_io_coreml import app_coreml_runner

    _, arrays = vectors
    run, runtime = app_coreml_runner(artifact, "fp16")
    assert runtime.startswith("Core ML")
    output = run(_feeds(arrays))["image"]
    difference = np.abs(output.astype(int) - arrays["expected/image"].astype(int))
    assert difference.max() <= 2  # the Neural Engine's fp16 rounding is not the emulation's


def test_a_corner_tile_of_a_12_mp_frame_runs_in_fp16_without_overflow(artifact, vectors):
    """The radial mask squares frame coordinates: in pixels, 2016² would overflow fp16."""
    _, arrays = vectors
    feeds = _feeds(arrays)
    corner = {"tile_top": 3024.0 - TILE[0], "tile_left": 4032.0 - TILE[1]}
    frame = {"frame_height": 3024.0, "frame_width": 4032.0}
    feeds.update({k: np.array([v], np.float32) for k, v in {**corner, **frame}.items()})
    model = _model(artifact)
    output = _run(artifact, feeds).astype(np.float64)
    assert psnr(_independent_render(model, feeds), output, peak=255.0) >= 40.0


def test_contract_prints_the_rows_and_the_latency_estimate(artifact, capsys):
    assert main(["contract", str(artifact)]) == 0
    out = capsys.readouterr().out
    assert "disparity:" in out and "OneComponent16Half" in out
    assert "ms per tile on the A16 Neural Engine" in out and "estimate" in out


def test_verify_renders_the_gate_case_again_and_passes(artifact):
    result = verify_artifact(artifact, app_cases=gate_cases)
    assert result.sha256_matches and result.passed, result.parity.reason
    assert result.parity.min_psnr_db >= 45.0
    with pytest.raises(ExportError, match="app-io artifact") as caught:
        verify_artifact(artifact)
    assert "\n" not in str(caught.value)
