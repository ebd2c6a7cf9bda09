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
from dc2kit.convert.quantize import CalibrationSet, graph_io_names, quantize_w8a8, with_headroom
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


def test_headroom_widens_each_range_away_from_zero_and_keeps_the_graph_io():
    ranges = {
        "signed": {"min": np.array([-2.0], np.float32), "max": np.array([0.5], np.float32)},
        "positive": {"min": np.array([0.25], np.float32), "max": np.array([1.0], np.float32)},
        "negative": {"min": np.array([-3.0], np.float32), "max": np.array([-1.0], np.float32)},
        "render_x": {"min": np.array([-1.0], np.float32), "max": np.array([1.0], np.float32)},
        "weights_only": {"shape": (3,)},
    }
    widened = with_headroom(ranges, 1.2, frozenset({"render_x"}))
    expected = {
        "signed": (-2.4, 0.6),
        "positive": (0.25, 1.2),  # a one-sided range keeps its side (and [0, x] its zero point)
        "negative": (-3.6, -1.0),
        "render_x": (-1.0, 1.0),  # a graph input's range is the data's own
    }
    for tensor, (low, high) in expected.items():
        np.testing.assert_allclose(widened[tensor]["min"], [low], rtol=1e-6)
        np.testing.assert_allclose(widened[tensor]["max"], [high], rtol=1e-6)
        assert widened[tensor]["min"].dtype == np.float32
    assert widened["weights_only"] == {"shape": (3,)}
    assert ranges["signed"]["min"][0] == -2.0  # the calibration's own ranges are left as they were


def test_graph_io_names_are_the_signature_tensors(composite_flatbuffer):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=composite_flatbuffer)
    ends = interpreter.get_input_details() + interpreter.get_output_details()
    assert graph_io_names(composite_flatbuffer) >= {d["name"] for d in ends}
    assert len({d["name"] for d in ends}) == 2


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
    # Both read one cached artifact, named by its lowering; the composite has its own runtimes.
    paths = {
        RUNTIMES[n].artifact_path(workload, tmp_path) for n in ("tflite-w8a8", "tflite-w8a8-lowmem")
    }
    assert len(paths) == 1 and next(iter(paths)).name.endswith("-w8a8-ops.tflite")
    assert RUNTIMES["tflite-fp32-composite"].kernel_predict == "composite"
    assert "tflite-w8a8-composite" not in RUNTIMES


HOST = {"cpu_model": "Test CPU", "cores": 2, "threads": 2, "date": "2026-01-02T10:00:00+00:00"}


def _row(runtime: str, p50: float, partitions: int, busy: bool) -> Measurement:
    config = {"preset": "mobile", "width": 512, "height": 384, "threads": 2}
    config["formulation"] = "im2col"  # what export ships; the target compares only its rows
    config["precision"] = runtime.split("-")[1]
    config["kernel_predict"] = "ops"  # rows without it were measured on the composite artifact
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
