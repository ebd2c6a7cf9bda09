"""Time host runtimes with one protocol, each configuration in a fresh process of its own.

Protocol, per configuration (a child process, so its peak RSS is its own):

1. import the runtime's libraries (not timed: start-up, not model load);
2. load: `Runtime.prepare` (read the artifact or build the eager model, initialise the runtime);
3. first inference, timed on its own (allocation, lazy initialisation);
4. `warmup` untimed runs;
5. timed runs until at least `runs` were made AND `seconds` have passed (whichever comes later);
6. peak RSS of the process (`ru_maxrss`), read before the probe below can raise it;
7. a dense fp32 matmul probe with the same thread count: this machine's reachable peak.

The figures and the probe are `dc2kit.bench.timing`'s; the child is `dc2kit.bench.worker`'s.

Peak RSS is the whole process (interpreter, libraries, model, arenas); the peak after imports and
before load is kept in a note, `rss_baseline_mb=…` (the form `dc2kit.bench.micro` reads), so the
increment is the model's own.

Achieved GFLOP/s = 2 · MACs / p50 (MACs from `model_costs`, so an int8 run also counts its
multiply-adds as 2 FLOPs); share of peak = achieved / probe GFLOP/s. The 1-minute load average
before and after the timed runs goes into provenance: on a shared machine it says whether the
figures can be trusted (the report flags rows measured while the machine was busy).

Artifacts (.tflite, .mlpackage) are converted in another child beforehand and cached in
`work_dir`, so neither the converter's time nor its memory reaches a measurement.

A child that fails raises `BenchError` naming the runtime and the child's last stderr line: a
crash is a fault to fix, not a figure, so nothing is recorded for it. A runtime that cannot run on
this machine (Core ML off macOS) gives a result with `timings=None` and the reason in `notes`.
"""

from __future__ import annotations

import importlib
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from dc2kit.bench.errors import BenchError
from dc2kit.bench.memory import baseline_note, peak_rss_mb
from dc2kit.bench.phone.runtime import DeviceSettings
from dc2kit.bench.registry import RUNTIMES
from dc2kit.bench.results import Measurement, load_average, load_provenance, provenance
from dc2kit.bench.runtimes import Runtime, Workload
from dc2kit.bench.timing import (
    PROBE_SIZE,
    achieved_gflops,
    matmul_peak_gflops,
    milliseconds,
    summarize,
    time_runs,
)
from dc2kit.bench.worker import failure, result, run_worker

if TYPE_CHECKING:
    from dc2kit.model.builder import WeightsChoice

SUITE = "model"
DEFAULT_WARMUP = 3
DEFAULT_RUNS = 20
DEFAULT_SECONDS = 5.0


@dataclass(frozen=True)
class Job:
    """One configuration, as the parent hands it to a child (the worker's payload)."""

    runtime: str
    workload: Workload
    work_dir: str
    runs: int
    seconds: float
    warmup: int
    gmac: float
    command: str  # the parent's command line, for provenance

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Job:
        return cls(**{**data, "workload": Workload.from_dict(data["workload"])})


def _config(job: Job, runtime: Runtime) -> dict:
    workload = job.workload
    return {
        "preset": workload.preset,
        "width": workload.width,
        "height": workload.height,
        "formulation": workload.formulation,
        "weights": workload.origin.label,  # RANDOM (untrained) for random weights
        "threads": workload.threads,
        **runtime.describe(),
        "min_runs": job.runs,
        "min_seconds": job.seconds,
    }


def _provenance(job: Job) -> dict:
    return {**provenance(job.workload.threads), "command": job.command}


def measure(job: Job) -> Measurement:
    """Run the protocol in this process (the child's body; see the module docstring)."""
    runtime = RUNTIMES[job.runtime]
    for module in runtime.modules:
        importlib.import_module(module)
    load_start = load_average()
    rss_before_load = peak_rss_mb()
    started = time.perf_counter()
    run = runtime.prepare(job.workload, Path(job.work_dir))
    load_ms = (time.perf_counter() - started) * 1e3
    first_ms = milliseconds(run)
    for _ in range(job.warmup):
        run()
    samples = time_runs(run, job.runs, job.seconds)
    load_end = load_average()
    peak_rss = peak_rss_mb()
    machine_peak = matmul_peak_gflops()
    timings = summarize(samples, load_ms=load_ms, first_ms=first_ms, warmup=job.warmup)
    achieved = achieved_gflops(job.gmac, timings.p50_ms)
    placement = runtime.placement(job.workload, Path(job.work_dir))  # after peak RSS is read
    return Measurement(
        suite=SUITE,
        runtime=job.runtime,
        config=_config(job, runtime),
        source="measured",
        timings=timings,
        peak_rss_mb=peak_rss,
        gmac=job.gmac,
        achieved_gflops=achieved,
        machine_peak_gflops=machine_peak,
        share_of_peak=achieved / machine_peak,
        placement=placement,
        notes=(
            baseline_note(rss_before_load),
            "achieved GFLOP/s = 2 x MACs / p50; peak = best dense fp32 "
            f"{PROBE_SIZE}x{PROBE_SIZE} matmul in the same process",
        ),
        provenance={**_provenance(job), **load_provenance(load_start, load_end)},
    )


def skipped(job: Job, reason: str) -> Measurement:
    """A result that says why there is no number, and carries none."""
    runtime = RUNTIMES[job.runtime]
    return Measurement(
        suite=SUITE,
        runtime=job.runtime,
        config=_config(job, runtime),
        source="measured",
        timings=None,
        gmac=job.gmac,
        notes=(f"skipped: {reason}",),
        provenance=_provenance(job),
    )


# ----------------------------------------------------------------------------- worker tasks


def build_task(payload: dict[str, Any]) -> None:
    """The child's `model-build` task: write one configuration's artifact."""
    job = Job.from_dict(payload)
    RUNTIMES[job.runtime].build(job.workload, Path(job.work_dir))


def measure_task(payload: dict[str, Any]) -> dict[str, Any]:
    """The child's `model-measure` task: the protocol's result as a dict."""
    return asdict(measure(Job.from_dict(payload)))


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
        config=_config(job, runtime),
    )
    return replace(
        measurement, gmac=job.gmac, provenance={**measurement.provenance, "command": job.command}
    )


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
    formulation: str = "shift",
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
    try:
        gmac = _model_gmac(Workload(preset, height, width, threads, formulation))
    except ValueError as error:
        raise BenchError(str(error)) from error
    origin = resolve_weights(preset, weights or WeightsChoice())
    workload = Workload(preset, height, width, threads, formulation, origin)
    work_dir = Path(work_dir)
    command = shlex.join(sys.argv)
    notify = progress or (lambda _: None)
    device = device or DeviceSettings()
    results = []
    for index, runtime in enumerate(chosen, start=1):
        job = Job(runtime.name, workload, str(work_dir), runs, seconds, warmup, gmac, command)
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
