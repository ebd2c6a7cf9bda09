"""Phone latency estimates from MACs and bytes moved. Always labelled estimates; never measurements.

A roofline, stated with its assumptions: latency = max(compute time, memory time). The compute
time is 2 · MACs over an effective throughput taken from a published phone figure
(deployment-facts.md) or a stated utilisation of a peak. The memory time is the DRAM traffic of
every conv and kernel-prediction call (weights, inputs read, outputs written at the precision's
byte width) over an assumed achievable share of the phone's peak bandwidth. Narrow,
full-resolution layers move many bytes per MAC, so memory is the term that dominates them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from dc2kit.bench.results import Measurement, Timings, provenance
from dc2kit.model import DC2Config, DC2Net, preset_config
from dc2kit.model.kernel_predict import KernelPredict
from dc2kit.model.summary import model_costs

PRECISIONS = ("fp16", "int8")
ACHIEVABLE_BANDWIDTH = 0.6
BANDWIDTH_ASSUMPTION = (
    f"{ACHIEVABLE_BANDWIDTH:.0%} of the peak DRAM bandwidth is achievable by the accelerator "
    "(assumed, not measured here)"
)


@dataclass(frozen=True)
class Regime:
    """How an accelerator runs one precision: its throughput roof and bytes per stored element."""

    tflops: float  # effective (FL)OP/s / 1e12, two per MAC
    weight_bytes: int
    activation_bytes: int
    assumption: str


@dataclass(frozen=True)
class Accelerator:
    name: str
    effective_tflops: float  # fp16 FLOP/s (= 2 × MAC/s) reached by conv-heavy networks
    assumption: str
    key: str  # short id for runtime labels: "estimate-<key>"
    peak_bandwidth_gbs: float
    bandwidth_assumption: str
    int8: Regime

    def regime(self, precision: str) -> Regime:
        if precision == "fp16":
            return Regime(self.effective_tflops, 2, 2, self.assumption)
        if precision == "int8":
            return self.int8
        raise ValueError(f"no phone estimate for precision {precision!r}; choose from {PRECISIONS}")


SNAPDRAGON_8_GEN_2_NPU = Accelerator(
    name="Snapdragon 8 Gen 2 NPU (fp16, QNN)",
    effective_tflops=8.7,
    assumption=(
        "8.7 TFLOP/s effective: a 602 GMAC U-Net at 640x1280 runs in 138 ms fp16 on QNN "
        "(Qualcomm AI Hub), 2 x 602e9 / 0.138 s"
    ),
    key="sd8gen2-npu",
    peak_bandwidth_gbs=64.0,
    bandwidth_assumption="64 GB/s peak DRAM bandwidth (LPDDR5X, 64-bit bus)",
    int8=Regime(
        tflops=33.9,
        weight_bytes=1,
        activation_bytes=1,
        assumption=(
            "33.9 TOP/s effective int8 (w8a8): the same U-Net runs in 35.5 ms w8a8 on TFLite "
            "(Qualcomm AI Hub), 2 x 602e9 / 0.0355 s; weights and activations 1 byte"
        ),
    ),
)
A16_NEURAL_ENGINE = Accelerator(
    name="A16 Neural Engine (fp16, iPhone 14 Pro)",
    effective_tflops=8.5,
    assumption=(
        "8.5 TFLOP/s effective: an assumed 50 % of the 17 TOPS peak (no published A16 "
        "figure comes with a MAC count to calibrate against)"
    ),
    key="a16-ne",
    peak_bandwidth_gbs=51.2,
    bandwidth_assumption="51.2 GB/s peak DRAM bandwidth (LPDDR5-6400, 64-bit bus)",
    int8=Regime(
        tflops=8.5,
        weight_bytes=1,
        activation_bytes=2,
        assumption=(
            "int8 on A16: no compute speed-up over fp16 (int8 compute arrives with A17 Pro), "
            "so 8.5 TFLOP/s; 8-bit weights, activations kept in fp16 (2 bytes)"
        ),
    ),
)
ACCELERATORS = (SNAPDRAGON_8_GEN_2_NPU, A16_NEURAL_ENGINE)
ROOFLINE_ASSUMPTIONS = (
    "latency = max(compute time, memory time): compute and DRAM traffic overlap perfectly",
    "every conv and kernel-prediction call reads its weights and inputs from DRAM and writes its "
    "output to DRAM once (full-resolution activations are far larger than on-chip memory)",
    "elementwise ops, pooling, resizes and concatenations are assumed fused and move no bytes, "
    "so the memory term is a lower bound for an unfused graph",
    "the whole graph runs on the accelerator (no CPU fallback); op dispatch is ignored",
)


# ----------------------------------------------------------------------------- bytes moved


@dataclass(frozen=True)
class Traffic:
    """Elements moved by the counted layers, summed over calls (no reuse between layers)."""

    weights: int  # conv weights and biases, read once per call
    activations: int  # layer inputs read plus outputs written
    layers: int

    def bytes(self, weight_bytes: int, activation_bytes: int) -> int:
        return self.weights * weight_bytes + self.activations * activation_bytes


def count_traffic(module: nn.Module, run: Callable[[nn.Module], object]) -> Traffic:
    """Elements each conv and kernel-prediction call in `run(module)` reads and writes.

    Counted from the shapes the calls actually see (run it on meta tensors: no memory, no compute).
    """
    totals = {"weights": 0, "activations": 0, "layers": 0}

    def on_conv(conv: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        bias = conv.bias.numel() if conv.bias is not None else 0
        totals["weights"] += conv.weight.numel() + bias
        totals["activations"] += inputs[0].numel() + output.numel()
        totals["layers"] += 1

    def on_kernel_predict(_: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        image, kernels = inputs
        totals["activations"] += image.numel() + kernels.numel() + output.numel()
        totals["layers"] += 1

    handles = []
    for sub in module.modules():
        if isinstance(sub, nn.Conv2d | nn.ConvTranspose2d):
            handles.append(sub.register_forward_hook(on_conv))
        elif isinstance(sub, KernelPredict):
            handles.append(sub.register_forward_hook(on_kernel_predict))
    try:
        run(module)
    finally:
        for handle in handles:
            handle.remove()
    return Traffic(**totals)


def model_traffic(config: DC2Config) -> Traffic:
    """Elements one forward pass of `config`'s network moves, from a meta-device run."""
    with torch.device("meta"):
        model = DC2Net(config)
        inputs = model.example_inputs(device="meta")
    return count_traffic(model, lambda m: m(*inputs))


