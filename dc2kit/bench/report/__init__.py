"""Regenerate benchmarks/REPORT.md and its plots from the committed result files, and nothing else.

The report measures nothing: every number comes from the `*.jsonl` files of `results_dir`
(schema: `dc2kit.bench.results`), so anyone can rebuild it and see where each figure came from.
Conventions it relies on:

- a measurement with `timings=None` is a skipped configuration; its `notes` give the reason;
- `source="estimate"` rows are formulas, not measurements: they get their own section, are labelled
  "estimate" on every row, and their assumptions (`notes` after the first) are listed once per
  device;
- `source="phone"` rows get their own section and never count towards the targets;
- rows measured while the machine was busy (their load averages, `report.load`) are flagged in
  their table and left out of the targets;
- share of peak is shown for fp32 rows only (the peak probe is an fp32 matmul);
- where one configuration (suite, runtime, source, config) was measured more than once, the latest
  by provenance date wins and the report says how many rows were superseded.

Modules: `load` (result files → entries, selections), `targets`, `plots`, `text` (numbers and
tables), `sections` and `estimates` (the Markdown).

Output is deterministic: rows are sorted, no clock is read, so an unchanged input gives a
byte-identical REPORT.md.
"""

from __future__ import annotations

import os
from pathlib import Path

from dc2kit.atomic import write_atomically
from dc2kit.bench.report.load import assign_environments, load_entries, timed, with_p50
from dc2kit.bench.report.plots import write_plots
from dc2kit.bench.report.sections import render_report


def _relative(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path.resolve(), start.resolve())).as_posix()


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
    plots = write_plots(with_p50(timed(entries, "measured")), plots_dir)
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
    write_atomically(out, text.encode())
    return out
