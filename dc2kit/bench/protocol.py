"""One configuration's measurement, as a benchmark child runs it (`dc2kit.bench.worker`'s tasks).

Protocol, per configuration (a child process, so its peak RSS is its own):

1. import the runtime's libraries (not timed: start-up, not model load);
2. load: `Runtime.prepare` (read the artifact or build the eager model, initialise the runtime);
3. first inference, timed on its own (allocation, lazy initialisation);
4. `warmup` untimed runs;
5. timed runs until at least `runs` were made AND `seconds` have passed (whichever comes later);
6. peak RSS of the process (`ru_maxrss`), read before the probe below can raise it;
7. a dense fp32 matmul probe with the same thread count: this machine's reachable peak.

The figures and the probe are `dc2kit.bench.timing`'s.

Peak RSS is the whole process (interpreter, libraries, model, arenas); the peak after imports and
before load is kept in a note, `rss_baseline_mb=…` (the form `dc2kit.bench.micro` reads), so the
increment is the model's own.

Achieved GFLOP/s = 2 · MACs / p50 (MACs from `model_costs`, so an int8 run also counts its
multiply-adds as 2 FLOPs); share of peak = achieved / probe GFLOP/s. The 1-minute load average
before and after the timed runs goes into provenance: on a shared machine it says whether the
figures can be trusted (the report flags rows measured while the machine was busy).

A child never recomputes what names the code: the `Job` carries the parent's graph-code
fingerprint (in its `Workload`) and commit, so the child that measures opens the cache entry the
build child wrote for the same run, and a row's provenance names the code it measured. A child
whose graph sources no longer match refuses to build, or to run an eager model built from them.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from dc2kit.bench.memory import baseline_note, peak_rss_mb
from dc2kit.bench.registry import RUNTIMES
from dc2kit.bench.results import Measurement, load_average, load_provenance, provenance
from dc2kit.bench.runtimes import Runtime, Workload, built_from_pinned_sources, check_graph_code
from dc2kit.bench.timing import (
    PROBE_SIZE,
    achieved_gflops,
    matmul_peak_gflops,
    milliseconds,
    summarize,
    time_runs,
)

SUITE = "model"


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
    git_commit: str | None  # the checkout's commit when the run started, for provenance

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Job:
        return cls(**{**data, "workload": Workload.from_dict(data["workload"])})


def row_config(job: Job, runtime: Runtime) -> dict:
    """A row's `config`: what was measured and with which protocol settings."""
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


def pinned_provenance(job: Job) -> dict:
    """What the parent fixed once for the whole run: the command, the commit and the graph code
    (the fingerprint in every cached artifact's name), so a row names the code it measured."""
    return {
        "command": job.command,
        "git_commit": job.git_commit,
        "graph_code": job.workload.graph_code,
    }


def _provenance(job: Job) -> dict:
    return {**provenance(job.workload.threads), **pinned_provenance(job)}


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
    if runtime.artifact_path(job.workload, Path(job.work_dir)) is None:
        check_graph_code(job.workload)  # this process built the model from the sources
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
    return _row(
        job,
        timings=timings,
        peak_rss_mb=peak_rss,
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
    return _row(job, timings=None, notes=(f"skipped: {reason}",), provenance=_provenance(job))


def _row(job: Job, **figures: Any) -> Measurement:
    """The job's row of the model suite, with `figures` (timings, memory, notes, provenance)."""
    config = row_config(job, RUNTIMES[job.runtime])
    return Measurement(SUITE, job.runtime, config, "measured", gmac=job.gmac, **figures)


# ----------------------------------------------------------------------------- worker tasks


def build_task(payload: dict[str, Any]) -> None:
    """The child's `model-build` task: write one configuration's artifact."""
    job = Job.from_dict(payload)
    runtime, work_dir = RUNTIMES[job.runtime], Path(job.work_dir)
    with built_from_pinned_sources(job.workload, runtime.artifact_path(job.workload, work_dir)):
        runtime.build(job.workload, work_dir)


def measure_task(payload: dict[str, Any]) -> dict[str, Any]:
    """The child's `model-measure` task: the protocol's result as a dict."""
    return asdict(measure(Job.from_dict(payload)))
