"""Regenerate benchmarks/REPORT.md and its plots from the committed result files, and nothing else.

The report measures nothing: every number comes from the `*.jsonl` files of `results_dir`
(schema: `dc2kit.bench.results`), so anyone can rebuild it and see where each figure came from.
Conventions it relies on:

- a measurement with `timings=None` is a skipped configuration; its `notes` give the reason;
- `source="estimate"` rows are formulas, not measurements: they get their own section, are labelled
  "estimate" on every row and list their assumptions (`notes`);
- `source="phone"` rows get their own section and never count towards the targets;
- where one configuration (suite, runtime, source, config) was measured more than once, the latest
  by provenance date wins and the report says how many rows were superseded.

Output is deterministic: rows are sorted, no clock is read, so an unchanged input gives a
byte-identical REPORT.md.
"""

from __future__ import annotations

import argparse
import json
import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dc2kit.bench.memory import rss_increment_mb
from dc2kit.bench.micro import ENGINES
from dc2kit.bench.micro import SUITE as MICRO_SUITE
from dc2kit.bench.results import Measurement, read_results

MODEL_SUITE = "model"
SUITE_ORDER = (MODEL_SUITE, MICRO_SUITE)
PRECISIONS = ("fp32", "fp16", "int8")
EAGER_RUNTIMES = ("torch", "torch-eager")
FORMULATIONS = ("reference", "shift", "im2col")  # as in dc2kit.model, which would import torch
EXPORTED_FORMULATIONS = FORMULATIONS[1:]
TFLITE_SPEEDUP = 1.5
FORMULATION_SPEEDUP = 3.0
FORMULATION_MEMORY = 1 / 3
SHARE_OF_PEAK = 0.40
MODEL_PLOT = "model_latency.png"
MICRO_TIME_PLOT = "kernel_predict_time.png"
MICRO_MEMORY_PLOT = "kernel_predict_memory.png"
_VOLATILE_PROVENANCE = ("date", "command", "threads")  # vary within one environment
_MISSING = "—"
_LEADING_CONFIG = ("preset", "width", "height", "k")
_UNLISTED_CONFIG = ("executor", "min_runs", "min_seconds")


@dataclass(frozen=True)
class Entry:
    """A measurement with the file it came from and its environment's id (E1, E2, ...)."""

    measurement: Measurement
    file: str
    env: str = ""


@dataclass(frozen=True)
class TargetResult:
    """One target's verdict, its headline figure and the rows it was computed from."""

    name: str
    threshold: str
    measured: str
    status: str  # "met", "not met" or "no data"
    header: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()


# Loading


def _config_key(measurement: Measurement) -> str:
    return json.dumps(measurement.config, sort_keys=True)


def _identity(measurement: Measurement) -> tuple[str, str, str, str]:
    m = measurement
    return (m.suite, m.runtime, m.source, _config_key(m))


def load_entries(results_dir: Path) -> tuple[list[Entry], int]:
    """The latest measurement of every configuration in `*.jsonl`, and how many were superseded."""
    entries = [
        Entry(measurement, path.name)
        for path in sorted(results_dir.glob("*.jsonl"))
        for measurement in read_results(path)
    ]
    latest: dict[tuple[str, str, str, str], Entry] = {}
    for entry in entries:  # stable: among equal dates, the later line wins
        key = _identity(entry.measurement)
        if key not in latest or _date(entry) >= _date(latest[key]):
            latest[key] = entry
    return sorted(latest.values(), key=_sort_key), len(entries) - len(latest)


def _date(entry: Entry) -> str:
    return str(entry.measurement.provenance.get("date") or "")


def _sortable(value: Any) -> tuple[int, float | str]:
    return (0, value) if isinstance(value, int | float) else (1, str(value))


def _sort_key(entry: Entry) -> tuple:
    """Suite, then preset, size and k, so runtimes of one configuration sit together."""
    m = entry.measurement
    leading = tuple(_sortable(m.config.get(key, "")) for key in _LEADING_CONFIG)
    rest = tuple((k, _sortable(v)) for k, v in sorted(m.config.items()) if k not in _LEADING_CONFIG)
    return (m.suite, m.source, leading, m.runtime, rest)


