"""Core ML on this Mac through coremltools: each compute-unit setting timed, its plan summarised.

coremltools runs Core ML on the Mac it runs on, not on an attached iPhone; iPhone figures need
Xcode's Core ML performance report on the device. The compute plan (macOS 14.4+) says where Core
ML prefers to run each operation, so a "Neural Engine" figure comes with how much of the model
the Neural Engine actually took.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dc2kit.bench.memory import peak_rss_mb
from dc2kit.bench.phone.common import DelegationError, PhoneUnavailable
from dc2kit.bench.results import Measurement, load_average, load_provenance, provenance
from dc2kit.bench.timing import milliseconds, summarize, time_runs

COMPUTE_UNITS = ("CPU_ONLY", "CPU_AND_GPU", "CPU_AND_NE", "ALL")
_RUNTIMES = {"CPU_ONLY": "cpu", "CPU_AND_GPU": "gpu", "CPU_AND_NE": "ne", "ALL": "all"}
_DEVICES = {
    "MLCPUComputeDevice": "cpu",
    "MLGPUComputeDevice": "gpu",
    "MLNeuralEngineComputeDevice": "ne",
}


@dataclass(frozen=True)
class CoreMLConfiguration:
    """One way of loading the model: a `coremltools.ComputeUnit` name and its runtime label."""

    compute_units: str
    runtime: str


def coreml_configurations(units: Iterable[str] = COMPUTE_UNITS) -> list[CoreMLConfiguration]:
    """The compute-unit configurations a Core ML run times, in order."""
    configurations = []
    for unit in units:
        if unit not in _RUNTIMES:
            raise ValueError(f"unknown compute units {unit!r}; choose from {COMPUTE_UNITS}")
        configurations.append(CoreMLConfiguration(unit, f"coreml-{_RUNTIMES[unit]}"))
    return configurations


@dataclass(frozen=True)
class PlannedOp:
    """One ML-program operation in a compute plan: where Core ML prefers to run it."""

    operator: str
    device: str | None  # "cpu", "gpu", "ne", or None where the plan does not say
    cost: float | None = None  # the plan's estimated share of the model's work, 0–1


@dataclass(frozen=True)
class PlacementSummary:
    ops: dict[str, int]  # operations per preferred device ("unknown" where the plan is silent)
    cost_share: dict[str, float]  # the plan's estimated work per device
    cpu_operators: dict[str, int]  # which operator kinds land on the CPU, and how many

    def describe(self) -> str:
        counts = ", ".join(f"{n} on {device}" for device, n in self.ops.items())
        shares = ", ".join(f"{device} {share:.1%}" for device, share in self.cost_share.items())
        text = f"compute plan: {counts}"
        if shares:
            text += f"; estimated work {shares}"
        if self.cpu_operators:
            text += f"; on cpu: {', '.join(f'{op} x{n}' for op, n in self.cpu_operators.items())}"
        return text


def summarize_plan(ops: Iterable[PlannedOp]) -> PlacementSummary:
    """Counts per device, the way AI Hub reports residency (NPU/GPU/CPU layer counts)."""
    ops = list(ops)
    counts = Counter(op.device or "unknown" for op in ops)
    costs: Counter[str] = Counter()
    for op in ops:
        if op.cost is not None:
            costs[op.device or "unknown"] += op.cost
    cpu = Counter(op.operator for op in ops if op.device == "cpu")
    return PlacementSummary(
        ops=dict(counts.most_common()),
        cost_share=dict(costs.most_common()),
        cpu_operators=dict(cpu.most_common()),
    )


def _operations(block: Any) -> Iterable[Any]:
    for operation in block.operations:
        yield operation
        for inner in operation.blocks:
            yield from _operations(inner)


def read_compute_plan(compiled_path: str, compute_units: str) -> list[PlannedOp]:
    """Core ML's planned device per ML-program operation (macOS 14.4+; constants skipped)."""
    import coremltools as ct
    from coremltools.models.compute_plan import MLComputePlan

    plan = MLComputePlan.load_from_path(
        compiled_path, compute_units=getattr(ct.ComputeUnit, compute_units)
    )
    planned = []
    for function in plan.model_structure.program.functions.values():
        for operation in _operations(function.block):
            if operation.operator_name == "const":
                continue
            usage = plan.get_compute_device_usage_for_mlprogram_operation(operation)
            cost = plan.get_estimated_cost_for_mlprogram_operation(operation)
            device = None
            if usage is not None:
                device = _DEVICES.get(type(usage.preferred_compute_device).__name__)
            planned.append(
                PlannedOp(operation.operator_name, device, cost.weight if cost else None)
            )
    return planned


