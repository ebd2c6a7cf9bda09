"""The `dc2kit` command. The only module that knows the command line."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from dc2kit import __version__
from dc2kit.bench.estimate import ACCELERATORS, estimate_latency
from dc2kit.capture.errors import CaptureError
from dc2kit.model import PRESETS, DC2Config, DC2Net, ModelError, load_dc2, preset_config
from dc2kit.model.summary import model_costs
from dc2kit.model.synthetic import synthetic_scene

console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)


def parse_size(text: str) -> tuple[int, int]:
    """'WxH' → (height, width)."""
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"size must look like 512x384 (WxH), got {text!r}"
        ) from None
    return height, width


def _emit_json(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload, indent=2) + "\n")


# --- info ----------------------------------------------------------------------------------------
def cmd_info(args: argparse.Namespace) -> int:
    config = preset_config(args.preset, *args.size)
    costs = model_costs(config)
    estimates = [estimate_latency(costs["total"].macs, acc) for acc in ACCELERATORS]
    if args.json:
        _emit_json(
            {
                "preset": args.preset,
                "size": {"width": config.width, "height": config.height},
                "config": json.loads(config.to_json()),
                "modules": {
                    name: {
                        "params": cost.params,
                        "gmac": cost.macs / 1e9,
                        "conv_gmac": cost.conv_macs / 1e9,
                        "kernel_predict_gmac": cost.kernel_predict_macs / 1e9,
                    }
                    for name, cost in costs.items()
                },
                "estimates": [
                    {
                        "device": e.device,
                        "latency_ms": round(e.latency_ms, 2),
                        "label": e.label,
                        "assumptions": list(e.assumptions),
                    }
                    for e in estimates
                ],
            }
        )
        return 0
    table = Table(title=f"DC2Net {args.preset} at {config.width}x{config.height}")
    for column in ("module", "params", "GMAC", "of which kernel-predict"):
        table.add_column(column, justify="left" if column == "module" else "right")
    for name, cost in costs.items():
        table.add_row(
            name,
            f"{cost.params:,}",
            f"{cost.macs / 1e9:.2f}",
            f"{cost.kernel_predict_macs / 1e9:.3f}",
        )
    console.print(table)
    for e in estimates:
        console.print(f"[bold]estimate[/bold] {e.device}: {e.latency_ms:.1f} ms")
    console.print("estimate assumptions:")
    for assumption in estimates[0].assumptions[1:]:
        console.print(f"  - {assumption}")
    for e in estimates:
        console.print(f"  - {e.device}: {e.assumptions[0]}")
    return 0


# --- forward -------------------------------------------------------------------------------------
def _build_model(args: argparse.Namespace) -> DC2Net:
    if args.checkpoint:
        return load_dc2(args.checkpoint, size=args.size)
    torch.manual_seed(args.seed)
    config: DC2Config = preset_config(args.preset, *args.size, formulation=args.formulation)
    return DC2Net(config).eval()


def cmd_forward(args: argparse.Namespace) -> int:
    model = _build_model(args)
    config = model.config
    inputs = synthetic_scene(config.height, config.width, batch=args.batch, seed=args.seed)
    timings: list[float] = []
    with torch.inference_mode(), Progress(console=errors, transient=True) as progress:
        task = progress.add_task("forward passes", total=args.runs + 1)
        for _ in range(args.runs + 1):
            start = time.perf_counter()
            output = model(*inputs)
            timings.append(time.perf_counter() - start)
            progress.advance(task)
    first, steady = timings[0], timings[1:]
    shapes = {
        "image": list(output.image.shape),
        "scales": [
            {"factor": f, **{k: list(v.shape) for k, v in s._asdict().items()}}
            for f, s in zip((8, 4, 2, 1), output.scales, strict=True)
        ],
    }
    result = {
        "preset": config.preset,
        "size": {"width": config.width, "height": config.height},
        "batch": args.batch,
        "formulation": config.formulation,
        "threads": torch.get_num_threads(),
        "outputs": shapes,
        "image_range": [float(output.image.min()), float(output.image.max())],
        "timing_ms": {
            "first": round(first * 1e3, 2),
            "mean": round(sum(steady) / len(steady) * 1e3, 2),
            "min": round(min(steady) * 1e3, 2),
            "runs": len(steady),
        },
    }
    if args.json:
        _emit_json(result)
        return 0
    console.print(
        f"DC2Net {config.preset} forward on a synthetic {config.width}x{config.height} scene, "
        f"batch {args.batch}, {result['threads']} threads, formulation {config.formulation}"
    )
    console.print(f"  image: {tuple(output.image.shape)}")
    for scale in shapes["scales"]:
        parts = ", ".join(f"{k} {tuple(v)}" for k, v in scale.items() if k != "factor")
        console.print(f"  1/{scale['factor']}: {parts}")
    timing = result["timing_ms"]
    console.print(
        f"  time: first {timing['first']:.1f} ms, then mean {timing['mean']:.1f} ms "
        f"(min {timing['min']:.1f}) over {timing['runs']} runs"
    )
    return 0


# --- parser --------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dc2kit", description=__doc__)
    parser.add_argument("--version", action="version", version=f"dc2kit {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    info = commands.add_parser("info", help="parameters, GMAC per module and phone estimates")
    info.add_argument("--preset", choices=sorted(PRESETS), default="mobile")
    info.add_argument("--size", type=parse_size, default=(768, 1024), help="WxH (default 1024x768)")
    info.add_argument("--json", action="store_true", help="machine-readable output")
    info.set_defaults(run=cmd_info)

    forward = commands.add_parser("forward", help="time a forward pass on a synthetic scene")
    forward.add_argument("--preset", choices=sorted(PRESETS), default="mobile")
    forward.add_argument(
        "--size", type=parse_size, default=(384, 512), help="WxH (default 512x384)"
    )
    forward.add_argument("--checkpoint", help="a dc2kit .safetensors checkpoint (else random init)")
    forward.add_argument("--formulation", choices=("shift", "im2col", "reference"), default="shift")
    forward.add_argument("--batch", type=int, default=1)
    forward.add_argument("--runs", type=int, default=3, help="timed runs after the first")
    forward.add_argument("--seed", type=int, default=0)
    forward.add_argument("--json", action="store_true", help="machine-readable output")
    forward.set_defaults(run=cmd_forward)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except (ModelError, CaptureError) as error:
        errors.print(f"dc2kit: error: {error}", markup=False, highlight=False)
        return 1


if __name__ == "__main__":
    sys.exit(main())
