"""Loading result files into report entries: the latest run of each configuration, environments,
and the selections the targets, tables and plots take from them.

A row was measured on a *busy* machine when a 1-minute load average it recorded (at the start or
end of its timed runs) exceeds the machine's core count. The average counts every runnable
thread, the benchmark's own included (its `threads`, once they have run for a while), so what
lies above the core count is other processes' work wanting more than the `cores − threads` cores
the benchmark leaves free: it then competed for the cores it was timed on. Rows that recorded no
load average (older files) cannot be judged and are not flagged.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from dc2kit.bench.micro import SUITE as MICRO_SUITE
from dc2kit.bench.results import LOAD_END, LOAD_START, Measurement, read_results
from dc2kit.convert.targets import PRECISIONS as EXPORT_PRECISIONS

MODEL_SUITE = "model"
SUITE_ORDER = (MODEL_SUITE, MICRO_SUITE)
# Every precision an export offers: a runtime name may carry one (`tflite-w8a8-lowmem`).
PRECISIONS = frozenset(p for offered in EXPORT_PRECISIONS.values() for p in offered)
# Vary within one environment.
VOLATILE_PROVENANCE = ("date", "command", "threads", LOAD_START, LOAD_END)
MISSING = "—"
LOW_MEMORY_SUFFIX = "-lowmem"
_LEADING_CONFIG = ("preset", "width", "height", "k")
# How result files written before provenance carried the load average noted it, at the start.
_LOAD_NOTE = re.compile(r"^1-minute load average (\d+(?:\.\d+)?) on \d+ cores at start$")


@dataclass(frozen=True)
class Entry:
    """A measurement with the file it came from and its environment's id (E1, E2, ...)."""

    measurement: Measurement
    file: str
    env: str = ""


# Loading


def _config_key(measurement: Measurement) -> str:
    return json.dumps(measurement.config, sort_keys=True)


def _identity(measurement: Measurement) -> tuple[str, str, str, str]:
    m = measurement
    return (m.suite, m.runtime, m.source, _config_key(m))


def as_measured(measurement: Measurement) -> Measurement:
    """A host TFLite row as what it measured. Rows written before the runtimes named their
    kernel-prediction lowering measured the composite artifact (then the only one), so they read
    as the `tflite-<precision>-composite[-lowmem]` runtimes: `tflite-<precision>` now measures
    the plain-ops artifact `export` ships."""
    m = measurement
    if (
        m.suite != MODEL_SUITE
        or not m.runtime.startswith("tflite-")
        or "kernel_predict" in m.config
    ):
        return m
    lowmem = LOW_MEMORY_SUFFIX if m.runtime.endswith(LOW_MEMORY_SUFFIX) else ""
    runtime = f"{m.runtime.removesuffix(LOW_MEMORY_SUFFIX)}-composite{lowmem}"
    return replace(m, runtime=runtime, config={**m.config, "kernel_predict": "composite"})


def load_entries(results_dir: Path) -> tuple[list[Entry], int]:
    """The latest measurement of every configuration in `*.jsonl`, and how many were superseded."""
    entries = [
        Entry(as_measured(measurement), path.name)
        for path in sorted(results_dir.glob("*.jsonl"))
        for measurement in read_results(path)
    ]
    latest: dict[tuple[str, str, str, str], Entry] = {}
    for entry in entries:  # stable: among equal dates, the later line wins
        key = _identity(entry.measurement)
        if key not in latest or date_of(entry) >= date_of(latest[key]):
            latest[key] = entry
    return sorted(latest.values(), key=sort_key), len(entries) - len(latest)


def date_of(entry: Entry) -> str:
    return str(entry.measurement.provenance.get("date") or "")


def sortable(value: Any) -> tuple[int, float | str]:
    return (0, value) if isinstance(value, int | float) else (1, str(value))


