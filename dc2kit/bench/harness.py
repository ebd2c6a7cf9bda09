"""Time host runtimes with one protocol, each configuration in a fresh process of its own.

Protocol, per configuration (a child process, so its peak RSS is its own):

1. import the runtime's libraries (not timed: start-up, not model load);
2. load: `Runtime.prepare` (read the artifact or build the eager model, initialise the runtime);
3. first inference, timed on its own (allocation, lazy initialisation);
4. `warmup` untimed runs;
5. timed runs until at least `runs` were made AND `seconds` have passed (whichever comes later);
6. peak RSS of the process (`ru_maxrss`), read before the probe below can raise it;
7. a dense fp32 matmul probe with the same thread count: this machine's reachable peak.

Figures: min, max, p50 and p90 (numpy's linear interpolation), mean, population standard
deviation (as LiteRT's `benchmark_model` prints it) and trimmed mean (middle 80 %: `int(0.1 · n)`
samples dropped from each end, as ExecuTorch and `scipy.stats.trim_mean` do).

Peak RSS is the whole process (interpreter, libraries, model, arenas); the peak after imports and
before load is kept in a note, `rss_baseline_mb=…` (the form `dc2kit.bench.micro` reads), so the
increment is the model's own.

Achieved GFLOP/s = 2 · MACs / p50 (MACs from `model_costs`, so an int8 run also counts its
multiply-adds as 2 FLOPs); share of peak = achieved / probe GFLOP/s. The 1-minute load average at
the start goes into a note: on a shared machine it says how much the figures can be trusted.

Artifacts (.tflite, .mlpackage) are converted in another child beforehand and cached in
`work_dir`, so neither the converter's time nor its memory reaches a measurement.

A child that fails raises `BenchError` naming the runtime and the child's last stderr line: a
crash is a fault to fix, not a figure, so nothing is recorded for it. A runtime that cannot run on
this machine (Core ML off macOS) gives a result with `timings=None` and the reason in `notes`.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np

from dc2kit.bench.results import Measurement, Timings, provenance
from dc2kit.bench.runtimes import RUNTIMES, RunOnce, Runtime, Workload

SUITE = "model"
BASELINE_NOTE = "rss_baseline_mb="
DEFAULT_WARMUP = 3
DEFAULT_RUNS = 20
DEFAULT_SECONDS = 5.0
TRIM_FRACTION = 0.1  # from each end: the trimmed mean keeps the middle 80 %
PROBE_SIZE = 1024
PROBE_REPEATS = 10
PROBE_SECONDS = 1.0  # best of a longer window rides out other processes' bursts on a shared CPU
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


class BenchError(ValueError):
    """A benchmark that cannot run as asked: bad arguments, or a child process that failed."""


# ----------------------------------------------------------------------------- statistics


def trimmed_mean(samples: Sequence[float], fraction: float = TRIM_FRACTION) -> float:
    """Mean after dropping `int(fraction · n)` samples from each end of the sorted list."""
    ordered = np.sort(np.asarray(samples, dtype=np.float64))
    cut = int(fraction * len(ordered))
    return float(ordered[cut : len(ordered) - cut].mean())


def summarize(
    samples_ms: Sequence[float], *, load_ms: float | None, first_ms: float | None, warmup: int
) -> Timings:
    """The protocol's figures for timed runs `samples_ms` (milliseconds)."""
    samples = np.asarray(samples_ms, dtype=np.float64)
    if samples.size == 0:
        raise BenchError("no timed runs to summarise")
    return Timings(
        load_ms=load_ms,
        first_ms=first_ms,
        warmup=warmup,
        runs=int(samples.size),
        min_ms=float(samples.min()),
        p50_ms=float(np.percentile(samples, 50)),
        p90_ms=float(np.percentile(samples, 90)),
        mean_ms=float(samples.mean()),
        trimmed_mean_ms=trimmed_mean(samples),
        max_ms=float(samples.max()),
        std_ms=float(samples.std()),
    )


