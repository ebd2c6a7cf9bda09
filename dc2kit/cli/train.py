"""`dc2kit train` and `dc2kit evaluate`: teach DC2Net on synthetic dual-camera data, and measure
it against the classical renderer and the single-camera ablation."""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from pathlib import Path

from dc2kit.cli.common import (
    add_command,
    add_json,
    errors,
    float_range,
    int_range,
    keywords_for,
    output_file,
    print_result,
)
from dc2kit.cli.weights import add_weights_arguments, resolved_weights
from dc2kit.names import PRESET_NAMES, TRAIN_PRECISIONS

QUALITY_FOLDER = Path("benchmarks") / "quality"


def cmd_train(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from dc2kit.train.trainer import TrainConfig, Trainer

    warmup = min(args.warmup, args.steps)
    config = TrainConfig(**keywords_for(TrainConfig, args, warmup_steps=warmup))
    started = time.perf_counter()
    trainer = Trainer(config, args.out, resume=args.resume)
    history: list[dict] = []
    bar = (
        None
        if args.json
        else tqdm(
            total=config.steps,
            initial=trainer.state.step,
            desc="training",
            unit="step",
            file=errors.file,
            dynamic_ncols=True,
        )
    )
    last_psnr: list[float] = []

    def report(event) -> None:
        if event.kind == "validation":
            last_psnr[:] = [event.validation_psnr]
            history.append({"step": event.step, "validation_psnr": round(event.validation_psnr, 3)})
        if bar is None:
            return
        if event.kind == "step":
            bar.update(1)
            postfix = {"loss": f"{event.loss:.4f}", "samples/s": f"{event.samples_per_second:.1f}"}
            if last_psnr:
                postfix["val PSNR"] = f"{last_psnr[0]:.2f} dB"
            bar.set_postfix(postfix)

    try:
        state = trainer.train(report)
    finally:
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - started
    result = {
        "checkpoint": str(args.out),
        "steps": state.step,
        "last_loss": state.last_loss,
        "validation": history,
        "seconds": round(seconds, 1),
        "config": trainer.facts()["train_config"],
    }
    psnr = f", validation PSNR {history[-1]['validation_psnr']:.2f} dB" if history else ""
    return print_result(
        args,
        result,
        [
            f"trained {config.preset} to step {state.step} in {seconds:.0f} s "
            f"(last loss {state.last_loss}{psnr}); checkpoint {args.out}"
        ],
    )


def cmd_evaluate(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from dc2kit.convert.manifest import git_commit
    from dc2kit.model.builder import build_dc2
    from dc2kit.train.evaluate import evaluate
    from dc2kit.train.quality_report import goal_rows, write_quality_report

    choice, origin = resolved_weights(args)
    model, origin = build_dc2(args.preset, (args.crop, args.crop), weights=choice)
    errors.print(f"evaluating {origin.label} on {args.scenes} scenes per task …", highlight=False)
    started = time.perf_counter()
    results, examples = evaluate(model, scenes=args.scenes, crop=args.crop)
    provenance = {
        "checkpoint": origin.label,
        "sha256": origin.sha256 or "none (random weights)",
        "scenes": args.scenes,
        "crop": args.crop,
        "commit": git_commit(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - started, 1),
    }
    report = write_quality_report(args.report, model, results, examples, provenance)
    goals = goal_rows(results)
    payload = {
        "report": str(report),
        "weights": origin.to_dict(),
        "results": {
            t: {m: vars(s) for m, s in by_method.items()} for t, by_method in results.items()
        },
        "goals": goals,
    }
    return print_result(args, payload, _evaluation_lines(results, goals, report))


def _evaluation_lines(results: dict, goals: list[dict], report: Path) -> Iterator[str]:
    """Each task's PSNR per method, each goal met or not, and where the report is."""
    from dc2kit.train.evaluate import EVALUATION_TASKS, METHOD_LABELS

    for task in EVALUATION_TASKS:
        cells = ", ".join(
            f"{METHOD_LABELS[m]} {s.psnr:.2f}"
            + (f" ({s.psnr_blurred:.2f} blurred)" if s.psnr_blurred is not None else "")
            for m, s in results[task].items()
        )
        yield f"  {task}: {cells} dB"
    for row in goals:
        met = "met" if row["gain_db"] >= row["goal_db"] else "NOT met"
        yield (
            f"  goal {row['task']} vs {row['baseline']}: {row['gain_db']:+.2f} dB "
            f"(goal ≥ {row['goal_db']:+.1f}) {met}"
        )
    yield f"report: {report}"


def register(commands: argparse._SubParsersAction) -> None:
    train = add_command(commands, "train", "train DC2Net on synthetic dual-camera data")
    train.add_argument("--preset", choices=PRESET_NAMES, default="mobile")
    train.add_argument("--steps", type=int_range(1, 10_000_000), required=True)
    train.add_argument("--crop", type=int_range(32, 512), default=128, help="square crop, px")
    train.add_argument("--batch", type=int_range(1, 1024), default=8)
    train.add_argument(
        "--lr",
        dest="learning_rate",
        metavar="LR",
        type=float_range(0, 1, low_open=True),
        default=1e-3,
    )
    train.add_argument("--warmup", type=int_range(1, 1_000_000), default=100, help="steps")
    train.add_argument("--seed", type=int_range(0, 2**32 - 1), default=0)
    train.add_argument("--validate-every", type=int_range(1, 1_000_000), default=250)
    train.add_argument("--validation-batches", type=int_range(1, 1000), default=4)
    train.add_argument("--checkpoint-every", type=int_range(1, 1_000_000), default=250)
    train.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    train.add_argument("--threads", type=int_range(1, 256), default=2, help="CPU threads")
    train.add_argument(
        "--precision",
        choices=TRAIN_PRECISIONS,
        default="auto",
        help="bf16 autocast of the forward pass; auto: where the hardware has native bf16",
    )
    train.add_argument("--images", help="a folder of your own photos to texture scenes with")
    train.add_argument("--init-drbnet", help="start both refiners from a published DRBNet .pth")
    train.add_argument(
        "--init-from",
        help="start from a dc2kit checkpoint of an earlier architecture (same widths; inputs it "
        "lacked start on zero weights, so the network first computes what it computed)",
    )
    train.add_argument("--resume", help="continue from a training checkpoint of this run")
    train.add_argument("--out", type=output_file(".safetensors"), required=True)
    add_json(train)
    train.set_defaults(run=cmd_train)

    evaluate = add_command(commands, "evaluate", "quality report on held-out synthetic scenes")
    add_weights_arguments(evaluate)
    evaluate.add_argument("--scenes", type=int_range(1, 10_000), default=32, help="per task")
    evaluate.add_argument("--crop", type=int_range(32, 512), default=128)
    evaluate.add_argument("--report", type=Path, default=QUALITY_FOLDER, help="output folder")
    add_json(evaluate)
    evaluate.set_defaults(run=cmd_evaluate)