def sort_key(entry: Entry) -> tuple:
    """Suite, then preset, size and k, so runtimes of one configuration sit together."""
    m = entry.measurement
    leading = tuple(sortable(m.config.get(key, "")) for key in _LEADING_CONFIG)
    rest = tuple((k, sortable(v)) for k, v in sorted(m.config.items()) if k not in _LEADING_CONFIG)
    return (m.suite, m.source, leading, m.runtime, rest)


def _environment_key(measurement: Measurement) -> str:
    stable = {k: v for k, v in measurement.provenance.items() if k not in VOLATILE_PROVENANCE}
    return json.dumps(stable, sort_keys=True)


def assign_environments(entries: list[Entry]) -> tuple[list[Entry], dict[str, list[Entry]]]:
    """Label entries E1, E2, ... by environment (commit, machine, OS, tools), oldest first."""
    groups: dict[str, list[Entry]] = defaultdict(list)
    for entry in entries:
        groups[_environment_key(entry.measurement)].append(entry)
    order = sorted(groups, key=lambda key: (min(date_of(e) for e in groups[key]), key))
    names = {key: f"E{index}" for index, key in enumerate(order, 1)}
    labelled = [
        Entry(e.measurement, e.file, names[_environment_key(e.measurement)]) for e in entries
    ]
    by_env: dict[str, list[Entry]] = defaultdict(list)
    for entry in labelled:
        by_env[entry.env].append(entry)
    return labelled, {name: by_env[name] for name in names.values()}


# Selections


def timed(entries: Iterable[Entry], source: str) -> list[Entry]:
    return [e for e in entries if e.measurement.source == source and e.measurement.timings]


def with_p50(entries: Iterable[Entry]) -> list[Entry]:
    """Timed entries with a median (phone tools may print only a mean): what targets compare."""
    return [
        e for e in entries if e.measurement.timings and e.measurement.timings.p50_ms is not None
    ]


def in_suite(entries: Iterable[Entry], suite: str) -> list[Entry]:
    return [e for e in entries if e.measurement.suite == suite]


def precision_of(measurement: Measurement) -> str | None:
    """`config["precision"]`, else the precision part of the runtime name (`tflite-fp16`,
    `tflite-w8a8-lowmem`, `tflite-int8-composite`)."""
    if "precision" in measurement.config:
        return str(measurement.config["precision"])
    return next((part for part in measurement.runtime.split("-") if part in PRECISIONS), None)


def is_fp32(measurement: Measurement) -> bool:
    """fp32, or no precision stated (fp32 is every host runtime's default)."""
    return precision_of(measurement) in (None, "fp32")


def at_size(entries: Iterable[Entry], width: int, height: int, **config: Any) -> list[Entry]:
    wanted = {"width": width, "height": height, **config}
    return [e for e in entries if all(e.measurement.config.get(k) == v for k, v in wanted.items())]


def p50_of(entry: Entry) -> float:
    timings = entry.measurement.timings
    assert timings is not None and timings.p50_ms is not None  # callers use `with_p50`
    return timings.p50_ms


def by_threads(entries: Iterable[Entry]) -> dict[str, Entry]:
    return {str(e.measurement.config.get("threads", MISSING)): e for e in entries}


def engine_of(entry: Entry) -> str:
    return entry.measurement.runtime.split("-", 1)[0]


def load_averages(measurement: Measurement) -> tuple[float, ...]:
    """The 1-minute load averages a row recorded: start and end, or an older file's start note."""
    recorded = tuple(
        float(measurement.provenance[key])
        for key in (LOAD_START, LOAD_END)
        if measurement.provenance.get(key) is not None
    )
    if recorded:
        return recorded
    return tuple(float(match[1]) for note in measurement.notes if (match := _LOAD_NOTE.match(note)))


def busy_load(measurement: Measurement) -> float | None:
    """The highest recorded load average where it exceeds the core count (see the docstring)."""
    cores = measurement.provenance.get("cores")
    loads = load_averages(measurement)
    return max(loads) if cores and loads and max(loads) > cores else None


def quiet(entries: Iterable[Entry]) -> list[Entry]:
    """The entries not measured on a busy machine: what the targets may use."""
    return [e for e in entries if busy_load(e.measurement) is None]