def _environment_key(measurement: Measurement) -> str:
    stable = {k: v for k, v in measurement.provenance.items() if k not in _VOLATILE_PROVENANCE}
    return json.dumps(stable, sort_keys=True)


def assign_environments(entries: list[Entry]) -> tuple[list[Entry], dict[str, list[Entry]]]:
    """Label entries E1, E2, ... by environment (commit, machine, OS, tools), oldest first."""
    groups: dict[str, list[Entry]] = defaultdict(list)
    for entry in entries:
        groups[_environment_key(entry.measurement)].append(entry)
    order = sorted(groups, key=lambda key: (min(_date(e) for e in groups[key]), key))
    names = {key: f"E{index}" for index, key in enumerate(order, 1)}
    labelled = [
        Entry(e.measurement, e.file, names[_environment_key(e.measurement)]) for e in entries
    ]
    by_env: dict[str, list[Entry]] = defaultdict(list)
    for entry in labelled:
        by_env[entry.env].append(entry)
    return labelled, {name: by_env[name] for name in names.values()}


# Formatting


def _number(value: float | None) -> str | None:
    if value is None:
        return None
    magnitude = abs(value)
    digits = 0 if magnitude >= 100 else 1 if magnitude >= 10 else 2 if magnitude >= 1 else 3
    return f"{value:.{digits}f}"


def _size(config: dict[str, Any]) -> str | None:
    if "width" in config and "height" in config:
        return f"{config['width']}×{config['height']}"
    return None


def config_text(config: dict[str, Any]) -> str:
    """`1024×768 · k=7 · threads=2`: the size first, then the other keys sorted.

    The executor goes to the suite's runtime legend and the protocol minimums are in `runs`.
    """
    hidden = ("width", "height", *_UNLISTED_CONFIG)
    rest = [f"{k}={v}" for k, v in sorted(config.items()) if k not in hidden]
    return " · ".join([s for s in [_size(config)] if s] + rest) or _MISSING


def _share(measurement: Measurement) -> float | None:
    m = measurement
    if m.share_of_peak is not None:
        return m.share_of_peak
    if m.achieved_gflops is not None and m.machine_peak_gflops:
        return m.achieved_gflops / m.machine_peak_gflops
    return None


def _percent(value: float | None) -> str | None:
    return None if value is None else f"{100 * value:.1f} %"


def _ratio(value: float) -> str:
    return f"{value:.2f}×"


def _cell(text: str | None) -> str:
    return _MISSING if text is None else text.replace("|", "\\|")


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str | None]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


Column = tuple[str, Callable[[Entry], str | None]]


def _timing(field: str) -> Callable[[Entry], str | None]:
    def read(entry: Entry) -> str | None:
        timings = entry.measurement.timings
        return _number(getattr(timings, field)) if timings else None

    return read


_RUNTIME: Column = ("runtime", lambda e: e.measurement.runtime)
_CONFIG: Column = ("config", lambda e: config_text(e.measurement.config))
_TIMING_COLUMNS: tuple[Column, ...] = (
    ("p50 ms", _timing("p50_ms")),
    ("p90 ms", _timing("p90_ms")),
    ("trimmed mean ms", _timing("trimmed_mean_ms")),
    ("runs", lambda e: str(e.measurement.timings.runs) if e.measurement.timings else None),
)
_MEASURED_COLUMNS: tuple[Column, ...] = (
    _RUNTIME,
    _CONFIG,
    *_TIMING_COLUMNS,
    ("peak RSS MB", lambda e: _number(e.measurement.peak_rss_mb)),
    ("op increment MB", lambda e: _number(rss_increment_mb(e.measurement))),
    ("GMAC", lambda e: _number(e.measurement.gmac)),
    ("GFLOP/s", lambda e: _number(e.measurement.achieved_gflops)),
    ("share of peak", lambda e: _percent(_share(e.measurement))),
    ("env", lambda e: e.env),
)


