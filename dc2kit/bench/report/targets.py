"""The report's targets, computed from measured rows only: each a verdict with its evidence."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dc2kit.bench.memory import rss_increment_mb
from dc2kit.bench.micro import SUITE as MICRO_SUITE
from dc2kit.bench.report.load import (
    LOW_MEMORY_SUFFIX,
    MODEL_SUITE,
    Entry,
    at_size,
    busy_load,
    by_threads,
    engine_of,
    in_suite,
    is_fp32,
    p50_of,
    precision_of,
    quiet,
    sort_key,
    sortable,
    timed,
    with_p50,
)
from dc2kit.bench.report.text import (
    config_text,
    number_text,
    percent_text,
    ratio_text,
    share_of_peak,
)
from dc2kit.bench.results import Measurement
from dc2kit.convert.targets import (
    DEFAULT_FORMULATION,
    DEFAULT_KERNEL_PREDICT,
    EXPORTABLE_FORMULATIONS,
)

EAGER_RUNTIMES = ("torch", "torch-eager")
TFLITE_SPEEDUP = 1.5
FORMULATION_SPEEDUP = 3.0
FORMULATION_MEMORY = 1 / 3
SHARE_OF_PEAK = 0.40
MEMORY_GOAL_MIB = 1.5e9 / 2**20  # 1.5 GB (10^9 bytes), in the MiB peak_rss_mb is stored in
MEMORY_SIZE = (1024, 768)


@dataclass(frozen=True)
class TargetResult:
    """One target's verdict, its headline figure and the rows it was computed from."""

    name: str
    threshold: str
    measured: str
    status: str  # "met", "not met" or "no data"
    header: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()


def shipped_mobile(entries: list[Entry], width: int, height: int) -> list[Entry]:
    """The model suite's mobile rows at width × height in the formulation `export` ships: the
    rows the latency, memory and w8a8 targets compare."""
    mobile = {"preset": "mobile", "formulation": DEFAULT_FORMULATION}
    return at_size(in_suite(entries, MODEL_SUITE), width, height, **mobile)


def _verdict(flags: Sequence[bool]) -> str:
    return "no data" if not flags else "met" if all(flags) else "not met"


def tflite_target(measured: list[Entry]) -> TargetResult:
    """TFLite fp32 (the lowering `export` ships) vs PyTorch eager, mobile preset at 512×384, p50
    at equal thread counts."""
    model = shipped_mobile(measured, 512, 384)
    eager = by_threads(
        e for e in model if e.measurement.runtime in EAGER_RUNTIMES and is_fp32(e.measurement)
    )
    tflite = by_threads(
        e
        for e in model
        if e.measurement.runtime.startswith("tflite")
        and not e.measurement.runtime.endswith(LOW_MEMORY_SUFFIX)
        and precision_of(e.measurement) == "fp32"
        and e.measurement.config.get("kernel_predict") == DEFAULT_KERNEL_PREDICT
    )
    rows, ratios = [], []
    for threads in sorted(set(eager) & set(tflite), key=sortable):
        ratio = p50_of(eager[threads]) / p50_of(tflite[threads])
        ratios.append(ratio)
        rows.append(
            (
                threads,
                number_text(p50_of(eager[threads])),
                number_text(p50_of(tflite[threads])),
                ratio_text(ratio),
                _verdict([ratio >= TFLITE_SPEEDUP]),
            )
        )
    return TargetResult(
        name="TFLite fp32 (XNNPACK) vs PyTorch eager, mobile preset, 512×384",
        threshold=f"≥ {TFLITE_SPEEDUP}× faster (p50)",
        measured=", ".join(f"{row[3]} at {row[0]} threads" for row in rows) or "no data",
        status=_verdict([r >= TFLITE_SPEEDUP for r in ratios]),
        header=("threads", "torch p50 ms", "tflite fp32 p50 ms", "speed-up", "status"),
        rows=tuple(rows),
    )


def _formulation_row(
    engine: str, k: Any, formulation: str, reference: Entry, candidate: Entry
) -> tuple[tuple[str, ...], bool | None]:
    speedup = p50_of(reference) / p50_of(candidate)
    ref_memory = rss_increment_mb(reference.measurement)
    memory = rss_increment_mb(candidate.measurement)
    share = memory / ref_memory if memory is not None and ref_memory else None
    met = None if share is None else speedup >= FORMULATION_SPEEDUP and share <= FORMULATION_MEMORY
    status = "no data" if met is None else _verdict([met])
    row = (
        f"{engine}-{formulation}",
        str(k),
        ratio_text(speedup),
        ratio_text(share) if share is not None else None,
    )
    return (*row, status), met


def formulation_target(measured: list[Entry]) -> TargetResult:
    """Each exported formulation vs `reference` at 1024×768, per engine and k (p50, increment)."""
    micro = at_size(in_suite(measured, MICRO_SUITE), 1024, 768)
    cells: dict[tuple[str, Any, str], Entry] = {}
    for entry in micro:
        config = entry.measurement.config
        cells[(engine_of(entry), config.get("k"), str(config.get("formulation")))] = entry
    rows, verdicts = [], defaultdict(list)
    for engine, k, formulation in sorted(cells, key=lambda key: (key[0], sortable(key[1]), key[2])):
        reference = cells.get((engine, k, "reference"))
        if formulation not in EXPORTABLE_FORMULATIONS or reference is None:
            continue
        row, met = _formulation_row(
            engine, k, formulation, reference, cells[(engine, k, formulation)]
        )
        rows.append(row)
        verdicts[row[0]].append(met)
    passing = sorted(name for name, flags in verdicts.items() if flags and all(flags))
    status = "no data" if not verdicts else "met" if passing else "not met"
    summary = {
        "met": f"met by {', '.join(passing)} at every k",
        "not met": "no exported formulation meets both at every k",
    }.get(status, status)
    return TargetResult(
        name="Exported kernel-prediction formulation vs `reference`, 1024×768",
        threshold=f"≥ {FORMULATION_SPEEDUP:g}× faster (p50) and ≤ 1/3 of its op memory increment",
        measured=summary,
        status=status,
        header=("runtime", "k", "speed-up", "memory vs reference", "status"),
        rows=tuple(rows),
    )


