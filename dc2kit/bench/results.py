"""The one schema every benchmark figure is stored in: measured here, on a phone, or estimated.

Results are JSON lines (one `Measurement` per line) so suites can append as they go and the
report can be regenerated from the committed files alone. Every line carries its provenance.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import sys
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

Source = Literal["measured", "phone", "estimate"]
# Provenance keys of the 1-minute load average when a measurement started and ended.
LOAD_START, LOAD_END = "load_average_start", "load_average_end"


@dataclass(frozen=True)
class Timings:
    """Milliseconds. `runs` timed runs after `warmup` untimed ones; trimmed mean = middle 80 %."""

    load_ms: float | None
    first_ms: float | None
    warmup: int
    runs: int
    min_ms: float | None  # None where a tool prints only an average (phone runners)
    p50_ms: float | None
    p90_ms: float | None
    mean_ms: float
    trimmed_mean_ms: float | None
    max_ms: float | None = None
    std_ms: float | None = None


@dataclass(frozen=True)
class Measurement:
    """One configuration's figures. `source` says whether a machine or a formula produced them."""

    suite: str  # e.g. "model", "kernel_predict", "phone"
    runtime: str  # e.g. "torch", "tflite-fp32", "coreml-ne", "android-gpu", "estimate-a16"
    config: dict[str, Any]  # preset, width, height, precision, threads, formulation, k, ...
    source: Source
    timings: Timings | None
    peak_rss_mb: float | None = None
    gmac: float | None = None
    achieved_gflops: float | None = None
    machine_peak_gflops: float | None = None
    share_of_peak: float | None = None
    notes: tuple[str, ...] = ()
    placement: dict[str, Any] | None = None  # residency: Core ML plan or phone delegate nodes
    provenance: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Measurement:
        timings = data.get("timings")
        return cls(
            **{
                **data,
                "timings": Timings(**timings) if timings else None,
                "notes": tuple(data.get("notes", ())),
            }
        )


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def provenance(threads: int | None = None) -> dict[str, Any]:
    """Where a figure came from: code version, tools, machine, threads, date, command line."""
    from dc2kit import __version__
    from dc2kit.convert.manifest import git_commit, tool_versions

    return {
        "git_commit": git_commit(),
        "dc2kit_version": __version__,
        "tools": tool_versions(),
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "threads": threads,
        "os": platform.platform(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": shlex.join(sys.argv),
    }


def load_average() -> float | None:
    """The 1-minute load average now (runnable threads averaged over about a minute, those of
    this process included), or None where the OS keeps none."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def load_provenance(start: float | None, end: float | None) -> dict[str, float | None]:
    """The load averages a measuring process read before and after its timed runs."""
    return {LOAD_START: start, LOAD_END: end}


def append_results(path: str | Path, measurements: list[Measurement]) -> None:
    """Append JSON lines (a suite's results accumulate; the report reads them all)."""
    with Path(path).open("a") as stream:
        for measurement in measurements:
            stream.write(measurement.to_json() + "\n")


def read_results(path: str | Path) -> list[Measurement]:
    lines = Path(path).read_text().splitlines()
    return [Measurement.from_dict(json.loads(line)) for line in lines if line.strip()]
