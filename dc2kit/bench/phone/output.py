"""A `benchmark_model` log (read by `log.read_benchmark_output`) as a phone `Measurement`.

`parse_benchmark_model` refuses (`DelegationError`) a log that shows CPU work under an
accelerator's label rather than storing mislabelled numbers, and records where the graph ran.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from dc2kit.bench.phone.common import BINARY, Accelerator, DelegationError, PhoneBenchmarkError
from dc2kit.bench.phone.log import BenchmarkOutput, Delegation, read_benchmark_output
from dc2kit.bench.results import Measurement, Timings, provenance


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
