"""Reading `benchmark_model`'s log: timings, memory, and where the graph really ran.

Both builds of the tool print their figures in slightly different words (and logcat adds its
own prefixes); `read_benchmark_output` reads either. `parse_benchmark_model` turns a log into a
phone `Measurement`, refusing (`DelegationError`) a log that shows CPU work under an accelerator's
label rather than storing mislabelled numbers.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dc2kit.bench.phone.common import BINARY, Accelerator, DelegationError, PhoneBenchmarkError
from dc2kit.bench.results import Measurement, Timings, provenance

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


def _check_delegation(
    output: BenchmarkOutput, accelerator: Accelerator, require_full_delegation: bool
) -> tuple[bool, tuple[str, ...]]:
    """Raise `DelegationError` where the log shows CPU work under an accelerator's label.

    Returns whether part of the graph ran on the CPU (allowed only without full delegation) and
    notes on where the graph ran, for the result.
    """
    if output.refused:
        raise DelegationError(
            f"benchmark_model refused the {accelerator} run: {' / '.join(output.refused)}"
            + (" (CPU fallback was forbidden)" if require_full_delegation else "")
        )
    if accelerator == "cpu":
        return False, tuple(
            f"{d.delegate}: {d.nodes} of {d.total} nodes" for d in output.delegations
        )
    if output.not_executed_by:
        raise DelegationError(
            f"the {', '.join(output.not_executed_by)} delegate ran none of the graph: "
            f"the numbers would be CPU numbers labelled {accelerator}"
        )
    placed = [d for d in output.delegations if not d.on_cpu]
    if any(d.nodes == 0 for d in placed):
        raise DelegationError(f"the {accelerator} delegate took no nodes: {placed}")
    partial = [d for d in placed if d.nodes < d.total]
    if partial and require_full_delegation:
        raise DelegationError(f"partial delegation with full delegation required: {partial}")
    notes = [f"{d.delegate}: {d.nodes} of {d.total} nodes on {accelerator}" for d in placed]
    if partial:
        notes.append("partially delegated: the remaining nodes ran on the CPU")
    elif require_full_delegation:
        notes.append("full delegation enforced by --require_full_delegation")
    return bool(partial), tuple(notes)


def parse_benchmark_model(
    text: str,
    *,
    accelerator: Accelerator,
    require_full_delegation: bool = True,
    config: Mapping[str, Any] | None = None,
    device: Mapping[str, str] | None = None,
    command: Sequence[str] | None = None,
    returncode: int = 0,
) -> Measurement:
    """A `benchmark_model` log as a phone `Measurement` (µs and ms in the log → ms here).

    The tool prints an average, min/max/std and (newer builds) p5/median/p95; it prints no p90
    and no trimmed mean, so those stay None rather than being made up.
    """
    output = read_benchmark_output(text)
    partial, placement = _check_delegation(output, accelerator, require_full_delegation)
    if returncode != 0 or output.failures:
        tail = "\n".join(text.strip().splitlines()[-5:])
        raise PhoneBenchmarkError(f"benchmark_model failed (exit status {returncode}):\n{tail}")
    if output.mean_ms is None:
        raise PhoneBenchmarkError("no inference timings in the benchmark_model output")
    timings = Timings(
        load_ms=output.init_ms,
        first_ms=output.first_ms,
        warmup=output.warmup_runs,
        runs=output.runs,
        min_ms=output.min_ms,
        p50_ms=output.median_ms,
        p90_ms=None,
        mean_ms=output.mean_ms,
        trimmed_mean_ms=None,
    )
    printed = {"max": output.max_ms, "std": output.std_ms, "p5": output.p5_ms, "p95": output.p95_ms}
    extra = ", ".join(
        f"{name} {value:.3f} ms" for name, value in printed.items() if value is not None
    )
    notes = [
        "benchmark_model prints no p90 or trimmed mean: p90_ms and trimmed_mean_ms are None",
        *placement,
    ]
    if extra:
        notes.append(f"also printed: {extra}")
    memory = output.peak_memory_mb
    if memory is None and output.footprint_mb is not None:
        memory = output.footprint_mb
        notes.append("peak_rss_mb is the footprint growth since the tool started, not a peak")
    return Measurement(
        suite="phone",
        runtime=f"android-{accelerator}" + ("+cpu" if partial else ""),
        placement=residency(output.delegations),
        config={"accelerator": accelerator, **(config or {})},
        source="phone",
        timings=timings,
        peak_rss_mb=memory,
        notes=tuple(notes),
        provenance=_android_provenance(config or {}, device or {}, command),
    )


def residency(delegations: Sequence[Delegation]) -> dict[str, Any] | None:
    """Where the graph ran, per delegate: delegated and undelegated node counts and partitions
    (the log's `Replacing N out of M node(s) ... yielding P partitions` lines)."""
    if not delegations:
        return None
    return {
        "delegates": [
            {
                "delegate": d.delegate,
                "delegated_nodes": d.nodes,
                "undelegated_nodes": d.total - d.nodes,
                "partitions": d.partitions,
            }
            for d in delegations
        ]
    }


def _android_provenance(
    config: Mapping[str, Any], device: Mapping[str, str], command: Sequence[str] | None
) -> dict[str, Any]:
    """This host's provenance, with the phone in the machine fields and the host kept apart."""
    host = provenance(config.get("threads"))
    phone = {
        "cpu_model": device.get("soc_model") or device.get("device_model"),
        "cores": None,
        "os": f"Android {device['android_release']}" if "android_release" in device else None,
        **device,
    }
    return {
        **host,
        **phone,
        "host_cpu_model": host["cpu_model"],
        "host_os": host["os"],
        "tool": BINARY,
        "device_command": shlex.join(command) if command else None,
    }
