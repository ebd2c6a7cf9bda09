"""Phone latency estimates from MAC counts. Always labelled estimates; never measurements.

The model is deliberately simple: latency = 2 · MACs / effective throughput, where the effective
throughput comes from a published phone figure (deployment-facts.md) or a stated utilisation of
a peak. It ignores memory traffic and the poor utilisation of narrow layers, so it is a lower
bound for narrow networks such as the mobile preset.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Accelerator:
    name: str
    effective_tflops: float  # fp16 FLOP/s (= 2 × MAC/s) reached by conv-heavy networks
    assumption: str


SNAPDRAGON_8_GEN_2_NPU = Accelerator(
    name="Snapdragon 8 Gen 2 NPU (fp16, QNN)",
    effective_tflops=8.7,
    assumption=(
        "8.7 TFLOP/s effective: a 602 GMAC U-Net at 640x1280 runs in 138 ms fp16 on QNN "
        "(Qualcomm AI Hub), 2 x 602e9 / 0.138 s"
    ),
)
A16_NEURAL_ENGINE = Accelerator(
    name="A16 Neural Engine (fp16, iPhone 14 Pro)",
    effective_tflops=8.5,
    assumption=(
        "8.5 TFLOP/s effective: an assumed 50 % of the 17 TOPS peak (no published A16 "
        "figure comes with a MAC count to calibrate against)"
    ),
)
ACCELERATORS = (SNAPDRAGON_8_GEN_2_NPU, A16_NEURAL_ENGINE)
COMMON_ASSUMPTIONS = (
    "compute-bound: memory traffic, op dispatch and layout changes are ignored",
    "the whole graph runs on the accelerator (no CPU fallback)",
    "narrow layers (< 64 channels) use the accelerator poorly, so narrow presets will be slower",
)


@dataclass(frozen=True)
class LatencyEstimate:
    device: str
    latency_ms: float
    assumptions: tuple[str, ...]
    label: str = "estimate"


def estimate_latency(macs: int, accelerator: Accelerator) -> LatencyEstimate:
    """Estimated latency of `macs` multiply-accumulates on `accelerator`."""
    seconds = 2.0 * macs / (accelerator.effective_tflops * 1e12)
    return LatencyEstimate(
        accelerator.name, seconds * 1e3, (accelerator.assumption, *COMMON_ASSUMPTIONS)
    )
