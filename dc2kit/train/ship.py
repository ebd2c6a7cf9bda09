"""Turn a training checkpoint into shipped weights: the weights and the training facts only
(no optimizer state), and a model card beside them written from those facts and the quality
report, so the card can never disagree with the file it describes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from dc2kit.atomic import atomic_output, write_atomically
from dc2kit.model import load_dc2
from dc2kit.model.dc2_io import read_dc2_metadata, save_dc2
from dc2kit.train.data import TARGET_BLUR_RANGE, TASK_WEIGHTS, TASKS, W_BLUR_RANGE
from dc2kit.train.errors import TrainError


def ship_weights(checkpoint: Path, out: Path, quality: Path | None = None) -> Path:
    """Write `out` (weights + facts) and `out` with suffix .md (the model card)."""
    metadata = read_dc2_metadata(checkpoint)
    if "training" not in metadata:
        raise TrainError(f"{checkpoint}: no training facts to ship")
    with atomic_output(out) as temporary:
        save_dc2(load_dc2(checkpoint), temporary, metadata={"training": metadata["training"]})
    return write_model_card(out, quality)


def write_model_card(weights: Path, quality: Path | None = None) -> Path:
    """(Re)write the card beside shipped `weights` without rewriting them: safetensors orders
    header metadata differently on each save, so a re-save would change the sha256 that the
    quality report quotes."""
    facts = json.loads(read_dc2_metadata(weights)["training"])
    sha = hashlib.sha256(weights.read_bytes()).hexdigest()
    preset = load_dc2(weights).config.preset
    card = model_card(facts, preset, sha, weights.stat().st_size, quality)
    card_path = weights.with_suffix(".md")
    write_atomically(card_path, card.encode())
    return card_path


def _quality_lines(quality: Path | None) -> list[str]:
    if quality is None or not quality.exists():
        return ["No quality report was given."]
    payload = json.loads(quality.read_text())
    lines = ["| task | baseline | goal | measured |", "|---|---|---|---|"]
    for row in payload["goals"] + payload["shipped_goals"]:
        lines.append(
            f"| {row['task']} | {row['baseline']} | ≥ {row['goal_db']:+.1f} dB | "
            f"{row['gain_db']:+.2f} dB |"
        )
    return lines


def _stopped_early(facts: dict) -> str:
    planned = facts["train_config"]["steps"]
    if facts["step"] >= planned:
        return ""
    return f"stopped at step {facts['step']} of a {planned}-step schedule; "


def _initialised_from(facts: dict) -> list[str]:
    """The card's line for a run that started from an earlier checkpoint (`--init-from`)."""
    earlier = facts.get("initialised_from")
    if not earlier:
        return []
    hours = (earlier.get("wall_seconds") or 0) / 3600
    return [
        f"- started from `{earlier['file']}` (sha256 `{earlier['sha256'][:12]}…`: "
        f"{earlier.get('steps')} steps, {hours:.2f} h, `{earlier.get('data_generator')}`), an "
        "earlier architecture loaded by `init_from_dc2` (equal tensors copied, new conv inputs "
        "on zero weights); the steps, wall time and curve below are this run's"
    ]


def model_card(facts: dict, preset: str, sha256: str, size: int, quality: Path | None) -> str:
    config = facts["train_config"]
    validation = facts.get("validation", [])
    curve = ", ".join(f"{v['step']}: {v['psnr']:.2f}" for v in validation) or "none"
    hardware = facts.get("hardware", {})
    tasks = ", ".join(f"{t} {w:.0%}" for t, w in zip(TASKS, TASK_WEIGHTS, strict=True))
    return "\n".join(
        [
            f"# dc2_mobile: DC² `{preset}` preset, trained by dc2kit",
            "",
            f"- file: `dc2_mobile.safetensors`, {size:,} bytes, sha256 `{sha256}`",
            f"- data: `{facts['data_generator']}` (dc2kit/train), seed {config['seed']}, "
            f"{config['crop']}×{config['crop']} crops, batch {config['batch']}; tasks {tasks}; "
            f"W blur {W_BLUR_RANGE[0]:g}–{W_BLUR_RANGE[1]:g} px, target blur "
            f"{TARGET_BLUR_RANGE[0]:g}–{TARGET_BLUR_RANGE[1]:g} px across the scene's range",
            f"- training: {facts['step']} steps of Adam (lr {config['learning_rate']:g}, "
            f"warm-up {config['warmup_steps']}, cosine to {config['final_learning_rate']:g}), "
            f"{_stopped_early(facts)}"
            f"loss L1 on the image + 0.5 × L1 per scale; {facts['wall_seconds'] / 3600:.2f} h "
            f"wall on {hardware.get('device')} ({hardware.get('processor')}, "
            f"{hardware.get('threads')} threads), {facts.get('precision', 'fp32')}, "
            f"torch {facts.get('torch')}",
            *_initialised_from(facts),
            f"- validation PSNR (dB, fixed validation stream) by step: {curve}",
            "",
            "## Quality (model minus baseline, PSNR on the region W had blurred)",
            "",
            *_quality_lines(quality),
            "",
            "Full tables and examples: `benchmarks/quality/REPORT.md`.",
            "",
            "## Known limits",
            "",
            f"- Trained for {facts['step']} steps on {hardware.get('device')} "
            f"({hardware.get('threads')} threads), shared with other work: an early checkpoint, "
            "not a converged model. Where the table says a goal is missed, the classical "
            "renderer is the better choice today.",
            "- Synthetic training data only (procedural layered scenes); real photos differ in "
            "noise, colour and depth errors.",
            "- The mobile refiners are 8–32 channels wide and build a large blur from 5×5 "
            "kernels over four scales: adding shallow depth of field to a sharp W is the task "
            "where the classical renderer, which has the depth, does best (see the table).",
            "",
        ]
    )