def entry_table(entries: Sequence[Entry], columns: Sequence[Column]) -> list[str]:
    """A table of `columns`, leaving out those with no value in any row."""
    cells = [[read(entry) for _, read in columns] for entry in entries]
    keep = [i for i in range(len(columns)) if any(row[i] is not None for row in cells)]
    return markdown_table([columns[i][0] for i in keep], ([row[i] for i in keep] for row in cells))


# Selections


def _timed(entries: Iterable[Entry], source: str) -> list[Entry]:
    return [e for e in entries if e.measurement.source == source and e.measurement.timings]


def _with_p50(entries: Iterable[Entry]) -> list[Entry]:
    """Timed entries with a median (phone tools may print only a mean): what targets compare."""
    return [
        e for e in entries if e.measurement.timings and e.measurement.timings.p50_ms is not None
    ]


def _suite(entries: Iterable[Entry], suite: str) -> list[Entry]:
    return [e for e in entries if e.measurement.suite == suite]


def precision_of(measurement: Measurement) -> str | None:
    """`config["precision"]`, else a precision suffix of the runtime name (`tflite-fp16`)."""
    if "precision" in measurement.config:
        return str(measurement.config["precision"])
    suffix = measurement.runtime.rsplit("-", 1)[-1]
    return suffix if suffix in PRECISIONS else None


def _at(entries: Iterable[Entry], width: int, height: int, **config: Any) -> list[Entry]:
    wanted = {"width": width, "height": height, **config}
    return [e for e in entries if all(e.measurement.config.get(k) == v for k, v in wanted.items())]


def _p50(entry: Entry) -> float:
    timings = entry.measurement.timings
    assert timings is not None and timings.p50_ms is not None  # callers use `_with_p50`
    return timings.p50_ms


def _by_threads(entries: Iterable[Entry]) -> dict[str, Entry]:
    return {str(e.measurement.config.get("threads", _MISSING)): e for e in entries}


# Targets


def _verdict(flags: Sequence[bool]) -> str:
    return "no data" if not flags else "met" if all(flags) else "not met"


