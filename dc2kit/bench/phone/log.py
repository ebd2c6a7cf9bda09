"""Reading `benchmark_model`'s log: timings, memory, and the delegates' shares of the graph.

Both builds of the tool print their figures in slightly different words (and logcat adds its
own prefixes); `read_benchmark_output` reads either into a `BenchmarkOutput`, deciding nothing:
what the figures mean (and whether the run counts) is `output.parse_benchmark_model`'s call.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

# Log prefixes in front of the tool's text: logcat ("05-31 10:38:42.583 22206 22206 I tflite  : "),
# TFLite ("INFO: ") and LiteRT ("INFO: [./litert/tools/benchmark_litert_model.h:88] ").
_PREFIX = re.compile(
    r"^(?:\d\d-\d\d [\d:.]+\s+\d+\s+\d+ [VDIWEF] \S+\s*: )?"
    r"(?:(?:INFO|ERROR|WARNING|VERBOSE): )?(?:\[[^\]]*:\d+\] )?"
)
_NUMBER = r"([-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"
_SUMMARY_US = re.compile(
    rf"^Inference timings in us: Init: {_NUMBER}, First inference: {_NUMBER}, "
    rf"Warmup \(avg\): {_NUMBER}, Inference \(avg\): {_NUMBER}"
)
_LITERT_MS = {
    "init": re.compile(rf"^Model initialization:\s+{_NUMBER} ms"),
    "first": re.compile(rf"^(?:Warmup \(first\)|First inference):\s+{_NUMBER} ms"),
    "warmup": re.compile(rf"^Warmup \(avg\):\s+{_NUMBER} ms \((\d+) runs\)"),
    "mean": re.compile(rf"^Inference \(avg\):\s+{_NUMBER} ms \((\d+) runs\)"),
    "min": re.compile(rf"^Inference \(min\):\s+{_NUMBER} ms"),
    "max": re.compile(rf"^Inference \(max\):\s+{_NUMBER} ms"),
}
_SESSION = re.compile(rf"^Initialized session in {_NUMBER}\s*ms")
_PEAK_MB = re.compile(
    rf"^(?:Overall peak memory footprint \(MB\) via periodic monitoring:|Peak memory:)\s+{_NUMBER}"
)
_FOOTPRINT_MB = re.compile(
    rf"^(?:Memory footprint delta from the start of the tool|Peak memory footprint) \(MB\): "
    rf"init={_NUMBER} overall={_NUMBER}"
)
_LITERT_FOOTPRINT_MB = re.compile(rf"^Overall footprint:\s+{_NUMBER} MB")
_REPLACED = re.compile(
    r"^Replacing (\d+) out of (\d+) node\(s\) with delegate \(([^)]+)\)"
    r"(?: node, yielding (\d+) partitions?)?"
)
_QNN_REPLACED = re.compile(
    r"^(\w+) delegate: (\d+) nodes delegated out of (\d+) nodes(?: with (\d+) partitions?)?"
)
_NOT_EXECUTED = re.compile(r"^Though (\w+) delegate is explicitly applied, .* will not be executed")
_DELEGATION_FAILURES = re.compile(
    r"^(?:Disallowed CPU fallback detected|Failed to apply \S+ delegate"
    r"|Requesting full delegation and CPU acceleration are incompatible)"
)
_FAILURES = re.compile(r"^(?:Benchmarking failed|Failed to compile model|Failed to load model)")
_FIGURES = {
    "summary": _SUMMARY_US,
    "session": _SESSION,
    "peak": _PEAK_MB,
    "footprint": _FOOTPRINT_MB,
    "litert_footprint": _LITERT_FOOTPRINT_MB,
    **_LITERT_MS,
}


@dataclass(frozen=True)
class Delegation:
    """One delegate's share of the graph, as the log reports it."""

    delegate: str
    nodes: int
    total: int
    partitions: int | None = None  # delegate kernels the graph was split into, where printed

    @property
    def on_cpu(self) -> bool:
        return "xnnpack" in self.delegate.lower()