def achieved_gflops(gmac: float, p50_ms: float) -> float:
    """Useful arithmetic rate at the median latency: 2 FLOPs per multiply-accumulate."""
    return 2.0 * gmac * 1e3 / p50_ms


# ----------------------------------------------------------------------------- measuring


def _seconds(run: RunOnce) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def time_runs(run: RunOnce, runs: int, seconds: float) -> list[float]:
    """Milliseconds of back-to-back runs until at least `runs` were made and `seconds` passed."""
    samples: list[float] = []
    deadline = time.perf_counter() + seconds
    while len(samples) < runs or time.perf_counter() < deadline:
        samples.append(_seconds(run) * 1e3)
    return samples


def peak_rss_mb() -> float:
    """This process's peak resident set so far, in MiB (`ru_maxrss` is KiB on Linux, bytes on
    macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def matmul_peak_gflops(size: int = PROBE_SIZE, repeats: int = PROBE_REPEATS) -> float:
    """Best rate of a dense fp32 `size`² matmul (numpy → OpenBLAS sgemm, as many threads as the
    harness allows the child): a reachable peak, above what PyTorch's own matmul reaches here."""
    rng = np.random.default_rng(0)
    a, b = (rng.random((size, size), dtype=np.float32) for _ in range(2))
    a @ b  # first call starts BLAS threads and pages in its buffers
    best_ms = min(time_runs(lambda: a @ b, repeats, PROBE_SECONDS))
    return 2.0 * size**3 / best_ms / 1e6


@dataclass(frozen=True)
class Job:
    """One configuration, as the parent hands it to a child (JSON on the command line)."""

    runtime: str
    workload: Workload
    work_dir: str
    runs: int
    seconds: float
    warmup: int
    gmac: float
    command: str  # the parent's command line, for provenance

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Job:
        data = json.loads(text)
        return cls(**{**data, "workload": Workload(**data["workload"])})


