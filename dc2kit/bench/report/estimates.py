"""The estimates section: one row per estimate, and each device's assumptions stated once.

An estimate row's first note is its own breakdown (which roof binds, the compute and memory
times, the bytes moved); the others are the assumptions behind it, as `dc2kit.bench.estimate`
writes them. Assumptions repeat across every row of a device, so they are listed under the
device, marked with a precision where only that precision's rows make them.
"""

from __future__ import annotations

from collections import defaultdict

from dc2kit.bench.report.load import Entry, precision_of
from dc2kit.bench.report.text import (
    CONFIG_COLUMN,
    RUNTIME_COLUMN,
    Column,
    entry_table,
    number_text,
    timing_of,
)

_COLUMNS: tuple[Column, ...] = (
    ("label", lambda e: "estimate"),
    RUNTIME_COLUMN,
    CONFIG_COLUMN,
    ("estimated latency ms", timing_of("p50_ms")),
    ("GMAC", lambda e: number_text(e.measurement.gmac)),
    ("breakdown", lambda e: next(iter(e.measurement.notes), None)),
)


def _device(entry: Entry) -> str:
    """The device heading: the runtime label, and the device's name where the row gives it."""
    m = entry.measurement
    name = m.config.get("device")
    return f"`{m.runtime}`" + (f": {name}" if name else "")


def assumptions(entries: list[Entry]) -> dict[str, list[str]]:
    """Each device's assumptions: those all its precisions make, in first-seen order, then those
    only some make, marked `(int8 only)` and grouped by mark."""
    rows: dict[str, list[Entry]] = defaultdict(list)
    for entry in entries:
        rows[_device(entry)].append(entry)
    listed: dict[str, list[str]] = {}
    for device, group in rows.items():
        precisions = {precision_of(e.measurement) for e in group}
        made_by: dict[str, set[str | None]] = defaultdict(set)
        for entry in group:
            for note in entry.measurement.notes[1:]:
                made_by[note].add(precision_of(entry.measurement))
        marks = {note: _mark(made_by[note], precisions) for note in made_by}
        listed[device] = [marks[note] + note for note in sorted(made_by, key=marks.__getitem__)]
    return listed


def _mark(made_by: set[str | None], precisions: set[str | None]) -> str:
    """Nothing for an assumption every precision makes (these sort first), else `(int8 only) `."""
    return "" if made_by == precisions else f"({', '.join(sorted(map(str, made_by)))} only) "


def estimates_section(estimates: list[Entry]) -> list[str]:
    if not estimates:
        return []
    lines = [
        "",
        "## Estimates (not measured)",
        "",
        "Every figure in this section is an **estimate** computed from MAC counts and the "
        "stated assumptions; none was measured on a device. Each row gives its own breakdown; "
        "the assumptions follow, once per device.",
        "",
        *entry_table(estimates, _COLUMNS),
    ]
    for device, notes in assumptions(estimates).items():
        lines += ["", f"### Assumptions for {device}", ""]
        lines += [f"- {note}" for note in notes] or ["- none recorded"]
    return lines