# ----------------------------------------------------------------------------- roofline


@dataclass(frozen=True)
class RooflineEstimate:
    device: str
    precision: str
    macs: int
    bytes_moved: int
    compute_ms: float
    memory_ms: float
    peak_tflops: float  # the compute roof used
    assumptions: tuple[str, ...]
    label: str = "estimate"

    @property
    def latency_ms(self) -> float:
        return max(self.compute_ms, self.memory_ms)

    @property
    def bound(self) -> str:
        return "memory" if self.memory_ms > self.compute_ms else "compute"


def roofline_estimate(
    macs: int, traffic: Traffic, accelerator: Accelerator, precision: str = "fp16"
) -> RooflineEstimate:
    """Latency of `macs` MACs moving `traffic` on `accelerator`: the slower of the two roofs."""
    regime = accelerator.regime(precision)
    moved = traffic.bytes(regime.weight_bytes, regime.activation_bytes)
    bandwidth = accelerator.peak_bandwidth_gbs * 1e9 * ACHIEVABLE_BANDWIDTH
    return RooflineEstimate(
        device=accelerator.name,
        precision=precision,
        macs=macs,
        bytes_moved=moved,
        compute_ms=2.0 * macs / (regime.tflops * 1e12) * 1e3,
        memory_ms=moved / bandwidth * 1e3,
        peak_tflops=regime.tflops,
        assumptions=(
            regime.assumption,
            accelerator.bandwidth_assumption,
            BANDWIDTH_ASSUMPTION,
            *ROOFLINE_ASSUMPTIONS,
        ),
    )


def _measurement(estimate: RooflineEstimate, key: str, config: dict) -> Measurement:
    latency = estimate.latency_ms
    achieved = 2.0 * estimate.macs / (latency * 1e-3) / 1e9
    peak = estimate.peak_tflops * 1e3
    figures = (
        f"estimate, {estimate.bound}-bound: compute {estimate.compute_ms:.2f} ms, "
        f"memory {estimate.memory_ms:.2f} ms ({estimate.bytes_moved / 1e9:.3f} GB moved)"
    )
    return Measurement(
        suite="model",
        runtime=f"estimate-{key}",
        config={**config, "device": estimate.device},
        source="estimate",
        # A formula, not runs: runs=0 and every statistic is the one estimated latency.
        timings=Timings(None, None, 0, 0, latency, latency, latency, latency, latency),
        gmac=estimate.macs / 1e9,
        achieved_gflops=achieved,
        machine_peak_gflops=peak,
        share_of_peak=achieved / peak,
        notes=(figures, *estimate.assumptions),
        provenance=provenance(),
    )


def estimate_measurements(
    preset: str, height: int, width: int, precision: str = "fp16"
) -> list[Measurement]:
    """Roofline estimates of `preset` at height × width on every phone accelerator, as results."""
    config = preset_config(preset, height, width)
    macs = model_costs(config)["total"].macs
    traffic = model_traffic(config)
    described = {"preset": preset, "height": height, "width": width, "precision": precision}
    return [
        _measurement(
            roofline_estimate(macs, traffic, accelerator, precision), accelerator.key, described
        )
        for accelerator in ACCELERATORS
    ]