def share_target(measured: list[Entry]) -> TargetResult:
    """The best share of the machine's measured peak reached on the paper preset.

    Only fp32 runtimes count: the peak is an fp32 matmul probe; int8 kernels do integer
    arithmetic at several times that rate (their "share" exceeds 100 %) and fp16 ones may use
    half-precision units, so neither share compares like with like.
    """
    paper = [
        e
        for e in in_suite(measured, MODEL_SUITE)
        if e.measurement.config.get("preset") == "paper"
        and share_of_peak(e.measurement) is not None
        and is_fp32(e.measurement)
    ]
    rows = tuple(
        (
            e.measurement.runtime,
            config_text(e.measurement.config),
            number_text(e.measurement.achieved_gflops),
            number_text(e.measurement.machine_peak_gflops),
            percent_text(share_of_peak(e.measurement)),
        )
        for e in paper
    )
    name = "Best fp32 runtime, paper preset (int8 and fp16 excluded: the peak probe is fp32)"
    threshold = f"≥ {100 * SHARE_OF_PEAK:.0f} % of the machine's measured peak"
    if not paper:
        return TargetResult(name, threshold, "no data", "no data")
    best = max(paper, key=lambda e: (share_of_peak(e.measurement), sort_key(e)))
    share = share_of_peak(best.measurement)
    assert share is not None
    return TargetResult(
        name=name,
        threshold=threshold,
        measured=f"{percent_text(share)} ({best.measurement.runtime}, "
        f"{config_text(best.measurement.config)})",
        status=_verdict([share >= SHARE_OF_PEAK]),
        header=("runtime", "config", "GFLOP/s", "peak GFLOP/s", "share of peak"),
        rows=rows,
    )


def _artifact_label(measurement: Measurement) -> str:
    """The precision, and the lowering where it is not the one `export` ships."""
    lowering = measurement.config.get("kernel_predict", DEFAULT_KERNEL_PREDICT)
    other = "" if lowering == DEFAULT_KERNEL_PREDICT else f" {lowering}"
    return f"{precision_of(measurement)}{other}"


def _memory_row(default: Entry | None, lowmem: Entry) -> tuple[tuple[str | None, ...], bool]:
    peak = lowmem.measurement.peak_rss_mb
    met = peak is not None and peak <= MEMORY_GOAL_MIB
    before = default.measurement.peak_rss_mb if default else None
    row = (
        _artifact_label(lowmem.measurement),
        number_text(before),
        number_text(p50_of(default)) if default else None,
        number_text(peak),
        number_text(p50_of(lowmem)),
        ratio_text(p50_of(lowmem) / p50_of(default)) if default else None,
        "busy" if busy_load(lowmem.measurement) is not None else "quiet",
        _verdict([met]),
    )
    return row, met


def memory_target(measured: list[Entry]) -> TargetResult:
    """Peak RSS of the mobile preset at 1024×768 in each low-memory TFLite runtime, beside the
    default runtime's peak and both medians.

    Unlike the latency targets this one keeps busy rows (and says which): other processes take
    cores, not this process's allocations, so a busy machine changes the times, not the peak.
    """
    mobile = shipped_mobile(measured, *MEMORY_SIZE)
    tflite = {
        e.measurement.runtime: e for e in mobile if e.measurement.runtime.startswith("tflite")
    }
    rows, verdicts = [], []
    for name in sorted(n for n in tflite if n.endswith(LOW_MEMORY_SUFFIX)):
        row, met = _memory_row(tflite.get(name.removesuffix(LOW_MEMORY_SUFFIX)), tflite[name])
        rows.append(row)
        verdicts.append(met)
    measured_text = ", ".join(f"{row[0]} {row[3]} MiB" for row in rows) or "no data"
    return TargetResult(
        name="Mobile preset at 1024×768 in the low-memory TFLite runtime (transient indirection)",
        threshold=f"≤ 1.5 GB ({MEMORY_GOAL_MIB:.0f} MiB) peak RSS",
        measured=measured_text,
        status=_verdict(verdicts),
        header=(
            "precision",
            "default peak MiB",
            "default p50 ms",
            "low-memory peak MiB",
            "low-memory p50 ms",
            "time vs default",
            "machine",
            "status",
        ),
        rows=tuple(rows),
    )


def compute_targets(entries: list[Entry]) -> list[TargetResult]:
    """Every target, from the measured rows with a median; the latency targets leave out rows
    taken on a busy machine, the memory and w8a8 targets keep them and mark them."""
    from dc2kit.bench.report.quantized import w8a8_target  # it builds on TargetResult

    timed_rows = with_p50(timed(entries, "measured"))
    measured = quiet(timed_rows)
    return [
        tflite_target(measured),
        formulation_target(measured),
        share_target(measured),
        memory_target(timed_rows),
        w8a8_target(timed_rows),
    ]
