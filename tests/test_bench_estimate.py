"""Phone estimates: bytes moved against a hand count, the roofline, and how figures are labelled."""

import json

import pytest
import torch
from torch import nn

from dc2kit.bench.estimate import (
    A16_NEURAL_ENGINE,
    ACCELERATORS,
    SNAPDRAGON_8_GEN_2_NPU,
    Traffic,
    count_traffic,
    estimate_measurements,
    model_traffic,
    roofline_estimate,
)
from dc2kit.bench.results import Measurement
from dc2kit.model import preset_config
from dc2kit.model.kernel_predict import KernelPredict
from dc2kit.model.summary import model_costs


class Tiny(nn.Module):
    """Features → per-pixel 3×3 kernels → kernel prediction on the input, like one DRBNet head."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Conv2d(3, 8, 3, padding=1)
        self.kernels = nn.Conv2d(8, 9, 1, bias=False)
        self.apply_kernels = KernelPredict(3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.apply_kernels(x, self.kernels(torch.relu(self.features(x))))


def test_traffic_matches_a_hand_count():
    with torch.device("meta"):
        model, x = Tiny(), torch.zeros(1, 3, 16, 16)
    traffic = count_traffic(model, lambda m: m(x))
    pixels = 16 * 16
    features = (8 * 3 * 3 * 3 + 8, 3 * pixels + 8 * pixels)  # (weights + bias, in + out)
    kernels = (9 * 8, 8 * pixels + 9 * pixels)
    predict = (0, 3 * pixels + 9 * pixels + 3 * pixels)  # image + kernels in, image out
    assert traffic == Traffic(
        weights=features[0] + kernels[0] + predict[0],
        activations=features[1] + kernels[1] + predict[1],
        layers=3,
    )
    assert traffic.bytes(weight_bytes=2, activation_bytes=2) == 2 * (296 + 11008)
    assert traffic.bytes(weight_bytes=1, activation_bytes=2) == 296 + 2 * 11008


def test_every_dc2net_parameter_is_read_once():
    config = preset_config("mobile", 64, 96)
    assert model_traffic(config).weights == model_costs(config)["total"].params


def test_roofline_is_the_slower_of_compute_and_memory():
    traffic = Traffic(weights=1_000_000, activations=500_000_000, layers=10)
    narrow = roofline_estimate(10_000_000_000, traffic, SNAPDRAGON_8_GEN_2_NPU, "fp16")
    moved = 2 * 1_000_000 + 2 * 500_000_000
    assert narrow.bytes_moved == moved
    assert narrow.memory_ms == pytest.approx(moved / (64e9 * 0.6) * 1e3)  # 26.1 ms
    assert narrow.compute_ms == pytest.approx(2 * 10e9 / 8.7e12 * 1e3)  # 2.3 ms
    assert narrow.latency_ms == narrow.memory_ms and narrow.bound == "memory"
    wide = roofline_estimate(1_000_000_000_000, traffic, SNAPDRAGON_8_GEN_2_NPU, "fp16")
    assert wide.latency_ms == wide.compute_ms == pytest.approx(2e12 / 8.7e12 * 1e3)
    assert wide.bound == "compute"


def test_int8_moves_fewer_bytes_where_the_chip_keeps_int8():
    traffic = Traffic(weights=100, activations=1000, layers=1)
    assert roofline_estimate(1, traffic, SNAPDRAGON_8_GEN_2_NPU, "int8").bytes_moved == 1100
    assert roofline_estimate(1, traffic, A16_NEURAL_ENGINE, "int8").bytes_moved == 2100
    with pytest.raises(ValueError, match="no phone estimate"):
        roofline_estimate(1, traffic, A16_NEURAL_ENGINE, "fp32")


def test_estimate_measurements_are_labelled_with_their_assumptions():
    measurements = estimate_measurements("mobile", 64, 96, "fp16")
    config = preset_config("mobile", 64, 96)
    macs, traffic = model_costs(config)["total"].macs, model_traffic(config)
    assert [m.runtime for m in measurements] == ["estimate-sd8gen2-npu", "estimate-a16-ne"]
    for measurement, accelerator in zip(measurements, ACCELERATORS, strict=True):
        expected = roofline_estimate(macs, traffic, accelerator, "fp16")
        assert measurement.source == "estimate"
        assert measurement.notes[0].startswith("estimate, ")
        assert accelerator.bandwidth_assumption in measurement.notes
        assert any("achievable" in note for note in measurement.notes)
        assert measurement.timings.runs == 0
        assert measurement.timings.mean_ms == pytest.approx(
            max(expected.compute_ms, expected.memory_ms)
        )
        assert measurement.gmac == pytest.approx(macs / 1e9)
        assert measurement.config["precision"] == "fp16"
        assert Measurement.from_dict(json.loads(measurement.to_json())) == measurement