def _mac_model() -> str:
    done = subprocess.run(
        ["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True, check=False
    )
    return done.stdout.strip() or platform.machine()


# Compute units that promise an accelerator: a plan putting ops on the CPU would mislabel the row.
ACCELERATED_UNITS = ("CPU_AND_GPU", "CPU_AND_NE")


def check_full_residency(summary: PlacementSummary, compute_units: str) -> None:
    """Raise `DelegationError` when Core ML plans ops on the CPU under GPU or Neural Engine units:
    full delegation is required, as on Android."""
    if compute_units in ACCELERATED_UNITS and summary.cpu_operators:
        ops = ", ".join(f"{op} x{n}" for op, n in summary.cpu_operators.items())
        raise DelegationError(
            f"Core ML {compute_units} plans {sum(summary.cpu_operators.values())} ops on the CPU "
            f"({ops}): full delegation is required"
        )


def coreml_residency(compiled_path: str, compute_units: str) -> dict[str, Any] | None:
    """A row's `placement` from the compute plan (macOS 14.4+), checked by
    `check_full_residency`. Without a plan, accelerated units cannot be checked and fail; the
    CPU and ALL settings keep their timings without residency."""
    try:
        summary = summarize_plan(read_compute_plan(compiled_path, compute_units))
    except Exception as error:
        if compute_units in ACCELERATED_UNITS:
            raise DelegationError(
                f"no Core ML compute plan ({type(error).__name__}: {error}): the residency of "
                f"{compute_units} cannot be checked (macOS 14.4+)"
            ) from error
        return None
    check_full_residency(summary, compute_units)
    return {
        "ops": summary.ops,
        "cost_share": summary.cost_share,
        "cpu_operators": summary.cpu_operators,
    }


def _placement(model: Any, compute_units: str) -> tuple[str, dict[str, Any] | None]:
    """The compute plan's residency as a note and a record; the API needs macOS 14.4+."""
    try:
        summary = summarize_plan(read_compute_plan(model.get_compiled_model_path(), compute_units))
    except Exception as error:  # no plan on older macOS: the timings stand without it
        return f"no compute plan ({type(error).__name__}: {error})", None
    record = {
        "ops": summary.ops,
        "cost_share": summary.cost_share,
        "cpu_operators": summary.cpu_operators,
    }
    return summary.describe(), record


@dataclass(frozen=True)
class IOSRunner:
    """Times a .mlpackage with Core ML under each compute-unit setting, on this Mac.

    coremltools runs Core ML on the Mac it runs on, not on an attached iPhone, so results are
    `source="measured"` with the Mac named in provenance. iPhone figures need Xcode's Core ML
    performance report on the device.
    """

    units: tuple[str, ...] = COMPUTE_UNITS

    def check(self) -> None:
        if sys.platform != "darwin":
            raise PhoneUnavailable(f"Core ML runs only on macOS (this is {sys.platform})")

    def run(
        self,
        mlpackage: str | os.PathLike[str],
        inputs: Mapping[str, np.ndarray],
        *,
        runs: int = 50,
        warmup: int = 5,
        config: Mapping[str, Any] | None = None,
    ) -> list[Measurement]:
        """One measurement per compute-unit setting; raises `PhoneUnavailable` off macOS."""
        self.check()
        return [
            self._run_one(Path(mlpackage), inputs, configuration, runs, warmup, config or {})
            for configuration in coreml_configurations(self.units)
        ]

    def _run_one(
        self,
        path: Path,
        inputs: Mapping[str, np.ndarray],
        configuration: CoreMLConfiguration,
        runs: int,
        warmup: int,
        config: Mapping[str, Any],
    ) -> Measurement:
        import coremltools as ct

        from dc2kit.convert.coreml_package import to_coreml_feature

        load_start = load_average()
        start = time.perf_counter()
        model = ct.models.MLModel(
            str(path), compute_units=getattr(ct.ComputeUnit, configuration.compute_units)
        )
        load_ms = (time.perf_counter() - start) * 1e3
        descriptions = model.get_spec().description.input
        missing = sorted({d.name for d in descriptions} - set(inputs))
        if missing:
            raise ValueError(f"{path}: missing inputs {missing}")
        feed = {d.name: to_coreml_feature(d, inputs[d.name]) for d in descriptions}
        first_ms = milliseconds(lambda: model.predict(feed))
        for _ in range(warmup):
            model.predict(feed)
        samples = time_runs(lambda: model.predict(feed), runs, seconds=0.0)
        load_end = load_average()
        placement, plan = _placement(model, configuration.compute_units)
        return Measurement(
            suite="phone",
            runtime=configuration.runtime,
            config={"model": path.name, "compute_units": configuration.compute_units, **config},
            source="measured",
            timings=summarize(samples, load_ms=load_ms, first_ms=first_ms, warmup=warmup),
            peak_rss_mb=peak_rss_mb(),
            notes=(
                "Core ML on this Mac through coremltools, not on an iPhone",
                "load_ms includes compiling the .mlpackage; peak_rss_mb is the Python process",
                placement,
            ),
            placement=plan,
            provenance={
                **provenance(),
                "cpu_model": _mac_model(),
                **load_provenance(load_start, load_end),
            },
        )
