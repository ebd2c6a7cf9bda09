"""Time host runtimes with one protocol (`dc2kit.bench.protocol`), each configuration in a fresh
process of its own (`dc2kit.bench.worker`).

Artifacts (.tflite, .mlpackage) are converted in another child beforehand and cached in
`work_dir`, so neither the converter's time nor its memory reaches a measurement. Their cache key
holds a fingerprint of the graph's sources, taken once per run here, in the parent, and handed to
both children: sources edited or checked out mid-run cannot make the measuring child look for
(or open) an entry other than the one built for its row.

A child that fails raises `BenchError` naming the runtime and the child's last stderr line: a
crash is a fault to fix, not a figure, so nothing is recorded for it. A runtime that cannot run on
this machine (Core ML off macOS) gives a result with `timings=None` and the reason in `notes`.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from dc2kit.bench.errors import BenchError
from dc2kit.bench.phone.runtime import DeviceSettings
from dc2kit.bench.protocol import SUITE, Job, pinned_provenance, row_config, skipped
from dc2kit.bench.registry import RUNTIMES
from dc2kit.bench.results import Measurement
from dc2kit.bench.runtimes import Runtime, Workload
from dc2kit.bench.worker import failure, result, run_worker
from dc2kit.convert.manifest import git_commit
from dc2kit.convert.targets import DEFAULT_FORMULATION

if TYPE_CHECKING:
    from dc2kit.model.builder import WeightsChoice

DEFAULT_WARMUP = 3
DEFAULT_RUNS = 20
DEFAULT_SECONDS = 5.0


def _run_child(task: str, job: Job) -> subprocess.CompletedProcess:
    """Run `task` on `job` in a fresh interpreter, or raise `BenchError` if it fails."""
    completed = run_worker(f"{SUITE}-{task}", asdict(job), job.workload.threads)
    if completed.returncode != 0:
        raise BenchError(f"{job.runtime}: {task} failed in its child process: {failure(completed)}")
    return completed


def _delegate_reports(stderr: str) -> tuple[str, ...]:
    """What the runtime logged about delegates (LiteRT names the XNNPACK delegate it applied)."""
    lines = (line.strip() for line in stderr.splitlines() if "delegate" in line.lower())
    return tuple(f"runtime log: {line}" for line in dict.fromkeys(lines))


def measure_in_child(job: Job) -> Measurement:
    completed = _run_child("measure", job)
    measurement = Measurement.from_dict(result(completed))
    return replace(measurement, notes=measurement.notes + _delegate_reports(completed.stderr))


def build_in_child(job: Job) -> None:
    _run_child("build", job)


def measure_on_device(job: Job, runtime: Runtime, device: DeviceSettings) -> Measurement | None:
    """A device runtime's row from its device (with the host row's config and command);
    None for host runtimes, which `measure_in_child` measures."""
    if not runtime.on_device:
        return None
    measurement = runtime.measure_on_device(
        job.workload,
        Path(job.work_dir),
        device,
        runs=job.runs,
        warmup=job.warmup,
        config=row_config(job, runtime),
    )
    pinned = {**measurement.provenance, **pinned_provenance(job)}
    return replace(measurement, gmac=job.gmac, provenance=pinned)


# ----------------------------------------------------------------------------- the suite


Stage = Literal["build", "measure", "done"]


@dataclass(frozen=True)
class BenchProgress:
    """Where a suite is: configuration `index` of `total` entered `stage` (`done` carries its
    result, so a caller can store results as they come)."""

    index: int
    total: int
    runtime: str
    stage: Stage
    measurement: Measurement | None = None


def resolve_runtimes(names: Sequence[str]) -> list[Runtime]:
    unknown = [name for name in names if name not in RUNTIMES]
    if unknown:
        raise BenchError(
            f"unknown runtime(s) {', '.join(unknown)}; choose from {', '.join(RUNTIMES)}"
        )
    if not names:
        raise BenchError(f"no runtime named; choose from {', '.join(RUNTIMES)}")
    return [RUNTIMES[name] for name in names]


def _check_protocol(threads: int, runs: int, seconds: float, warmup: int) -> None:
    if threads < 1 or runs < 1 or seconds < 0 or warmup < 0:
        raise BenchError(
            f"need threads >= 1, runs >= 1, seconds >= 0, warmup >= 0; got threads={threads}, "
            f"runs={runs}, seconds={seconds}, warmup={warmup}"
        )


def _model_gmac(workload: Workload) -> float:
    from dc2kit.model import preset_config
    from dc2kit.model.summary import model_costs

    config = preset_config(
        workload.preset, workload.height, workload.width, formulation=workload.formulation
    )
    return model_costs(config)["total"].macs / 1e9


def run_benchmarks(
    preset: str,
    size: tuple[int, int],
    runtimes: Sequence[str],
    threads: int,
    *,
    runs: int = DEFAULT_RUNS,
    seconds: float = DEFAULT_SECONDS,
    warmup: int = DEFAULT_WARMUP,
    work_dir: str | Path,
    formulation: str = DEFAULT_FORMULATION,
    weights: WeightsChoice | None = None,
    progress: Callable[[BenchProgress], None] | None = None,
    device: DeviceSettings | None = None,
) -> list[Measurement]:
    """Measure `preset` at `size` = (height, width) on each named runtime, one child each, with
    the preset's shipped weights unless `weights` says otherwise (rows name their origin).
    Device runtimes (`android-*`) run on the phone `device` names, or are skipped with the reason.

    Artifacts are built (once, cached in `work_dir`) before their runtime is measured. Raises
    `BenchError` for unknown runtimes, bad protocol settings, or a failing child.
    """
    from dc2kit.model.builder import WeightsChoice, resolve_weights

    chosen = resolve_runtimes(runtimes)
    _check_protocol(threads, runs, seconds, warmup)
    height, width = size
    workload = Workload(preset, height, width, threads, formulation)  # its graph code, once
    try:
        gmac = _model_gmac(workload)
    except ValueError as error:
        raise BenchError(str(error)) from error
    workload = replace(workload, weights=resolve_weights(preset, weights or WeightsChoice()))
    work_dir = Path(work_dir)
    command = shlex.join(sys.argv)
    commit = git_commit()
    notify = progress or (lambda _: None)
    device = device or DeviceSettings()
    results = []
    for index, runtime in enumerate(chosen, start=1):
        job = Job(
            runtime.name, workload, str(work_dir), runs, seconds, warmup, gmac, command, commit
        )
        reason = runtime.skip_reason(device)
        if reason is not None:
            measurement = skipped(job, reason)
        else:
            artifact = runtime.artifact_path(workload, work_dir)
            if artifact is not None and not artifact.exists():
                notify(BenchProgress(index, len(chosen), runtime.name, "build"))
                build_in_child(job)
            notify(BenchProgress(index, len(chosen), runtime.name, "measure"))
            measurement = measure_on_device(job, runtime, device) or measure_in_child(job)
        notify(BenchProgress(index, len(chosen), runtime.name, "done", measurement))
        results.append(measurement)
    return results
