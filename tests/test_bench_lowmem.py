"""The low-memory TFLite runtime and the XNNPACK indirection-buffer estimate it is measured by."""

import json

import pytest
from torch import nn

from dc2kit.bench.footprint import MIB, indirection_bytes, indirection_cost
from dc2kit.bench.memory import rss_increment_mb
from dc2kit.cli import main
from dc2kit.model import preset_config

TINY = (64, 96)  # (height, width)


def _buffer(conv: nn.Conv2d, height: int, width: int) -> int:
    import torch

    return indirection_bytes(conv, torch.empty(1, conv.out_channels, height, width))


def test_one_convolution_costs_a_pointer_per_tap_per_output_pixel():
    assert _buffer(nn.Conv2d(3, 8, 3, padding=1), 10, 12) == 8 * 3 * 3 * 10 * 12
    assert _buffer(nn.Conv2d(8, 8, 5, padding=4, dilation=2), 10, 12) == 8 * 25 * 120
    assert _buffer(nn.Conv2d(8, 4, 1), 10, 12) == 0  # a plain GEMM
    assert _buffer(nn.Conv2d(8, 4, 1, stride=2), 5, 6) == 8 * 30  # strided: indirect


def test_network_cost_scales_with_pixels_and_transient_keeps_only_the_largest():
    small = indirection_cost(preset_config("mobile", 192, 256))
    large = indirection_cost(preset_config("mobile", 384, 512))
    assert large.convolutions == small.convolutions > 0
    assert large.total_bytes == 4 * small.total_bytes
    assert large.largest_bytes == 4 * small.largest_bytes
    assert small.largest_bytes < small.total_bytes / small.convolutions * 10


def test_info_reports_the_indirection_cost(capsys):
    assert main(["info", "--preset", "mobile", "--size", "512x384", "--json"]) == 0
    memory = json.loads(capsys.readouterr().out)["memory"]
    cost = indirection_cost(preset_config("mobile", 384, 512))
    assert memory["xnnpack_indirection_mib"] == pytest.approx(cost.total_bytes / MIB, abs=0.01)
    assert memory["xnnpack_indirection_transient_mib"] == pytest.approx(
        cost.largest_bytes / MIB, abs=0.01
    )


def test_lowmem_runtime_shares_the_artifact_and_saves_the_predicted_buffers(tflite_bench_run):
    default, lowmem = tflite_bench_run.measurements
    builds = [pair for pair in tflite_bench_run.stages if pair[1] == "build"]
    assert builds == [("tflite-fp32", "build")]  # the low-memory runtime reuses the artifact
    assert "xnnpack_flags=0x23" in lowmem.config["executor"]
    assert lowmem.config["precision"] == "fp32" and lowmem.timings.runs == 3
    cost = indirection_cost(preset_config("mobile", *TINY))
    saved = rss_increment_mb(default) - rss_increment_mb(lowmem)
    predicted = (cost.total_bytes - cost.largest_bytes) / MIB
    assert saved == pytest.approx(predicted, rel=0.25)


def test_im2col_adds_one_gather_convolution_per_colour_channel_per_call():
    height, width = 192, 256
    config = preset_config("mobile", height, width)
    shift, im2col = (indirection_cost(config, f) for f in ("shift", "im2col"))
    refiners, scales, colours, k = 2, 4, 3, config.kernel_size
    pixels = sum((height >> s) * (width >> s) for s in range(scales))  # 1, 1/2, 1/4, 1/8
    assert im2col.convolutions - shift.convolutions == refiners * scales * colours
    assert im2col.total_bytes - shift.total_bytes == refiners * colours * 8 * k * k * pixels
    assert indirection_cost(config) == im2col  # what export ships
