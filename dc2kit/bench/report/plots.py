"""The report's plots (matplotlib, imported only when drawing): latency against size per preset,
and the kernel-prediction formulations side by side."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from dc2kit.atomic import atomic_output
from dc2kit.bench.memory import rss_increment_mb
from dc2kit.bench.micro import ENGINES
from dc2kit.bench.micro import SUITE as MICRO_SUITE
from dc2kit.bench.report.load import (
    MISSING,
    MODEL_SUITE,
    Entry,
    at_size,
    engine_of,
    in_suite,
    p50_of,
    precision_of,
)
from dc2kit.bench.report.text import size_text
from dc2kit.bench.results import Measurement
from dc2kit.names import FORMULATIONS

MODEL_PLOT = "model_latency.png"
MICRO_TIME_PLOT = "kernel_predict_time.png"
MICRO_MEMORY_PLOT = "kernel_predict_memory.png"


def _figure(columns: int) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, columns, figsize=(6 * columns, 4.2), squeeze=False)
    return figure, axes[0]


def _save(figure: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    figure.tight_layout()
    with atomic_output(path) as temporary:
        figure.savefig(temporary, format="png", dpi=110, metadata={"Software": None})
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
        if str(config.get("preset", MISSING)) == preset:
            point = (config["width"] * config["height"], p50_of(e), size_text(config) or "")
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
    model = [e for e in in_suite(entries, MODEL_SUITE) if size_text(e.measurement.config)]
    if not model:
        return False
    presets = sorted({str(e.measurement.config.get("preset", MISSING)) for e in model})
    with_threads = len({e.measurement.config.get("threads") for e in model}) > 1
    figure, axes = _figure(len(presets))
    for axis, preset in zip(axes, presets, strict=True):
        _plot_preset(axis, model, preset, with_threads)
    _save(figure, path)
    return True


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
            match = at_size(entries, w, h, k=k, formulation=formulation)
            heights.append((value(match[0]) if match else None) or 0.0)
        axis.bar([g + offset for g in range(len(groups))], heights, width, label=formulation)
    axis.set_xticks(range(len(groups)), [f"k={k}\n{w}×{h}" for k, w, h in groups])
    axis.grid(axis="y", alpha=0.3)
    axis.legend(fontsize=8)


def plot_micro(entries: list[Entry], path: Path, metric: str) -> bool:
    """Bars per formulation for each (k, size), one panel per engine; p50 or op increment."""
    value = p50_of if metric == "time" else lambda e: rss_increment_mb(e.measurement)
    micro = [e for e in in_suite(entries, MICRO_SUITE) if value(e) is not None]
    if not micro:
        return False
    engines = _known_first({engine_of(e) for e in micro}, ENGINES)
    present = {str(e.measurement.config.get("formulation")) for e in micro}
    formulations = _known_first(present, FORMULATIONS)
    ylabel = "p50 latency (ms)" if metric == "time" else "op peak memory increment (MB)"
    figure, axes = _figure(len(engines))
    for axis, engine in zip(axes, engines, strict=True):
        _plot_bars(axis, [e for e in micro if engine_of(e) == engine], formulations, value)
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
