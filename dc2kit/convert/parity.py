"""Parity of an exported artifact with the PyTorch model: the one PSNR definition and the gates.

PSNR is the one Apple's ml-stable-diffusion, ml-ane-transformers and Qualcomm AI Hub use:
`20 · log10((max|ref| + 1e-5) / (rms(out − ref) + 1e-10))`. Every output is compared on two
input sets: random inputs, and a structured scene (smooth gradients, edges, a defocus map with a
sharp depth step). An artifact passes when every output of every check is finite and meets its
precision's gate: a NaN or inf anywhere (in an output, hence in its PSNR) fails, since `min` and
`>=` would otherwise let NaN through.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from dc2kit.convert.errors import ParityError
from dc2kit.convert.targets import GATES_DB
from dc2kit.convert.wrap import INPUT_NAMES
from dc2kit.metrics import psnr
from dc2kit.model import DC2Config
from dc2kit.model.synthetic import synthetic_scene

MAX_RANDOM_BLUR_PX = 8.0

Arrays = dict[str, np.ndarray]
Runner = Callable[[Arrays], Mapping[str, np.ndarray]]


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
    psnr_db: float  # NaN or -inf when the output (or the reference) is not finite
    max_abs: float
    finite: bool = True  # every value of the artifact's output is finite

    def meets(self, gate_db: float) -> bool:
        return self.finite and math.isfinite(self.psnr_db) and self.psnr_db >= gate_db


def _badness(item: OutputParity) -> float:
    """Ordering key, worst first: non-finite results sort below every real PSNR."""
    return item.psnr_db if item.finite and math.isfinite(item.psnr_db) else -math.inf


@dataclass(frozen=True)
class CheckResult:
    check: str  # "random" or "structured"
    outputs: tuple[OutputParity, ...]

    @property
    def min_psnr_db(self) -> float:
        return min(self.outputs, key=_badness).psnr_db


@dataclass(frozen=True)
class ParityReport:
    runtime: str  # e.g. "tflite interpreter", "coreml executor fp16"
    precision: str
    gate_db: float
    checks: tuple[CheckResult, ...]

    def _worst(self) -> tuple[str, OutputParity]:
        pairs = ((c.check, o) for c in self.checks for o in c.outputs)
        return min(pairs, key=lambda pair: _badness(pair[1]))

    @property
    def min_psnr_db(self) -> float:
        return self._worst()[1].psnr_db

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(
            o.meets(self.gate_db) for c in self.checks for o in c.outputs
        )

    @property
    def reason(self) -> str:
        check, worst = self._worst()
        if _badness(worst) == -math.inf:
            return (
                f"{self.runtime}: {worst.output} on {check} inputs is not finite (NaN or inf), "
                f"which fails the {self.precision} gate"
            )
        verdict = "meets" if self.passed else "misses"
        return (
            f"{self.runtime}: {worst.output} on {check} inputs at {worst.psnr_db:.1f} dB "
            f"{verdict} the {self.precision} gate of {self.gate_db:.0f} dB"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: non-finite numbers become None (JSON has no NaN)."""
        return _finite_or_none(
            {
                **asdict(self),
                "min_psnr_db": self.min_psnr_db,
                "passed": self.passed,
                "reason": self.reason,
            }
        )


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite_or_none(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite_or_none(item) for item in value]
    return value


def _output_parity(name: str, reference: np.ndarray, output: np.ndarray) -> OutputParity:
    if np.shape(output) != np.shape(reference):
        raise ParityError(
            f"output {name} has shape {np.shape(output)}, PyTorch's has {np.shape(reference)}"
        )
    finite = bool(np.isfinite(output).all())
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        return OutputParity(name, psnr(reference, output), max_abs_error(reference, output), finite)


def compare_outputs(
    check: str, reference: Mapping[str, np.ndarray], output: Mapping[str, np.ndarray]
) -> CheckResult:
    """PSNR and max-abs per output name of `reference` (the artifact must produce them all)."""
    missing = sorted(set(reference) - set(output))
    if missing:
        raise ParityError(f"the artifact lacks outputs {missing}")
    return CheckResult(
        check, tuple(_output_parity(name, ref, output[name]) for name, ref in reference.items())
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
