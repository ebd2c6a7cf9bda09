"""Turning figures into the report's text: numbers, sizes, configurations and Markdown tables."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from dc2kit.bench.memory import rss_increment_mb
from dc2kit.bench.report.load import MISSING, Entry
from dc2kit.bench.results import Measurement

_UNLISTED_CONFIG = ("executor", "min_runs", "min_seconds")


def number_text(value: float | None) -> str | None:
    if value is None:
        return None
    magnitude = abs(value)
    digits = 0 if magnitude >= 100 else 1 if magnitude >= 10 else 2 if magnitude >= 1 else 3
    return f"{value:.{digits}f}"


def size_text(config: dict[str, Any]) -> str | None:
    if "width" in config and "height" in config:
        return f"{config['width']}×{config['height']}"
    return None


def config_text(config: dict[str, Any]) -> str:
    """`1024×768 · k=7 · threads=2`: the size first, then the other keys sorted.

    The executor goes to the suite's runtime legend and the protocol minimums are in `runs`.
    """
    hidden = ("width", "height", *_UNLISTED_CONFIG)
    rest = [f"{k}={v}" for k, v in sorted(config.items()) if k not in hidden]
    return " · ".join([s for s in [size_text(config)] if s] + rest) or MISSING


def share_of_peak(measurement: Measurement) -> float | None:
    m = measurement
    if m.share_of_peak is not None:
        return m.share_of_peak
    if m.achieved_gflops is not None and m.machine_peak_gflops:
        return m.achieved_gflops / m.machine_peak_gflops
    return None


def percent_text(value: float | None) -> str | None:
    return None if value is None else f"{100 * value:.1f} %"


def ratio_text(value: float) -> str:
    return f"{value:.2f}×"


def _cell(text: str | None) -> str:
    return MISSING if text is None else text.replace("|", "\\|")


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str | None]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


Column = tuple[str, Callable[[Entry], str | None]]


def timing_of(field: str) -> Callable[[Entry], str | None]:
    def read(entry: Entry) -> str | None:
        timings = entry.measurement.timings
        return number_text(getattr(timings, field)) if timings else None

    return read


RUNTIME_COLUMN: Column = ("runtime", lambda e: e.measurement.runtime)
CONFIG_COLUMN: Column = ("config", lambda e: config_text(e.measurement.config))
TIMING_COLUMNS: tuple[Column, ...] = (
    ("p50 ms", timing_of("p50_ms")),
    ("p90 ms", timing_of("p90_ms")),
    ("trimmed mean ms", timing_of("trimmed_mean_ms")),
    ("runs", lambda e: str(e.measurement.timings.runs) if e.measurement.timings else None),
)
MEASURED_COLUMNS: tuple[Column, ...] = (
    RUNTIME_COLUMN,
    CONFIG_COLUMN,
    *TIMING_COLUMNS,
    ("peak RSS MB", lambda e: number_text(e.measurement.peak_rss_mb)),
    ("op increment MB", lambda e: number_text(rss_increment_mb(e.measurement))),
    ("GMAC", lambda e: number_text(e.measurement.gmac)),
    ("GFLOP/s", lambda e: number_text(e.measurement.achieved_gflops)),
    ("share of peak", lambda e: percent_text(share_of_peak(e.measurement))),
    ("env", lambda e: e.env),
)


def entry_table(entries: Sequence[Entry], columns: Sequence[Column]) -> list[str]:
    """A table of `columns`, leaving out those with no value in any row."""
    cells = [[read(entry) for _, read in columns] for entry in entries]
    keep = [i for i in range(len(columns)) if any(row[i] is not None for row in cells)]
    return markdown_table([columns[i][0] for i in keep], ([row[i] for i in keep] for row in cells))
