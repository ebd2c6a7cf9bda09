"""The full-integer target: TFLite w8a8 against TFLite fp32 on XNNPACK, mobile preset, 512×384.

Like the memory target it keeps rows measured on a busy machine and says so in every row: the
w8a8 section is measured while training runs beside it, and a ratio of two busy medians is the
only figure there is until the suite is rerun on a quiet machine. Each row names the XNNPACK
partitions of both artifacts (`tflite-fp32` lowers kernel prediction as `export` ships it, plain
ops like w8a8; rows older than that lowering's runtime are `tflite-fp32-composite`, see
load.as_measured), so a speed-up that comes from delegation rather than from integers shows.
"""

from __future__ import annotations

from dc2kit.bench.report.load import (
    Entry,
    busy_load,
    by_threads,
    p50_of,
    sortable,
)
from dc2kit.bench.report.targets import TargetResult, shipped_mobile
from dc2kit.bench.report.text import number_text, ratio_text

W8A8_SPEEDUP = 1.8
W8A8_SIZE = (512, 384)
W8A8_RUNTIME = "tflite-w8a8"
FP32_RUNTIME = "tflite-fp32"


def _partitions(entry: Entry) -> str:
    placement = entry.measurement.placement or {}
    delegates = placement.get("delegates") or [{}]
    count = delegates[0].get("partitions")
    return "?" if count is None else str(count)


def _machine(*entries: Entry) -> str:
    return "busy" if any(busy_load(e.measurement) is not None for e in entries) else "quiet"


def w8a8_target(timed_rows: list[Entry]) -> TargetResult:
    """p50 of `tflite-fp32` over `tflite-w8a8` at equal thread counts (busy rows kept, marked)."""
    mobile = shipped_mobile(timed_rows, *W8A8_SIZE)
    fp32 = by_threads(e for e in mobile if e.measurement.runtime == FP32_RUNTIME)
    w8a8 = by_threads(e for e in mobile if e.measurement.runtime == W8A8_RUNTIME)
    rows, verdicts = [], []
    for threads in sorted(set(fp32) & set(w8a8), key=sortable):
        ratio = p50_of(fp32[threads]) / p50_of(w8a8[threads])
        verdicts.append(ratio >= W8A8_SPEEDUP)
        rows.append(
            (
                threads,
                number_text(p50_of(fp32[threads])),
                number_text(p50_of(w8a8[threads])),
                ratio_text(ratio),
                f"{_partitions(fp32[threads])} / {_partitions(w8a8[threads])}",
                _machine(fp32[threads], w8a8[threads]),
                "met" if verdicts[-1] else "not met",
            )
        )
    status = "no data" if not verdicts else "met" if all(verdicts) else "not met"
    return TargetResult(
        name="TFLite w8a8 (full-integer) vs TFLite fp32 on XNNPACK, mobile preset, 512×384",
        threshold=f"≥ {W8A8_SPEEDUP}× faster (p50)",
        measured=", ".join(f"{row[3]} at {row[0]} threads ({row[5]})" for row in rows) or "no data",
        status=status,
        header=(
            "threads",
            "tflite fp32 p50 ms",
            "tflite w8a8 p50 ms",
            "speed-up",
            "XNNPACK partitions fp32 / w8a8",
            "machine",
            "status",
        ),
        rows=tuple(rows),
    )
