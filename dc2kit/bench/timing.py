"""The timing protocol's arithmetic: back-to-back runs, their statistics, and a peak-rate probe.

Figures: min, max, p50 and p90 (numpy's linear interpolation), mean, population standard
deviation (as LiteRT's `benchmark_model` prints it) and trimmed mean (middle 80 %: `int(0.1 · n)`
samples dropped from each end, as ExecuTorch and `scipy.stats.trim_mean` do).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from dc2kit.bench.errors import BenchError
from dc2kit.bench.results import Timings
from dc2kit.bench.runtimes import RunOnce

TRIM_FRACTION = 0.1  # from each end: the trimmed mean keeps the middle 80 %
PROBE_SIZE = 1024
PROBE_REPEATS = 10
PROBE_SECONDS = 1.0  # best of a longer window rides out other processes' bursts on a shared CPU


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


def milliseconds(run: RunOnce) -> float:
    """How long one call of `run` takes."""
    started = time.perf_counter()
    run()
    return (time.perf_counter() - started) * 1e3


def time_runs(run: RunOnce, runs: int, seconds: float) -> list[float]:
    """Milliseconds of back-to-back runs until at least `runs` were made and `seconds` passed."""
    samples: list[float] = []
    deadline = time.perf_counter() + seconds
    while len(samples) < runs or time.perf_counter() < deadline:
        samples.append(milliseconds(run))
    return samples


def matmul_peak_gflops(size: int = PROBE_SIZE, repeats: int = PROBE_REPEATS) -> float:
    """Best rate of a dense fp32 `size`² matmul (numpy → OpenBLAS sgemm, as many threads as the
    harness allows the child): a reachable peak, above what PyTorch's own matmul reaches here."""
    rng = np.random.default_rng(0)
    a, b = (rng.random((size, size), dtype=np.float32) for _ in range(2))
    a @ b  # first call starts BLAS threads and pages in its buffers
    best_ms = min(time_runs(lambda: a @ b, repeats, PROBE_SECONDS))
    return 2.0 * size**3 / best_ms / 1e6
