"""Kernel-prediction microbenchmark: real tiny runs, the op-only TFLite module, statistics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dc2kit.bench.memory import rss_increment_mb
from dc2kit.bench.micro import SUITE, MicroConfig, run_child, run_micro
from dc2kit.bench.micro_op import export_kernel_predict_tflite, make_inputs
from dc2kit.bench.results import LOAD_END, LOAD_START
from dc2kit.bench.runtimes import graph_code_fingerprint
from dc2kit.convert.tflite import COMPOSITE_NAME, tflite_runner
from dc2kit.convert.tflite_report import (
    composite_label,
    composite_names,
    count_ops,
    read_tflite_subgraphs,
)
from dc2kit.model.kernel_predict import kernel_predict

WIDTH, HEIGHT, K = 64, 48, 5


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp("micro")
    lines: list[str] = []
    measurements = run_micro(
        [(HEIGHT, WIDTH)],
        [K],
        ["shift"],
        engines=("torch", "tflite"),
        runs=2,
        seconds=0,
        work_dir=work_dir,
        progress=lines.append,
        warmup=1,
        threads=1,
    )
    return measurements, work_dir, lines


def test_tiny_run_fills_the_schema(tiny_run):
    measurements, _, lines = tiny_run
    assert [m.runtime for m in measurements] == ["torch-shift", "tflite-shift"]
    assert len(lines) == 2
    gmac = 3 * K * K * WIDTH * HEIGHT / 1e9
    for m in measurements:
        assert m.suite == SUITE
        assert m.source == "measured"
        config = dict(m.config)
        executor = config.pop("executor")
        assert executor.startswith("PyTorch" if m.runtime.startswith("torch") else "LiteRT")
        assert config == {
            "formulation": "shift",
            "height": HEIGHT,
            "k": K,
            "threads": 1,
            "width": WIDTH,
        }
        t = m.timings
        assert t is not None
        assert t.runs >= 2
        assert t.warmup == 1
        assert t.first_ms > 0
        assert t.min_ms <= t.p50_ms <= t.p90_ms
        assert t.min_ms <= t.trimmed_mean_ms
        assert t.min_ms <= t.mean_ms
        assert m.peak_rss_mb > 0
        increment = rss_increment_mb(m)
        assert increment is not None
        assert -1 < increment < m.peak_rss_mb
        assert m.gmac == pytest.approx(gmac)
        assert m.achieved_gflops == pytest.approx(2 * gmac / (t.p50_ms / 1e3))
        assert m.provenance["threads"] == 1
        assert m.provenance[LOAD_START] >= 0 and m.provenance[LOAD_END] >= 0
    torch_run, tflite_run = measurements
    assert torch_run.timings.load_ms is None
    assert tflite_run.timings.load_ms > 0


def test_tflite_model_is_cached_by_graph_code_and_holds_one_named_composite(tiny_run):
    measurements, work_dir, _ = tiny_run
    (path,) = work_dir.glob("*.tflite")
    code = graph_code_fingerprint()
    assert path.name == f"kernel_predict_shift_k{K}_{WIDTH}x{HEIGHT}-code{code}.tflite"
    assert {m.provenance["graph_code"] for m in measurements} == {code}
    subgraphs = read_tflite_subgraphs(path)
    assert composite_names(subgraphs) == (COMPOSITE_NAME,)
    assert count_ops(subgraphs)[composite_label(COMPOSITE_NAME)] == 1


@pytest.mark.parametrize("formulation", ["shift", "im2col"])
def test_op_only_tflite_matches_torch(tmp_path, formulation):
    path = export_kernel_predict_tflite(tmp_path / "op.tflite", K, formulation, WIDTH, HEIGHT)
    subgraphs = read_tflite_subgraphs(path)
    composites = sum(n for op, n in count_ops(subgraphs).items() if op.startswith("STABLEHLO_COMP"))
    assert composites == 1
    assert composite_names(subgraphs) == (COMPOSITE_NAME,)
    image, kernels = make_inputs(K, WIDTH, HEIGHT)
    (output,) = tflite_runner(path, threads=1)({"args_0": image, "args_1": kernels}).values()
    expected = kernel_predict(torch.from_numpy(image), torch.from_numpy(kernels), "reference")
    np.testing.assert_allclose(output, expected.numpy(), atol=1e-5, rtol=0)


def test_failed_child_is_reported_not_raised(tmp_path):
    config = MicroConfig("tflite", "shift", K, WIDTH, HEIGHT, 1, 0, 0, 1, str(tmp_path / "no"))
    result = run_child(config)
    assert result["error"].startswith("child exited with 1")


def test_unknown_engine_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown engines"):
        run_micro([(HEIGHT, WIDTH)], [K], ["shift"], engines=("onnx",), work_dir=tmp_path)