def tflite_target(measured: list[Entry]) -> TargetResult:
    """TFLite fp32 vs PyTorch eager, mobile preset at 512×384, p50 at equal thread counts."""
    model = _at(_suite(measured, MODEL_SUITE), 512, 384, preset="mobile")
    eager = _by_threads(
        e
        for e in model
        if e.measurement.runtime in EAGER_RUNTIMES and precision_of(e.measurement) in (None, "fp32")
    )
    tflite = _by_threads(
        e
        for e in model
        if e.measurement.runtime.startswith("tflite") and precision_of(e.measurement) == "fp32"
    )
    rows, ratios = [], []
    for threads in sorted(set(eager) & set(tflite), key=_sortable):
        ratio = _p50(eager[threads]) / _p50(tflite[threads])
        ratios.append(ratio)
        rows.append(
            (
                threads,
                _number(_p50(eager[threads])),
                _number(_p50(tflite[threads])),
                _ratio(ratio),
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
    speedup = _p50(reference) / _p50(candidate)
    ref_memory = rss_increment_mb(reference.measurement)
    memory = rss_increment_mb(candidate.measurement)
    share = memory / ref_memory if memory is not None and ref_memory else None
    met = None if share is None else speedup >= FORMULATION_SPEEDUP and share <= FORMULATION_MEMORY
    status = "no data" if met is None else _verdict([met])
    row = (
        f"{engine}-{formulation}",
        str(k),
        _ratio(speedup),
        _ratio(share) if share is not None else None,
    )
    return (*row, status), met


def formulation_target(measured: list[Entry]) -> TargetResult:
    """Each exported formulation vs `reference` at 1024×768, per engine and k (p50, increment)."""
    micro = _at(_suite(measured, MICRO_SUITE), 1024, 768)
    cells: dict[tuple[str, Any, str], Entry] = {}
    for entry in micro:
        config = entry.measurement.config
        cells[(_engine(entry), config.get("k"), str(config.get("formulation")))] = entry
    rows, verdicts = [], defaultdict(list)
    for engine, k, formulation in sorted(
        cells, key=lambda key: (key[0], _sortable(key[1]), key[2])
    ):
        reference = cells.get((engine, k, "reference"))
        if formulation not in EXPORTED_FORMULATIONS or reference is None:
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

    Only float runtimes count: the peak is an fp32 matmul probe, and int8 kernels do integer
    arithmetic at several times that rate, so their "share" is not comparable (it exceeds 100 %).
    """
    paper = [
        e
        for e in _suite(measured, MODEL_SUITE)
        if e.measurement.config.get("preset") == "paper"
        and _share(e.measurement) is not None
        and precision_of(e.measurement) != "int8"
    ]
    rows = tuple(
        (
            e.measurement.runtime,
            config_text(e.measurement.config),
            _number(e.measurement.achieved_gflops),
            _number(e.measurement.machine_peak_gflops),
            _percent(_share(e.measurement)),
        )
        for e in paper
    )
    name = "Best float runtime, paper preset (int8 excluded: the peak probe is fp32)"
    threshold = f"≥ {100 * SHARE_OF_PEAK:.0f} % of the machine's measured peak"
    if not paper:
        return TargetResult(name, threshold, "no data", "no data")
    best = max(paper, key=lambda e: (_share(e.measurement), _sort_key(e)))
    share = _share(best.measurement)
    assert share is not None
    return TargetResult(
        name=name,
        threshold=threshold,
        measured=f"{_percent(share)} ({best.measurement.runtime}, "
        f"{config_text(best.measurement.config)})",
        status=_verdict([share >= SHARE_OF_PEAK]),
        header=("runtime", "config", "GFLOP/s", "peak GFLOP/s", "share of peak"),
        rows=rows,
    )


def compute_targets(entries: list[Entry]) -> list[TargetResult]:
    measured = _with_p50(_timed(entries, "measured"))
    return [tflite_target(measured), formulation_target(measured), share_target(measured)]


# Plots


def _figure(columns: int) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, columns, figsize=(6 * columns, 4.2), squeeze=False)
    return figure, axes[0]


def _save(figure: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    figure.tight_layout()
    figure.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(figure)


def _line_label(measurement: Measurement, with_threads: bool) -> str:
    label = measurement.runtime
    precision = precision_of(measurement)
    if precision and precision not in label:
        label += f" {precision}"
    if with_threads:
        label += f" ({measurement.config.get('threads')} threads)"
    return label


def _plot_preset(axis: Any, entries: list[Entry], preset: str, with_threads: bool) -> None:
    """p50 against pixel count, one line per runtime label, ticks named by size."""
    from matplotlib.ticker import ScalarFormatter

    lines: dict[str, list[tuple[int, float, str]]] = defaultdict(list)
    for e in entries:
        config = e.measurement.config
        if str(config.get("preset", _MISSING)) == preset:
            point = (config["width"] * config["height"], _p50(e), _size(config) or "")
            lines[_line_label(e.measurement, with_threads)].append(point)
    for label in sorted(lines):
        points = sorted(lines[label])
        axis.plot([p[0] / 1e6 for p in points], [p[1] for p in points], "o-", label=label)
    ticks = sorted({(p[0], p[2]) for points in lines.values() for p in points})
    axis.set_xticks([t[0] / 1e6 for t in ticks], [t[1] for t in ticks])
    axis.set(title=f"preset: {preset}", xlabel="input size", ylabel="p50 latency (ms)")
    axis.set_yscale("log")
    axis.yaxis.set_major_formatter(ScalarFormatter())
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)


def plot_model_latency(entries: list[Entry], path: Path) -> bool:
    """Latency vs resolution, one panel per preset, one line per runtime and precision."""
    model = [e for e in _suite(entries, MODEL_SUITE) if _size(e.measurement.config)]
    if not model:
        return False
    presets = sorted({str(e.measurement.config.get("preset", _MISSING)) for e in model})
    with_threads = len({e.measurement.config.get("threads") for e in model}) > 1
    figure, axes = _figure(len(presets))
    for axis, preset in zip(axes, presets, strict=True):
        _plot_preset(axis, model, preset, with_threads)
    _save(figure, path)
    return True


def _engine(entry: Entry) -> str:
    return entry.measurement.runtime.split("-", 1)[0]


def _known_first(present: set[str], known: Sequence[str]) -> list[str]:
    return [name for name in known if name in present] + sorted(present - set(known))


def _plot_bars(
    axis: Any, entries: list[Entry], formulations: list[str], value: Callable[[Entry], float | None]
) -> None:
    """Side-by-side bars, one per formulation, in groups of (k, size)."""
    groups = sorted(
        {tuple(e.measurement.config[key] for key in ("k", "width", "height")) for e in entries}
    )
    width = 0.8 / len(formulations)
    for index, formulation in enumerate(formulations):
        offset = (index - (len(formulations) - 1) / 2) * width
        heights = []
        for k, w, h in groups:
            match = _at(entries, w, h, k=k, formulation=formulation)
            heights.append((value(match[0]) if match else None) or 0.0)
        axis.bar([g + offset for g in range(len(groups))], heights, width, label=formulation)
    axis.set_xticks(range(len(groups)), [f"k={k}\n{w}×{h}" for k, w, h in groups])
    axis.grid(axis="y", alpha=0.3)
    axis.legend(fontsize=8)


def plot_micro(entries: list[Entry], path: Path, metric: str) -> bool:
    """Bars per formulation for each (k, size), one panel per engine; p50 or op increment."""
    value = _p50 if metric == "time" else lambda e: rss_increment_mb(e.measurement)
    micro = [e for e in _suite(entries, MICRO_SUITE) if value(e) is not None]
    if not micro:
        return False
    engines = _known_first({_engine(e) for e in micro}, ENGINES)
    present = {str(e.measurement.config.get("formulation")) for e in micro}
    formulations = _known_first(present, FORMULATIONS)
    ylabel = "p50 latency (ms)" if metric == "time" else "op peak memory increment (MB)"
    figure, axes = _figure(len(engines))
    for axis, engine in zip(axes, engines, strict=True):
        _plot_bars(axis, [e for e in micro if _engine(e) == engine], formulations, value)
        axis.set(title=f"kernel_predict: {engine}", ylabel=ylabel)
    _save(figure, path)
    return True


def write_plots(measured: list[Entry], plots_dir: Path) -> list[str]:
    """Draw every plot that has data; remove stale ones that no longer do."""
    plots_dir.mkdir(parents=True, exist_ok=True)
    painters = {
        MODEL_PLOT: lambda path: plot_model_latency(measured, path),
        MICRO_TIME_PLOT: lambda path: plot_micro(measured, path, "time"),
        MICRO_MEMORY_PLOT: lambda path: plot_micro(measured, path, "memory"),
    }
    written = []
    for name, paint in painters.items():
        path = plots_dir / name
        if paint(path):
            written.append(name)
        else:
            path.unlink(missing_ok=True)
    return written


# Sections


def _relative(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path.resolve(), start.resolve())).as_posix()


def intro_section(files: Sequence[str], count: int, superseded: int, results: str) -> list[str]:
    listed = ", ".join(f"`{name}`" for name in files) or "none"
    replaced = f" ({superseded} superseded by later runs)" if superseded else ""
    return [
        "# dc2kit benchmark report",
        "",
        f"Generated by `python -m dc2kit.bench.report` from the result files in `{results}/` "
        f"({listed}): {count} configurations{replaced}. Do not edit by hand.",
        "",
        "How to read it: latencies are milliseconds over the timed runs that follow the warm-up "
        "runs; p50 is the median, p90 the 90th percentile, the trimmed mean the mean of the "
        "middle 80 %. Peak RSS is the whole process's peak. In the kernel-prediction suite each "
        "configuration runs in its own process and *op increment* is that peak less the RSS "
        "after allocating the inputs: the op's own memory, which the targets compare. "
        "GFLOP/s = 2 × GMAC / p50. *env* refers to the provenance section.",
    ]


def targets_section(targets: list[TargetResult]) -> list[str]:
    lines = [
        "",
        "## Targets",
        "",
        "Computed from the measured rows below (not from estimates).",
        "",
    ]
    lines += markdown_table(
        ("target", "threshold", "measured", "status"),
        ((t.name, t.threshold, t.measured, f"**{t.status}**") for t in targets),
    )
    for target in targets:
        if target.rows:
            lines += ["", f"### {target.name}", "", *markdown_table(target.header, target.rows)]
    return lines


def executor_legend(entries: Iterable[Entry]) -> list[str]:
    """What computes each runtime's rows (`config["executor"]`), where the rows say."""
    executors = sorted(
        {
            (e.measurement.runtime, str(e.measurement.config["executor"]))
            for e in entries
            if "executor" in e.measurement.config
        }
    )
    return (
        ["", *(f"- `{runtime}`: {executor}" for runtime, executor in executors)]
        if executors
        else []
    )


def suites_section(measured: list[Entry], plots: list[str], plots_link: str) -> list[str]:
    suites = sorted(
        {e.measurement.suite for e in measured},
        key=lambda s: (SUITE_ORDER.index(s) if s in SUITE_ORDER else len(SUITE_ORDER), s),
    )
    lines: list[str] = []
    for suite in suites:
        lines += ["", f"## Suite `{suite}` (measured)", ""]
        lines += entry_table(_suite(measured, suite), _MEASURED_COLUMNS)
        lines += executor_legend(_suite(measured, suite))
        names = {MODEL_SUITE: [MODEL_PLOT], MICRO_SUITE: [MICRO_TIME_PLOT, MICRO_MEMORY_PLOT]}
        for name in names.get(suite, []):
            if name in plots:
                lines += ["", f"![{name.removesuffix('.png')}]({plots_link}/{name})"]
    return lines


def phone_section(phone: list[Entry]) -> list[str]:
    if not phone:
        return []
    columns = (
        _RUNTIME,
        _CONFIG,
        *_TIMING_COLUMNS,
        ("mean ms", _timing("mean_ms")),
        ("peak RSS MB", lambda e: _number(e.measurement.peak_rss_mb)),
        ("notes", lambda e: "; ".join(e.measurement.notes) or None),
        ("env", lambda e: e.env),
    )
    lines = ["", "## Phone measurements", "", "Measured on the phones named in each row's env.", ""]
    return lines + entry_table(phone, columns)


def estimates_section(estimates: list[Entry]) -> list[str]:
    if not estimates:
        return []
    columns: tuple[Column, ...] = (
        ("label", lambda e: "estimate"),
        _RUNTIME,
        _CONFIG,
        ("estimated latency ms", _timing("p50_ms")),
        ("GMAC", lambda e: _number(e.measurement.gmac)),
        ("assumptions", lambda e: "; ".join(e.measurement.notes) or None),
    )
    lines = [
        "",
        "## Estimates (not measured)",
        "",
        "Every figure in this section is an **estimate** computed from MAC counts and the "
        "stated assumptions; none was measured on a device.",
        "",
    ]
    return lines + entry_table(estimates, columns)


def skipped_section(skipped: list[Entry]) -> list[str]:
    if not skipped:
        return []
    rows = (
        (
            e.measurement.suite,
            e.measurement.source,
            e.measurement.runtime,
            config_text(e.measurement.config),
            "; ".join(e.measurement.notes) or "no reason recorded",
        )
        for e in skipped
    )
    lines = ["", "## Skipped configurations", ""]
    return lines + markdown_table(("suite", "source", "runtime", "config", "reason"), rows)


_PROVENANCE_FIELDS = (
    ("git_commit", "commit"),
    ("dc2kit_version", "dc2kit"),
    ("cpu_model", "CPU"),
    ("cores", "cores"),
    ("os", "OS"),
)


def _join(values: Iterable[Any]) -> str:
    return ", ".join(sorted({str(v) for v in values if v is not None})) or _MISSING


def provenance_section(environments: dict[str, list[Entry]]) -> list[str]:
    lines = [
        "",
        "## Provenance",
        "",
        "Each *env* is one code version on one machine with one set of tools; its rows were "
        "measured on the dates and by the commands listed.",
    ]
    for name, entries in environments.items():
        first = entries[0].measurement.provenance
        known = {key for key, _ in _PROVENANCE_FIELDS} | {"tools", *_VOLATILE_PROVENANCE}
        items = [(label, first.get(key)) for key, label in _PROVENANCE_FIELDS if key in first]
        items += [(key, first[key]) for key in sorted(first) if key not in known]
        tools = first.get("tools") or {}
        items.append(("tools", ", ".join(f"{k} {v}" for k, v in sorted(tools.items())) or None))
        dates = sorted(str(e.measurement.provenance.get("date")) for e in entries)
        items += [
            ("threads", _join(e.measurement.provenance.get("threads") for e in entries)),
            ("dates", f"{dates[0]} … {dates[-1]}" if dates[0] != dates[-1] else dates[0]),
            ("suites", _join(e.measurement.suite for e in entries)),
            ("result files", _join(e.file for e in entries)),
            ("rows", len(entries)),
        ]
        commands = sorted({str(e.measurement.provenance.get("command")) for e in entries})
        lines += ["", f"### {name}", ""]
        lines += [f"- {label}: {_MISSING if value is None else value}" for label, value in items]
        lines += ["- commands:", *(f"  - `{command}`" for command in commands)]
    return lines


def render_report(
    entries: list[Entry],
    environments: dict[str, list[Entry]],
    *,
    files: Sequence[str],
    superseded: int,
    results_link: str,
    plots: list[str],
    plots_link: str,
) -> str:
    """The whole Markdown document, from already-loaded entries."""
    lines = intro_section(files, len(entries), superseded, results_link)
    lines += targets_section(compute_targets(entries))
    lines += suites_section(_timed(entries, "measured"), plots, plots_link)
    lines += phone_section(_timed(entries, "phone"))
    lines += estimates_section(_timed(entries, "estimate"))
    lines += skipped_section([e for e in entries if e.measurement.timings is None])
    lines += provenance_section(environments)
    return "\n".join(lines) + "\n"


def generate_report(
    results_dir: str | Path = "benchmarks/results",
    out: str | Path = "benchmarks/REPORT.md",
    plots_dir: str | Path = "benchmarks/plots",
) -> Path:
    """Rebuild `out` and the plots in `plots_dir` from every `*.jsonl` in `results_dir`."""
    results_dir, out, plots_dir = Path(results_dir), Path(out), Path(plots_dir)
    files = sorted(path.name for path in results_dir.glob("*.jsonl"))
    entries, superseded = load_entries(results_dir)
    entries, environments = assign_environments(entries)
    plots = write_plots(_with_p50(_timed(entries, "measured")), plots_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = render_report(
        entries,
        environments,
        files=files,
        superseded=superseded,
        results_link=_relative(results_dir, out.parent),
        plots=plots,
        plots_link=_relative(plots_dir, out.parent),
    )
    out.write_text(text)
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m dc2kit.bench.report", description="Regenerate benchmarks/REPORT.md."
    )
    parser.add_argument("--results", default="benchmarks/results")
    parser.add_argument("--out", default="benchmarks/REPORT.md")
    parser.add_argument("--plots", default="benchmarks/plots")
    args = parser.parse_args(argv)
    print(generate_report(args.results, args.out, args.plots))


if __name__ == "__main__":
    main()