def _config(job: Job, runtime: Runtime) -> dict:
    workload = job.workload
    return {
        "preset": workload.preset,
        "width": workload.width,
        "height": workload.height,
        "formulation": workload.formulation,
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
    load_average = os.getloadavg()[0]
    rss_before_load = peak_rss_mb()
    started = time.perf_counter()
    run = runtime.prepare(job.workload, Path(job.work_dir))
    load_ms = (time.perf_counter() - started) * 1e3
    first_ms = _seconds(run) * 1e3
    for _ in range(job.warmup):
        run()
    samples = time_runs(run, job.runs, job.seconds)
    peak_rss = peak_rss_mb()
    machine_peak = matmul_peak_gflops()
    timings = summarize(samples, load_ms=load_ms, first_ms=first_ms, warmup=job.warmup)
    achieved = achieved_gflops(job.gmac, timings.p50_ms)
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
        notes=(
            f"{BASELINE_NOTE}{rss_before_load:.1f}",
            f"1-minute load average {load_average:.2f} on {os.cpu_count()} cores at start",
            "achieved GFLOP/s = 2 x MACs / p50; peak = best dense fp32 "
            f"{PROBE_SIZE}x{PROBE_SIZE} matmul in the same process",
        ),
        provenance=_provenance(job),
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


# ----------------------------------------------------------------------------- child processes


# Runs a command and ends as it did (re-raising the signal that killed it, if one did).
_LAUNCHER = (
    sys.executable,
    "-c",
    "import os, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
    "os.kill(os.getpid(), -code) if code < 0 else sys.exit(code)",
)


def _child_environment(threads: int) -> dict[str, str]:
    """The parent's environment with BLAS/OpenMP pools sized to `threads` (the matmul probe)."""
    package_root = str(Path(__file__).resolve().parents[2])
    path = os.pathsep.join(filter(None, (package_root, os.environ.get("PYTHONPATH"))))
    return {
        **os.environ,
        **dict.fromkeys(THREAD_VARIABLES, str(threads)),
        "PYTHONPATH": path,
    }


def _failure(completed: subprocess.CompletedProcess[str]) -> str:
    """The child's last stderr line, or how it ended if it said nothing (e.g. killed for memory)."""
    lines = [line.strip() for line in completed.stderr.splitlines() if line.strip()]
    if lines:
        return lines[-1]
    if completed.returncode < 0:
        return f"killed by signal {-completed.returncode}"
    return f"exit status {completed.returncode}"


def _run_child(mode: str, job: Job) -> subprocess.CompletedProcess[str]:
    """Run this module as `--<mode> JOB` in a fresh interpreter, or raise `BenchError`.

    Linux copies a process's peak RSS into its child across fork and exec, so a child of this
    (torch-sized) process would report at least our peak. A small launcher in between is the
    measuring process's parent: what it inherits is the launcher's ~10 MiB.
    """
    completed = subprocess.run(
        [*_LAUNCHER, sys.executable, "-m", "dc2kit.bench.harness", f"--{mode}", job.to_json()],
        capture_output=True,
        text=True,
        env=_child_environment(job.workload.threads),
        check=False,
    )
    if completed.returncode != 0:
        raise BenchError(
            f"{job.runtime}: {mode} failed in its child process: {_failure(completed)}"
        )
    return completed


def _delegate_reports(stderr: str) -> tuple[str, ...]:
    """What the runtime logged about delegates (LiteRT names the XNNPACK delegate it applied)."""
    lines = (line.strip() for line in stderr.splitlines() if "delegate" in line.lower())
    return tuple(f"runtime log: {line}" for line in dict.fromkeys(lines))


def measure_in_child(job: Job) -> Measurement:
    completed = _run_child("measure", job)
    measurement = Measurement.from_dict(json.loads(completed.stdout.strip().splitlines()[-1]))
    return replace(measurement, notes=measurement.notes + _delegate_reports(completed.stderr))


def build_in_child(job: Job) -> None:
    _run_child("build", job)


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
    progress: Callable[[BenchProgress], None] | None = None,
) -> list[Measurement]:
    """Measure `preset` at `size` = (height, width) on each named runtime, one child each.

    Artifacts are built (once, cached in `work_dir`) before their runtime is measured. Raises
    `BenchError` for unknown runtimes, bad protocol settings, or a failing child.
    """
    chosen = resolve_runtimes(runtimes)
    _check_protocol(threads, runs, seconds, warmup)
    height, width = size
    workload = Workload(preset, height, width, threads, formulation)
    try:
        gmac = _model_gmac(workload)
    except ValueError as error:
        raise BenchError(str(error)) from error
    work_dir = Path(work_dir)
    command = shlex.join(sys.argv)
    notify = progress or (lambda _: None)
    results = []
    for index, runtime in enumerate(chosen, start=1):
        job = Job(runtime.name, workload, str(work_dir), runs, seconds, warmup, gmac, command)
        reason = runtime.skip_reason()
        if reason is not None:
            measurement = skipped(job, reason)
        else:
            artifact = runtime.artifact_path(workload, work_dir)
            if artifact is not None and not artifact.exists():
                notify(BenchProgress(index, len(chosen), runtime.name, "build"))
                build_in_child(job)
            notify(BenchProgress(index, len(chosen), runtime.name, "measure"))
            measurement = measure_in_child(job)
        notify(BenchProgress(index, len(chosen), runtime.name, "done", measurement))
        results.append(measurement)
    return results


# ----------------------------------------------------------------------------- child entry point


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="dc2kit benchmark child process (internal)")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--measure", metavar="JOB", help="measure one configuration, print JSON")
    mode.add_argument("--build", metavar="JOB", help="write one configuration's artifact")
    args = parser.parse_args(argv)
    if args.build:
        job = Job.from_json(args.build)
        RUNTIMES[job.runtime].build(job.workload, Path(job.work_dir))
        return 0
    job = Job.from_json(args.measure)
    sys.stdout.write(measure(job).to_json() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
