"""Process memory as the benchmarks record it: one peak-RSS reading, one baseline convention.

A measuring child takes a baseline (its RSS or peak before the work under test) and the peak after
it. `Measurement.peak_rss_mb` stores the absolute peak; the baseline goes into a note
(`rss_baseline_mb=…`) so that `rss_increment_mb` gives the work's own memory from the stored
result alone.

Where Linux offers it, the peak is the kernel's high-water mark (`VmHWM`), which
`/proc/self/clear_refs` can restart from the current RSS. Elsewhere `getrusage` is the fallback:
its `ru_maxrss` is KiB on Linux and bytes on macOS, and it cannot be reset.
"""

from __future__ import annotations

import contextlib
import resource
import sys
from pathlib import Path

from dc2kit.bench.results import Measurement

BASELINE_NOTE = "rss_baseline_mb="


def peak_rss_mb() -> float:
    """This process's peak resident set so far, in MiB, from `getrusage`."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def _status_kb(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def rss_mb() -> float:
    """Current RSS; without /proc, the peak so far (an upper bound)."""
    kb = _status_kb("VmRSS")
    return kb / 1024 if kb is not None else peak_rss_mb()


def reset_peak() -> None:
    """Restart the high-water mark from the current RSS where the kernel allows it."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def high_water_mb() -> float:
    """The peak since the last `reset_peak` (Linux), else the process's peak so far."""
    kb = _status_kb("VmHWM")
    return kb / 1024 if kb is not None else peak_rss_mb()


def baseline_note(baseline_mb: float) -> str:
    return f"{BASELINE_NOTE}{baseline_mb:.1f}"


def rss_increment_mb(measurement: Measurement) -> float | None:
    """The measured work's own peak memory: the absolute peak less the noted baseline."""
    for note in measurement.notes:
        if note.startswith(BASELINE_NOTE) and measurement.peak_rss_mb is not None:
            return measurement.peak_rss_mb - float(note.removeprefix(BASELINE_NOTE))
    return None
