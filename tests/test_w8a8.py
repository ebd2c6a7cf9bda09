"""w8a8 beyond the quantizer itself: the refused kernel-prediction composite on the graph (the
options' refusal before converting is test_export_checks'), the bench runtime, the report's
speed-up target."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from dc2kit.bench.registry import RUNTIMES
from dc2kit.bench.report import generate_report
from dc2kit.bench.results import LOAD_END, LOAD_START, Measurement, Timings, append_results
from dc2kit.bench.runtimes import Workload
from dc2kit.convert.errors import ExportError
from dc2kit.convert.quantize import CalibrationSet, quantize_w8a8
from dc2kit.convert.tflite_lowering import CompositeKernelPredict

K = 3
SHAPE = (1, 3, 12, 16)


class KernelPredictNet(nn.Module):
    """A convolution predicting per-pixel kernels applied to the image: one kernel-prediction
    call, lowered as a composite or as plain ops."""

    def __init__(self, composite: bool) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.kernels = nn.Conv2d(3, K * K, 3, padding=1)
        self.apply_kernels = CompositeKernelPredict(K, "shift", composite=composite)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"y": self.apply_kernels(x, self.kernels(x))}


def _sample(seed: int) -> dict[str, np.ndarray]:
    return {"x": np.random.default_rng(seed).uniform(-1, 1, SHAPE).astype(np.float32)}


@pytest.fixture(scope="module")
def composite_flatbuffer() -> bytes:
    import litert_torch

    sample = {"x": torch.from_numpy(_sample(0)["x"])}
    module = KernelPredictNet(composite=True).eval()
    return litert_torch.signature("render", module, sample_kwargs=sample).convert().model_content()


def test_a_composite_graph_is_refused_before_calibration(composite_flatbuffer, tmp_path):
    destination = tmp_path / "kp_w8a8.tflite"
    calibration = CalibrationSet((_sample(1),))
    with pytest.raises(ExportError) as error:
        quantize_w8a8(composite_flatbuffer, calibration, "render", destination)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"{destination}: w8a8 needs --kernel-predict ops")
    assert "STABLEHLO_COMPOSITE" in message
    assert not destination.exists()


def test_bench_w8a8_runtimes_quantize_the_plain_ops_conversion(tmp_path):
    workload = Workload("mobile", 64, 96, 2, weights=None)
    for name in ("tflite-w8a8", "tflite-w8a8-lowmem"):
        runtime = RUNTIMES[name]
        assert runtime.kernel_predict == "ops"
        assert runtime.describe() == {
            "precision": "w8a8",
            "executor": runtime.executor,
            "kernel_predict": "ops",
        }
    # Both read one cached artifact; the default precisions keep their composite conversion.
    paths = {
        RUNTIMES[n].artifact_path(workload, tmp_path) for n in ("tflite-w8a8", "tflite-w8a8-lowmem")
    }
    assert len(paths) == 1 and next(iter(paths)).name.endswith("-w8a8.tflite")
    assert RUNTIMES["tflite-fp32"].kernel_predict == "composite"
    assert "kernel_predict" not in RUNTIMES["tflite-fp32"].describe()


HOST = {"cpu_model": "Test CPU", "cores": 2, "threads": 2, "date": "2026-01-02T10:00:00+00:00"}


def _row(runtime: str, p50: float, partitions: int, busy: bool) -> Measurement:
    config = {"preset": "mobile", "width": 512, "height": 384, "threads": 2}
    config["precision"] = runtime.split("-")[1]
    timings = Timings(None, None, 2, 10, p50, p50, p50, p50, p50)
    load = {LOAD_START: 3.0, LOAD_END: 3.5} if busy else {LOAD_START: 0.5, LOAD_END: 0.5}
    placement = {"delegates": [{"delegate": "XNNPACK", "partitions": partitions}]}
    return Measurement(
        "model",
        runtime,
        config,
        "measured",
        timings,
        peak_rss_mb=500.0,
        provenance={**HOST, **load},
        placement=placement,
    )


def test_report_shows_the_w8a8_speed_up_against_the_goal_busy_rows_marked(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    rows = [_row("tflite-fp32", 360.0, 12, busy=False), _row("tflite-w8a8", 180.0, 1, busy=True)]
    append_results(results / "model.jsonl", rows)
    text = generate_report(results, tmp_path / "REPORT.md", tmp_path / "plots").read_text()
    name = "TFLite w8a8 (full-integer) vs TFLite fp32 on XNNPACK, mobile preset, 512×384"
    # 360 / 180 = 2.00x >= 1.8x: met, though measured while busy (and said so).
    assert f"| {name} | ≥ 1.8× faster (p50) | 2.00× at 2 threads (busy) | **met** |" in text
    assert "| 2 | 360 | 180 | 2.00× | 12 / 1 | busy | met |" in text
    slower = [_row("tflite-fp32", 300.0, 1, busy=False), _row("tflite-w8a8", 200.0, 1, False)]
    Path(results / "model.jsonl").unlink()
    append_results(results / "model.jsonl", slower)
    text = generate_report(results, tmp_path / "REPORT.md", tmp_path / "plots").read_text()
    assert f"| {name} | ≥ 1.8× faster (p50) | 1.50× at 2 threads (quiet) | **not met** |" in text
