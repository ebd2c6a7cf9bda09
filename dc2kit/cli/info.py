"""`dc2kit info` (parameters, GMAC, phone estimates) and `dc2kit forward` (a timed forward pass)."""

from __future__ import annotations

import argparse
import json
import time

from dc2kit.cli.common import (
    add_command,
    add_json,
    console,
    emit_json,
    int_range,
    model_size,
)
from dc2kit.cli.quiet import progress_bar
from dc2kit.cli.weights import add_weights_arguments, resolved_weights
from dc2kit.names import FORMULATIONS, PRESET_NAMES


def cmd_info(args: argparse.Namespace) -> int:
    from rich.table import Table

    from dc2kit.bench.estimate import ACCELERATORS, model_traffic, roofline_estimate
    from dc2kit.bench.footprint import MIB, indirection_cost
    from dc2kit.convert.targets import DEFAULT_FORMULATION
    from dc2kit.model import preset_config
    from dc2kit.model.summary import model_costs

    config = preset_config(args.preset, *args.size)
    costs = model_costs(config)
    traffic = model_traffic(config)
    estimates = [roofline_estimate(costs["total"].macs, traffic, acc) for acc in ACCELERATORS]
    indirection = indirection_cost(config)
    if args.json:
        emit_json(
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
                "memory": {
                    "weights_fp32_mib": round(costs["total"].params * 4 / MIB, 2),
                    "xnnpack_indirection_mib": round(indirection.total_bytes / MIB, 2),
                    "xnnpack_indirection_transient_mib": round(indirection.largest_bytes / MIB, 2),
                    "indirection_convolutions": indirection.convolutions,
                    "indirection_formulation": DEFAULT_FORMULATION,  # as export lowers it
                },
                "estimates": [
                    {
                        "device": e.device,
                        "label": e.label,
                        "latency_ms": round(e.latency_ms, 2),
                        "compute_ms": round(e.compute_ms, 2),
                        "memory_ms": round(e.memory_ms, 2),
                        "bound": e.bound,
                        "gb_moved": round(e.bytes_moved / 1e9, 3),
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
    console.print(
        f"[bold]memory estimate[/bold] weights {costs['total'].params * 4 / MIB:.1f} MiB fp32; "
        "on XNNPACK (LiteRT CPU), besides activations:"
    )
    for line in indirection.describe():
        console.print(f"  - {line}", highlight=False)
    for e in estimates:
        console.print(
            f"[bold]estimate[/bold] {e.device}: {e.latency_ms:.1f} ms ({e.bound}-bound: compute "
            f"{e.compute_ms:.1f} ms, memory {e.memory_ms:.1f} ms for {e.bytes_moved / 1e9:.2f} GB)"
        )
    console.print("estimate assumptions:")
    for e in estimates:
        for assumption in e.assumptions:
            if e is estimates[0] or assumption not in estimates[0].assumptions:
                console.print(f"  - {assumption}", highlight=False)
    return 0


def cmd_forward(args: argparse.Namespace) -> int:
    import torch

    from dc2kit.model.builder import build_dc2
    from dc2kit.model.synthetic import synthetic_scene

    choice, _ = resolved_weights(args)
    model, origin = build_dc2(args.preset, args.size, weights=choice, formulation=args.formulation)
    config = model.config
    inputs = synthetic_scene(config.height, config.width, batch=args.batch, seed=args.seed or 0)
    timings: list[float] = []
    with torch.inference_mode(), progress_bar() as progress:
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
        "weights": origin.to_dict(),
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
        emit_json(result)
        return 0
    console.print(
        f"DC2Net {config.preset} forward on a synthetic {config.width}x{config.height} scene, "
        f"batch {args.batch}, {result['threads']} threads, formulation {config.formulation}"
    )
    console.print(f"  weights: {origin.label}", highlight=False)
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


def register(commands: argparse._SubParsersAction) -> None:
    info = add_command(commands, "info", help="parameters, GMAC per module and phone estimates")
    info.add_argument("--preset", choices=PRESET_NAMES, default="mobile")
    info.add_argument("--size", type=model_size, default=(768, 1024), help="WxH (default 1024x768)")
    add_json(info)
    info.set_defaults(run=cmd_info)

    forward = add_command(commands, "forward", help="time a forward pass on a synthetic scene")
    add_weights_arguments(forward)
    forward.add_argument(
        "--size", type=model_size, default=(384, 512), help="WxH (default 512x384)"
    )
    forward.add_argument("--formulation", choices=FORMULATIONS, help="default: the preset's")
    forward.add_argument("--batch", type=int_range(1, 64), default=1, help="1 … 64")
    forward.add_argument(
        "--runs", type=int_range(1, 10_000), default=3, help="timed runs after the first"
    )
    add_json(forward)
    forward.set_defaults(run=cmd_forward)
