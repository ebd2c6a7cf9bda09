"""`benchmarks/quality/`: the quality report (Markdown table, goals, figure, JSON results)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import torch

from dc2kit.atomic import atomic_output, write_atomically
from dc2kit.model import DC2Net
from dc2kit.train.data import Batch
from dc2kit.train.evaluate import EVALUATION_TASKS, METHOD_LABELS, Scores, _to_uint8

TASK_LABELS = {
    "refocus_near_far": "refocus near → far",
    "refocus_far_near": "refocus far → near",
    "all_in_focus": "all-in-focus",
    "shallow": "shallow depth of field",
}
# (task, baseline, least margin in dB on the blurred region, or on the whole image if W is sharp)
GOALS = (
    ("all_in_focus", "classical", 3.0),
    ("all_in_focus", "single_camera", 1.5),
    ("refocus_far_near", "classical", 3.0),
    ("refocus_far_near", "single_camera", 1.5),
    ("shallow", "classical", -0.5),
)
SHIPPED_GOALS = (("all_in_focus", "classical", 1.5), ("all_in_focus", "single_camera", 1.0))


def _region_psnr(scores: Scores) -> float:
    return scores.psnr_blurred if scores.psnr_blurred is not None else scores.psnr


def goal_rows(results: dict[str, dict[str, Scores]], goals=GOALS) -> list[dict]:
    rows = []
    for task, baseline, margin in goals:
        gain = _region_psnr(results[task]["model"]) - _region_psnr(results[task][baseline])
        rows.append(
            {"task": task, "baseline": baseline, "goal_db": margin, "gain_db": round(gain, 2)}
        )
    return rows


def _cell(value: float | None, digits: int) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def markdown(results: dict[str, dict[str, Scores]], provenance: dict) -> str:
    lines = [
        "# DC² quality on the held-out synthetic suite",
        "",
        f"Checkpoint `{provenance['checkpoint']}` (sha256 `{provenance['sha256'][:16]}`), "
        f"{provenance['scenes']} scenes per task at {provenance['crop']}×{provenance['crop']}, "
        f"evaluation seeds (never drawn in training); dc2kit {provenance['commit']}, "
        f"{provenance['date']}. Written by `dc2kit evaluate`.",
        "",
        "PSNR (dB) and SSIM on 8-bit images; *blurred* = the region where W's own blur radius "
        "is ≥ 1 px (— where W is sharp). Classical = dc2kit's layered bokeh renderer applied "
        "to W, which can only add blur. Ablation = the model with W standing in for UW.",
        "",
        "| task | method | PSNR | SSIM | PSNR blurred | SSIM blurred |",
        "|---|---|---|---|---|---|",
    ]
    for task in EVALUATION_TASKS:
        for name, label in METHOD_LABELS.items():
            s = results[task][name]
            lines.append(
                f"| {TASK_LABELS[task]} | {label} | {s.psnr:.2f} | {s.ssim:.4f} | "
                f"{_cell(s.psnr_blurred, 2)} | {_cell(s.ssim_blurred, 4)} |"
            )
    lines += ["", "## Goals (model minus baseline, PSNR on the blurred region)", ""]
    lines += ["| task | baseline | goal | measured | met |", "|---|---|---|---|---|"]
    for kind, goals in (("issue goal", GOALS), ("shipped-weights floor", SHIPPED_GOALS)):
        for row in goal_rows(results, goals):
            met = "yes" if row["gain_db"] >= row["goal_db"] else "**no**"
            lines.append(
                f"| {TASK_LABELS[row['task']]} | {METHOD_LABELS[row['baseline']]} ({kind}) | "
                f"≥ {row['goal_db']:+.1f} dB | {row['gain_db']:+.2f} dB | {met} |"
            )
    lines += ["", "![examples](examples.png)", ""]
    return "\n".join(lines)


def example_figure(model: DC2Net, examples: dict[str, Batch], path: Path) -> None:
    """One row per task: W, UW, target, classical, model, ablation, UW blending weight."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dc2kit.train.evaluate import METHODS

    titles = ("W", "UW (aligned)", "target", "classical", "model", "ablation", "UW weight")
    figure, axes = plt.subplots(len(examples), len(titles), figsize=(2.2 * len(titles), 9.5))
    for row, (task, batch) in enumerate(examples.items()):
        with torch.inference_mode():
            mask = model(*batch.inputs()).scales[-1].mask_uw[0, 0].numpy()
        panels = [
            _to_uint8(batch.w)[0],
            _to_uint8(batch.uw)[0],
            _to_uint8(batch.target)[0],
            METHODS["classical"](batch, model)[0],
            METHODS["model"](batch, model)[0],
            METHODS["single_camera"](batch, model)[0],
        ]
        for col, panel in enumerate([*panels, mask]):
            axis = axes[row, col]
            axis.imshow(panel, cmap="magma", vmin=0, vmax=1) if col == 6 else axis.imshow(panel)
            axis.set_xticks([])
            axis.set_yticks([])
            if row == 0:
                axis.set_title(titles[col], fontsize=9)
            if col == 0:
                axis.set_ylabel(TASK_LABELS[task], fontsize=9)
    figure.tight_layout()
    with atomic_output(path) as temporary:
        figure.savefig(temporary, dpi=80, format="png")
    plt.close(figure)


def write_quality_report(
    folder: Path,
    model: DC2Net,
    results: dict[str, dict[str, Scores]],
    examples: dict[str, Batch],
    provenance: dict,
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    payload = {
        "provenance": provenance,
        "results": {t: {m: asdict(s) for m, s in r.items()} for t, r in results.items()},
        "goals": goal_rows(results),
        "shipped_goals": goal_rows(results, SHIPPED_GOALS),
    }
    write_atomically(folder / "quality.json", (json.dumps(payload, indent=2) + "\n").encode())
    example_figure(model, examples, folder / "examples.png")
    report = folder / "REPORT.md"
    write_atomically(report, (markdown(results, provenance) + "\n").encode())
    return report
