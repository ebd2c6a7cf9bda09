"""Benchmark suites (benchmarks/suites.json): the model grid, the kernel-prediction grid, and the
phone estimates, appended as JSON lines to a results folder the report is generated from."""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dc2kit.bench.errors import BenchError
from dc2kit.bench.estimate import estimate_measurements
from dc2kit.bench.harness import run_benchmarks
from dc2kit.bench.micro import run_micro
from dc2kit.bench.results import append_results

if TYPE_CHECKING:
    from dc2kit.model.builder import WeightsChoice

SUITES_FILE = Path(__file__).resolve().parents[2] / "benchmarks" / "suites.json"
Progress = Callable[[str], None]
# Sections with the whole network's grid: `model` (the presets at the sizes compared across
# runtimes), `memory` (the mobile preset at its design size, default vs low-memory runtimes) and
# `w8a8` (full-integer against fp32, mobile at 512x384).
MODEL_SECTIONS = ("model", "memory", "w8a8")


def parse_size(text: str) -> tuple[int, int]:
    """'512x384' (width x height, as suites write sizes) → (height, width)."""
    width, height = text.lower().split("x")
    return int(height), int(width)


def load_suite(name: str, path: str | Path = SUITES_FILE) -> dict[str, Any]:
    suites = json.loads(Path(path).read_text())
    if name not in suites:
        raise BenchError(f"{path}: no suite {name!r}; choose from {sorted(suites)}")
    return suites[name]


def weights_for_preset(
    grid: dict[str, Any], preset: str, weights: WeightsChoice | None
) -> WeightsChoice | None:
    """The caller's weights for `preset`'s rows, except that a preset the section lists under
    `random_weights` (none shipped for it) is timed with seeded random weights instead of the
    shipped ones it lacks: latency does not depend on the values, and every row says RANDOM."""
    from dc2kit.model.builder import WeightsChoice

    asked_shipped = weights is None or weights.kind == "shipped"
    if asked_shipped and preset in grid.get("random_weights", ()):
        return WeightsChoice.random()
    return weights


def _run_model_grid(
    grid: dict[str, Any],
    work_dir: Path,
    progress: Progress,
    weights: WeightsChoice | None,
    save: Callable[[str, list], None],
) -> None:
    """Runtimes x presets x sizes of the whole network, and the phone estimates of each."""
    for preset in grid["presets"]:
        preset_weights = weights_for_preset(grid, preset, weights)
        untrained = preset_weights is not None and preset_weights.kind == "random"
        for size in grid["sizes"]:
            label = f"model {preset} {size}" + (" (RANDOM weights)" if untrained else "")
            progress(label)
            save(
                "model.jsonl",
                run_benchmarks(
                    preset,
                    parse_size(size),
                    grid["runtimes"],
                    grid["threads"] or os.cpu_count() or 1,
                    runs=grid["runs"],
                    seconds=grid["seconds"],
                    warmup=grid["warmup"],
                    work_dir=work_dir,
                    formulation=grid["formulation"],
                    weights=preset_weights,
                    progress=lambda p, label=label: progress(f"{label}: {p.runtime} {p.stage}"),
                ),
            )
            for precision in ("fp16", "int8"):
                save("estimates.jsonl", estimate_measurements(preset, *parse_size(size), precision))


def run_suite(
    name: str,
    results_dir: Path,
    work_dir: Path,
    progress: Progress = lambda _: None,
    weights: WeightsChoice | None = None,
    sections: Sequence[str] | None = None,
) -> dict[str, int]:
    """Run every section of suite `name` (or those `sections` name), model rows with `weights`
    (by default the shipped ones); returns the number of results written per file."""
    suite = load_suite(name)
    unknown = sorted(set(sections or ()) - set(suite))
    if unknown:
        raise BenchError(f"suite {name!r} has no section {unknown}; it has {sorted(suite)}")
    suite = {key: value for key, value in suite.items() if not sections or key in sections}
    results_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, int] = {}

    def save(file: str, measurements: list) -> None:
        append_results(results_dir / file, measurements)
        written[file] = written.get(file, 0) + len(measurements)

    for section in MODEL_SECTIONS:
        if section in suite:
            _run_model_grid(suite[section], work_dir, progress, weights, save)
    micro = suite.get("kernel_predict")
    if micro:
        save(
            "kernel_predict.jsonl",
            run_micro(
                [parse_size(size) for size in micro["sizes"]],
                micro["ks"],
                micro["formulations"],
                micro["engines"],
                micro["runs"],
                micro["seconds"],
                work_dir,
                progress=progress,
                warmup=micro["warmup"],
                threads=micro["threads"],
            ),
        )
    training = suite.get("training")
    if training:
        from dc2kit.bench.training import measure_training

        for threads, precision in itertools.product(training["threads"], training["precisions"]):
            progress(
                f"training {training['preset']} crop {training['crop']}, {threads} threads, "
                f"{precision}"
            )
            save(
                "training.jsonl",
                measure_training(
                    training["preset"],
                    training["crop"],
                    training["batch"],
                    threads,
                    training["steps"],
                    precision,
                ),
            )
    return written