@dataclass(frozen=True)
class BenchmarkOutput:
    """What one `benchmark_model` log says, in milliseconds and megabytes."""

    init_ms: float | None
    first_ms: float | None
    warmup_mean_ms: float | None
    warmup_runs: int
    runs: int
    mean_ms: float | None
    min_ms: float | None
    max_ms: float | None
    std_ms: float | None
    median_ms: float | None
    p5_ms: float | None
    p95_ms: float | None
    peak_memory_mb: float | None
    footprint_mb: float | None  # growth of the footprint since the tool started, not a peak
    delegations: tuple[Delegation, ...]
    not_executed_by: tuple[str, ...]  # delegates that were applied but took nothing
    refused: tuple[str, ...]  # the tool's own delegation errors
    failures: tuple[str, ...]  # other error lines (the run failed)


def _stats(line: str) -> dict[str, float]:
    return {key: float(value) for key, value in re.findall(rf"(\w+)={_NUMBER}", line)}


def _us(stats: Mapping[str, float], key: str) -> float | None:
    return stats[key] / 1e3 if key in stats else None


def read_benchmark_output(text: str) -> BenchmarkOutput:
    """Figures from either tool's log. Per-run statistics (µs) win over rounded summaries (ms)."""
    lines = [_PREFIX.sub("", line.rstrip("\r")) for line in text.splitlines()]
    found: dict[str, re.Match[str]] = {}
    stats, delegations, not_executed, refused, failures = [], [], [], [], []
    for line in lines:
        if line.startswith("count="):
            stats.append(_stats(line))
        elif match := _REPLACED.match(line):
            partitions = int(match[4]) if match[4] else None
            delegations.append(Delegation(match[3], int(match[1]), int(match[2]), partitions))
        elif match := _QNN_REPLACED.match(line):
            partitions = int(match[4]) if match[4] else None
            delegations.append(Delegation(match[1], int(match[2]), int(match[3]), partitions))
        elif match := _NOT_EXECUTED.match(line):
            not_executed.append(match[1])
        elif _DELEGATION_FAILURES.match(line):
            refused.append(line.strip())
        elif _FAILURES.match(line):
            failures.append(line.strip())
        for name, pattern in _FIGURES.items():
            if match := pattern.match(line):
                found[name] = match
    timed = stats[-1] if stats else {}
    warm = stats[-2] if len(stats) > 1 else {}
    summary = found.get("summary")

    def pick(*candidates: float | None) -> float | None:
        return next((value for value in candidates if value is not None), None)

    def ms(name: str, group: int = 1) -> float | None:
        return float(found[name][group]) if name in found else None

    def from_summary(group: int) -> float | None:
        return float(summary[group]) / 1e3 if summary else None

    footprint = pick(ms("footprint", 2), ms("litert_footprint"))
    return BenchmarkOutput(
        init_ms=pick(from_summary(1), ms("session"), ms("init")),
        first_ms=pick(from_summary(2), _us(warm, "first"), ms("first")),
        warmup_mean_ms=pick(_us(warm, "avg"), from_summary(3), ms("warmup")),
        warmup_runs=int(warm.get("count", 0)) or int(ms("warmup", 2) or 0),
        runs=int(timed.get("count", 0)) or int(ms("mean", 2) or 0),
        mean_ms=pick(_us(timed, "avg"), from_summary(4), ms("mean")),
        min_ms=pick(_us(timed, "min"), ms("min")),
        max_ms=pick(_us(timed, "max"), ms("max")),
        std_ms=_us(timed, "std"),
        median_ms=_us(timed, "median"),
        p5_ms=_us(timed, "p5"),
        p95_ms=_us(timed, "p95"),
        peak_memory_mb=ms("peak"),
        footprint_mb=footprint,
        delegations=tuple(delegations),
        not_executed_by=tuple(not_executed),
        refused=tuple(refused),
        failures=tuple(failures),
    )
