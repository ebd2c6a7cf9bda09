"""Turning figures into the report's text: numbers, sizes, configurations and Markdown tables."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from dc2kit.bench.memory import rss_increment_mb
from dc2kit.bench.report.load import MISSING, Entry, busy_load, is_fp32
from dc2kit.bench.results import Measurement

_UNLISTED_CONFIG = ("executor", "min_runs", "min_seconds")
NOT_FP32 = "n/a †"  # a share of an fp32 peak, for arithmetic that is not fp32
NOT_FP32_FOOTNOTE = (
    "† Share of peak is given for fp32 rows only: the peak is an fp32 matmul probe, while int8 "
    "kernels do integer arithmetic and fp16 ones may use half-precision units, at other rates "
    "(an int8 share can exceed 100 %)."
)


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


def share_text(measurement: Measurement) -> str | None:
    """The share of peak as a percentage, or `NOT_FP32` where comparing with the probe is
    meaningless."""
    share = share_of_peak(measurement)
    if share is None:
        return None
    return percent_text(share) if is_fp32(measurement) else NOT_FP32


def busy_text(measurement: Measurement) -> str | None:
    load = busy_load(measurement)
    cores = measurement.provenance.get("cores")
    return None if load is None else f"busy: load {load:.2f} on {cores} cores"


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
    ("share of peak", lambda e: share_text(e.measurement)),
    ("machine", lambda e: busy_text(e.measurement)),
    ("env", lambda e: e.env),
)


def entry_table(entries: Sequence[Entry], columns: Sequence[Column]) -> list[str]:
    """A table of `columns`, leaving out those with no value in any row."""
    cells = [[read(entry) for _, read in columns] for entry in entries]
    keep = [i for i in range(len(columns)) if any(row[i] is not None for row in cells)]
    return markdown_table([columns[i][0] for i in keep], ([row[i] for i in keep] for row in cells))
