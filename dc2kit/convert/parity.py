"""Parity of an exported artifact with the PyTorch model: the one PSNR definition and the gates.

PSNR is the one Apple's ml-stable-diffusion, ml-ane-transformers and Qualcomm AI Hub use:
`20 · log10((max|ref| + 1e-5) / (rms(out − ref) + 1e-10))`. Every output is compared on two
input sets: random inputs, and a structured scene (smooth gradients, edges, a defocus map with a
sharp depth step). An artifact passes when every output of every check meets its precision's gate.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from dc2kit.convert.wrap import INPUT_NAMES
from dc2kit.model import DC2Config
from dc2kit.model.synthetic import synthetic_scene

GATES_DB = {"fp32": 80.0, "fp16": 45.0, "int8": 30.0}
MAX_RANDOM_BLUR_PX = 8.0

Arrays = dict[str, np.ndarray]
Runner = Callable[[Arrays], Mapping[str, np.ndarray]]


def psnr(reference: np.ndarray, output: np.ndarray) -> float:
    """Peak signal-to-noise ratio of `output` against `reference`, in dB."""
    reference = np.asarray(reference, np.float64)
    error = np.asarray(output, np.float64) - reference
    rms = float(np.sqrt(np.mean(error**2)))
    return float(20.0 * np.log10((np.abs(reference).max() + 1e-5) / (rms + 1e-10)))


def max_abs_error(reference: np.ndarray, output: np.ndarray) -> float:
    return float(np.abs(np.asarray(output, np.float64) - np.asarray(reference, np.float64)).max())


def parity_inputs(config: DC2Config, seed: int = 0) -> dict[str, Arrays]:
    """The two input sets every artifact is checked on, as float32 NCHW arrays by name."""
    generator = torch.Generator().manual_seed(seed)
    h, w = config.height, config.width
    random = (
        torch.rand(1, 3, h, w, generator=generator) * 2 - 1,
        torch.rand(1, 3, h, w, generator=generator) * 2 - 1,
        torch.rand(1, 1, h, w, generator=generator) * MAX_RANDOM_BLUR_PX,
        torch.rand(1, 1, h, w, generator=generator) * MAX_RANDOM_BLUR_PX,
    )
    structured = synthetic_scene(h, w, seed=seed)
    return {
        name: {
            key: t.numpy().astype(np.float32) for key, t in zip(INPUT_NAMES, tensors, strict=True)
        }
        for name, tensors in (("random", random), ("structured", structured))
    }


@dataclass(frozen=True)
class OutputParity:
    output: str
    psnr_db: float
    max_abs: float


@dataclass(frozen=True)
class CheckResult:
    check: str  # "random" or "structured"
    outputs: tuple[OutputParity, ...]

    @property
    def min_psnr_db(self) -> float:
        return min(o.psnr_db for o in self.outputs)


@dataclass(frozen=True)
class ParityReport:
    runtime: str  # e.g. "tflite interpreter", "coreml executor fp16"
    precision: str
    gate_db: float
    checks: tuple[CheckResult, ...]

    @property
    def min_psnr_db(self) -> float:
        return min(c.min_psnr_db for c in self.checks)

    @property
    def passed(self) -> bool:
        return self.min_psnr_db >= self.gate_db

    @property
    def reason(self) -> str:
        worst = min(
            ((c.check, o) for c in self.checks for o in c.outputs), key=lambda item: item[1].psnr_db
        )
        verdict = "meets" if self.passed else "misses"
        return (
            f"{self.runtime}: {worst[1].output} on {worst[0]} inputs at {worst[1].psnr_db:.1f} dB "
            f"{verdict} the {self.precision} gate of {self.gate_db:.0f} dB"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "min_psnr_db": self.min_psnr_db,
            "passed": self.passed,
            "reason": self.reason,
        }


def compare_outputs(
    check: str, reference: Mapping[str, np.ndarray], output: Mapping[str, np.ndarray]
) -> CheckResult:
    """PSNR and max-abs per output name of `reference` (the artifact must produce them all)."""
    missing = sorted(set(reference) - set(output))
    if missing:
        raise KeyError(f"artifact lacks outputs {missing}")
    return CheckResult(
        check,
        tuple(
            OutputParity(name, psnr(ref, output[name]), max_abs_error(ref, output[name]))
            for name, ref in reference.items()
        ),
    )


def check_parity(
    reference: Runner, artifact: Runner, inputs: Mapping[str, Arrays], runtime: str, precision: str
) -> ParityReport:
    """Run both on every input set and compare every output against the precision's gate."""
    checks = tuple(
        compare_outputs(name, reference(arrays), artifact(arrays))
        for name, arrays in inputs.items()
    )
    return ParityReport(runtime, precision, GATES_DB[precision], checks)


def torch_runner(module: torch.nn.Module, output_names: tuple[str, ...]) -> Runner:
    """Reference outputs of the PyTorch export wrapper, by output name, in float32."""

    @torch.inference_mode()
    def run(arrays: Arrays) -> dict[str, np.ndarray]:
        outputs = module(*(torch.from_numpy(arrays[name]) for name in INPUT_NAMES))
        return {name: t.numpy() for name, t in zip(output_names, outputs, strict=True)}

    return run
