"""The `dc2kit` command. The only module that knows the command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from dc2kit import __version__
from dc2kit.android_bridge import write_dynamic_depth
from dc2kit.atomic import write_atomically
from dc2kit.bench.estimate import ACCELERATORS, model_traffic, roofline_estimate
from dc2kit.bench.harness import (
    DEFAULT_RUNS,
    DEFAULT_SECONDS,
    DEFAULT_WARMUP,
    BenchError,
    BenchProgress,
    run_benchmarks,
)
from dc2kit.bench.report import generate_report
from dc2kit.bench.results import append_results
from dc2kit.bench.runtimes import RUNTIMES
from dc2kit.bench.suite import run_suite
from dc2kit.capture.align import AlignmentError
from dc2kit.capture.errors import CaptureError
from dc2kit.capture.inputs import RenderInputs, prepare_render
from dc2kit.capture.record import Accuracy, CaptureRecord, DepthKind, DepthUnits
from dc2kit.convert.errors import ExportError
from dc2kit.convert.export import (
    PRECISIONS,
    TARGETS,
    ExportOptions,
    export_artifact,
    verify_artifact,
)
from dc2kit.convert.parity import ParityReport
from dc2kit.model import PRESETS, DC2Config, DC2Net, ModelError, load_dc2, preset_config
from dc2kit.model.summary import model_costs
from dc2kit.model.synthetic import synthetic_scene, synthetic_view
from dc2kit.readers import open_capture, open_capture_image
from dc2kit.render.bokeh import RenderInputError
from dc2kit.render.pipeline import (
    ModelEngine,
    RenderError,
    classical_engine,
    save_png,
    sweep_frames,
    write_video,
)

# Tables keep their width when output is piped (rich would assume 80 columns).
console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)
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
    traffic = model_traffic(config)
    estimates = [roofline_estimate(costs["total"].macs, traffic, acc) for acc in ACCELERATORS]
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


# --- capture info ---------------------------------------------------------------------------------
def _open(args: argparse.Namespace) -> CaptureRecord:
    return open_capture(
        args.file,
        depth=args.depth,
        kind=args.depth_kind,
        units=args.depth_units,
        accuracy=args.depth_accuracy,
    )


def capture_summary(record: CaptureRecord) -> dict[str, Any]:
    """What `capture info` reports: format, sizes, depth range, units, accuracy, lens, gaps."""
    valid = record.depth[np.isfinite(record.depth)]
    intrinsics = record.intrinsics
    extras = {
        key: value for key, value in record.extras.items() if isinstance(value, str | int | float)
    }
    return {
        "file": str(record.path),
        "format": record.source_format,
        "image": {"width": record.image_size[0], "height": record.image_size[1]},
        "depth": {
            "width": record.depth_size[0],
            "height": record.depth_size[1],
            "kind": record.kind.value,
            "units": record.units.value,
            "accuracy": record.accuracy.value,
            "min": float(valid.min()) if valid.size else None,
            "max": float(valid.max()) if valid.size else None,
            "holes": int(record.depth.size - valid.size),
            "confidence": record.confidence is not None,
        },
        "intrinsics": None if intrinsics is None else asdict(intrinsics),
        "focal_length_mm": record.focal_length_mm,
        "f_number": record.f_number,
        "pixel_pitch_mm": record.pixel_pitch_mm,
        "original_image": "original_image" in record.extras,
        "extras": extras,
        "missing": record.missing(),
    }


def cmd_capture_info(args: argparse.Namespace) -> int:
    summary = capture_summary(_open(args))
    if args.json:
        _emit_json(summary)
        return 0
    depth = summary["depth"]
    console.print(f"[bold]{summary['file']}[/bold]: {summary['format']}", highlight=False)
    console.print(f"  image {summary['image']['width']}x{summary['image']['height']}")
    console.print(
        f"  {depth['kind']} {depth['width']}x{depth['height']} in {depth['units']} "
        f"({depth['accuracy']}), range {depth['min']:.4g} … {depth['max']:.4g}, "
        f"{depth['holes']} holes, confidence {'yes' if depth['confidence'] else 'no'}"
    )
    if summary["intrinsics"]:
        k = summary["intrinsics"]
        console.print(
            f"  intrinsics fx {k['fx']:.3f} fy {k['fy']:.3f} cx {k['cx']:.3f} cy {k['cy']:.3f} "
            f"at {k['reference_width']}x{k['reference_height']}"
        )
    lens = [
        f"{name} {summary[key]}"
        for name, key in (
            ("focal length mm", "focal_length_mm"),
            ("f-number", "f_number"),
            ("pixel pitch mm", "pixel_pitch_mm"),
        )
        if summary[key] is not None
    ]
    if lens:
        console.print("  " + ", ".join(lens))
    for key, value in summary["extras"].items():
        console.print(f"  {key}: {value}")
    if summary["original_image"]:
        console.print("  embedded original (un-blurred) image: yes")
    console.print(f"  missing: {', '.join(summary['missing']) or 'nothing'}")
    return 0


def cmd_capture_synth(args: argparse.Namespace) -> int:
    """Write the built-in synthetic scene as a Dynamic Depth JPEG with known metric depth."""
    height, width = args.size
    rgb, disparity = synthetic_view(height, width)
    image = (rgb.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    depth_m = (1.0 / disparity).numpy()
    write_dynamic_depth(args.out, image, depth_m, format=args.format, bit_depth=16)
    payload = {
        "out": str(args.out),
        "size": {"width": width, "height": height},
        "format": args.format,
        "depth_m": [float(depth_m.min()), float(depth_m.max())],
    }
    if args.json:
        _emit_json(payload)
    else:
        console.print(
            f"wrote {args.out}: synthetic {width}x{height} Dynamic Depth JPEG, {args.format}, "
            f"depth {payload['depth_m'][0]:.2f} … {payload['depth_m'][1]:.2f} m",
            highlight=False,
        )
    return 0


# --- render and sweep ----------------------------------------------------------------------------
def parse_point(text: str) -> tuple[float, float]:
    """'X,Y' → (x, y) in image pixels."""
    try:
        x, y = (float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected X,Y in image pixels, got {text!r}") from None
    return x, y


def _render_inputs(args: argparse.Namespace, record: CaptureRecord) -> RenderInputs:
    focus_point, focus_disparity = args.focus, args.focus_disparity
    if focus_point is None and focus_disparity is None:  # only sweeps may omit focus
        focus_disparity = float(np.nanmedian(record.disparity()))
    return prepare_render(
        record,
        focus_point=focus_point,
        focus_disparity=focus_disparity,
        f_number=args.fnumber,
        blur_strength=args.blur_strength,
        max_side=args.max_side,
    )


def _engine(args: argparse.Namespace, inputs: RenderInputs) -> tuple[Callable, tuple[str, ...]]:
    if args.engine == "classical":
        if args.uw:
            raise RenderError("--uw is used by the model engine only")
        return classical_engine, ()
    if not args.checkpoint:
        raise RenderError("--engine model needs --checkpoint (a dc2kit .safetensors file)")
    uw = open_capture_image(args.uw) if args.uw else None
    engine = ModelEngine.load(args.checkpoint, inputs, uw)
    return engine, engine.notes


def _report(args: argparse.Namespace, payload: dict[str, Any], notes: Sequence[str]) -> None:
    if args.json:
        _emit_json({**payload, "notes": list(notes)})
        return
    for note in notes:
        console.print(f"  note: {note}", highlight=False)
    console.print(f"wrote {payload['out']}", highlight=False)


def cmd_render(args: argparse.Namespace) -> int:
    record = _open(args)
    inputs = _render_inputs(args, record)
    engine, engine_notes = _engine(args, inputs)
    with Progress(console=errors, transient=True) as progress:
        progress.add_task(f"rendering with the {args.engine} engine", total=None)
        start = time.perf_counter()
        image = engine(inputs)
        seconds = time.perf_counter() - start
    save_png(image, args.out)
    payload = {
        "out": str(args.out),
        "engine": args.engine,
        "size": {"width": image.shape[1], "height": image.shape[0]},
        "focus_disparity": inputs.focus_disparity,
        "blur_strength": inputs.blur_strength,
        "defocus_range_px": [float(inputs.defocus.min()), float(inputs.defocus.max())],
        "seconds": round(seconds, 3),
    }
    _report(args, payload, (*inputs.notes, *engine_notes))
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    if args.frames < 2:
        raise RenderError(f"a sweep needs at least 2 frames, got {args.frames}")
    record = _open(args)
    inputs = _render_inputs(args, record)
    engine, engine_notes = _engine(args, inputs)
    near, far = (float(v) for v in np.percentile(inputs.disparity, (99.0, 1.0)))
    frames = sweep_frames(inputs, engine, args.sweep, args.frames, (near, far))
    with Progress(console=errors, transient=True) as progress:
        task = progress.add_task(f"{args.sweep} sweep", total=args.frames)
        counted = write_video(
            (progress.advance(task) or frame for frame in frames), args.out, args.fps
        )
    payload = {
        "out": str(args.out),
        "engine": args.engine,
        "sweep": args.sweep,
        "frames": counted,
        "fps": args.fps,
        "size": {"width": inputs.image.shape[1], "height": inputs.image.shape[0]},
        "focus_disparity_span": [near, far] if args.sweep == "focus" else None,
        "blur_strength": inputs.blur_strength,
    }
    _report(args, payload, (*inputs.notes, *engine_notes))
    return 0


# --- export and verify ---------------------------------------------------------------------------
def _parity_table(title: str, reports: Sequence[tuple[str, ParityReport]]) -> Table:
    table = Table(title=title)
    for column in ("artifact", "runtime", "inputs", "output", "PSNR dB", "max abs", "gate"):
        table.add_column(column, justify="right" if column in ("PSNR dB", "max abs") else "left")
    for name, report in reports:
        for check in report.checks:
            for row in check.outputs:
                verdict = "pass" if row.psnr_db >= report.gate_db else "FAIL"
                table.add_row(
                    name,
                    report.runtime,
                    check.check,
                    row.output,
                    f"{row.psnr_db:.1f}",
                    f"{row.max_abs:.2e}",
                    f"{report.gate_db:.0f} dB {verdict}",
                )
    return table


def _export_options(args: argparse.Namespace) -> ExportOptions:
    return ExportOptions(
        preset=args.preset,
        height=args.size[0],
        width=args.size[1],
        precision=args.precision,
        checkpoint=Path(args.checkpoint) if args.checkpoint else None,
        seed=args.seed,
        formulation=args.formulation,
        outputs=args.outputs,
        channels_last=args.channels_last,
        image_io=args.image_io,
    )


def cmd_export(args: argparse.Namespace) -> int:
    os.environ.setdefault("LITERT_TORCH_SHOW_PROGRESS", "n")  # our own progress bar is enough
    targets = TARGETS if args.target == "all" else (args.target,)
    options = _export_options(args)
    for target in targets:  # refuse bad combinations before any work
        if options.precision not in PRECISIONS[target]:
            raise ExportError(
                f"precision {options.precision} is not available for {target} "
                f"(choose from {', '.join(PRECISIONS[target])})"
            )
    out_dir = Path(args.out)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ExportError(f"{out_dir}: cannot create output folder ({error.strerror})") from error
    results = []
    with Progress(console=errors, transient=True) as progress:
        task = progress.add_task("export", total=None)

        def step(text: str) -> None:
            progress.update(task, description=text)

        for target in targets:
            results.append(export_artifact(target, options, out_dir, step))
    if args.json:
        _emit_json(
            {
                "artifacts": [
                    {"artifact": str(r.artifact), "manifest": str(r.manifest), **r.manifest_data}
                    for r in results
                ]
            }
        )
        return 0
    console.print(
        _parity_table("parity with PyTorch", [(r.artifact.name, r.parity) for r in results])
    )
    for r in results:
        report = r.manifest_data["delegate_report"]
        console.print(f"wrote {r.artifact} and {r.manifest.name}", highlight=False)
        if r.target == "tflite":
            composites = report["tflite_ops"].get("STABLEHLO_COMPOSITE(dc2kit.kernel_predict)", 0)
            console.print(
                f"  {composites} dc2kit.kernel_predict composites; GPU delegate compatible: "
                f"{report['gpu_delegate_compatible']}",
                highlight=False,
            )
        else:
            ops = ", ".join(f"{op} {n}" for op, n in sorted(report["coreml_op_histogram"].items()))
            console.print(f"  Core ML ops: {ops}", highlight=False)
        largest = r.manifest_data["largest_activations"]
        if largest:
            op, value = next(iter(largest.items()))
            console.print(
                f"  largest activation {value:.4g} at op {op} (fp16 limit 65504)", highlight=False
            )
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    with Progress(console=errors, transient=True) as progress:
        task = progress.add_task("verify", total=None)
        result = verify_artifact(
            Path(args.artifact), lambda text: progress.update(task, description=text)
        )
    if args.json:
        _emit_json(
            {
                "artifact": str(result.artifact),
                "sha256_matches": result.sha256_matches,
                "passed": result.passed,
                "parity": result.parity.to_dict(),
            }
        )
    else:
        console.print(_parity_table("parity with PyTorch", [(result.artifact.name, result.parity)]))
        console.print(f"sha256 matches the manifest: {result.sha256_matches}")
        console.print(result.parity.reason, highlight=False)
    if not result.passed:
        errors.print(
            f"dc2kit: error: {result.artifact}: verification failed "
            f"({'parity' if result.sha256_matches else 'artifact changed since export'})",
            markup=False,
            highlight=False,
        )
        return 1
    return 0


# --- benchmarks ----------------------------------------------------------------------------------
def cmd_bench(args: argparse.Namespace) -> int:
    names = [name.strip() for name in args.runtimes.split(",") if name.strip()]
    with Progress(console=errors, transient=True) as progress:
        task = progress.add_task("benchmark", total=len(names))

        def show(event: BenchProgress) -> None:
            progress.update(task, description=f"{event.runtime}: {event.stage}")
            if event.stage == "done":
                progress.advance(task)

        results = run_benchmarks(
            args.preset,
            args.size,
            names,
            args.threads,
            runs=args.runs,
            seconds=args.seconds,
            warmup=args.warmup,
            work_dir=Path(args.work_dir),
            formulation=args.formulation,
            progress=show,
        )
    if args.append:
        append_results(args.append, results)
    if args.json:
        write_atomically(args.json, json.dumps([asdict(r) for r in results], indent=2).encode())
    table = Table(
        title=f"DC2Net {args.preset} at {args.size[1]}x{args.size[0]}, {args.threads} threads"
    )
    for column in (
        "runtime",
        "p50 ms",
        "p90 ms",
        "trimmed mean ms",
        "peak RSS MiB",
        "GFLOP/s",
        "share of peak",
    ):
        table.add_column(column, justify="left" if column == "runtime" else "right")
    for r in results:
        if r.timings is None:
            table.add_row(r.runtime, *["—"] * 5, "; ".join(r.notes))
            continue
        t = r.timings
        table.add_row(
            r.runtime,
            f"{t.p50_ms:.1f}",
            f"{t.p90_ms:.1f}",
            f"{t.trimmed_mean_ms:.1f}",
            f"{r.peak_rss_mb:.0f}",
            f"{r.achieved_gflops:.1f}",
            f"{r.share_of_peak:.0%}",
        )
    console.print(table)
    return 0


def cmd_bench_suite(args: argparse.Namespace) -> int:
    with Progress(console=errors, transient=True) as progress:
        task = progress.add_task(f"suite {args.suite}", total=None)
        written = run_suite(
            args.suite,
            Path(args.results),
            Path(args.work_dir),
            lambda text: progress.update(task, description=text),
        )
    report = generate_report(Path(args.results), Path(args.report), Path(args.plots))
    for file, count in written.items():
        console.print(f"appended {count} results to {Path(args.results) / file}", highlight=False)
    console.print(f"wrote {report}", highlight=False)
    return 0


def cmd_bench_report(args: argparse.Namespace) -> int:
    report = generate_report(Path(args.results), Path(args.report), Path(args.plots))
    console.print(f"wrote {report}", highlight=False)
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

    capture = commands.add_parser("capture", help="inspect capture files")
    capture_commands = capture.add_subparsers(dest="capture_command", required=True)
    capture_info = capture_commands.add_parser("info", help="format, sizes, depth, lens data")
    _capture_arguments(capture_info)
    capture_info.add_argument("--json", action="store_true", help="machine-readable output")
    capture_info.set_defaults(run=cmd_capture_info)
    synth = capture_commands.add_parser(
        "synth", help="write the built-in synthetic scene as a Dynamic Depth JPEG"
    )
    synth.add_argument("--out", required=True, help="output JPEG")
    synth.add_argument("--size", type=parse_size, default=(480, 640), help="WxH (default 640x480)")
    synth.add_argument("--format", choices=("RangeInverse", "RangeLinear"), default="RangeInverse")
    synth.add_argument("--json", action="store_true", help="machine-readable output")
    synth.set_defaults(run=cmd_capture_synth)

    render = commands.add_parser("render", help="refocus a capture into a PNG")
    _capture_arguments(render)
    _render_arguments(render, sweep=False)
    render.add_argument("--out", required=True, help="output PNG")
    render.set_defaults(run=cmd_render)

    sweep = commands.add_parser("sweep", help="render a focus pull or aperture ramp as an MP4")
    _capture_arguments(sweep)
    _render_arguments(sweep, sweep=True)
    sweep.add_argument("--sweep", choices=("focus", "aperture"), default="focus")
    sweep.add_argument("--frames", type=int, default=24)
    sweep.add_argument("--fps", type=float, default=12.0)
    sweep.add_argument("--out", required=True, help="output MP4")
    sweep.set_defaults(run=cmd_sweep)

    export = commands.add_parser("export", help="export to Core ML / TFLite with a parity gate")
    export.add_argument("--target", choices=("coreml", "tflite", "all"), required=True)
    export.add_argument("--preset", choices=sorted(PRESETS), default="mobile")
    export.add_argument("--size", type=parse_size, default=(384, 512), help="WxH (default 512x384)")
    export.add_argument("--precision", choices=("fp32", "fp16", "int8"), default="fp16")
    export.add_argument(
        "--checkpoint", help="a dc2kit .safetensors checkpoint (else seeded random)"
    )
    export.add_argument("--seed", type=int, default=0, help="seed of random weights")
    export.add_argument("--formulation", choices=("shift", "im2col"), default="shift")
    export.add_argument("--outputs", choices=("image", "all"), default="image")
    export.add_argument("--channels-last", action="store_true", help="TFLite: NHWC inputs/outputs")
    export.add_argument("--image-io", action="store_true", help="Core ML: image inputs/outputs")
    export.add_argument("--out", required=True, help="output folder")
    export.add_argument("--json", action="store_true", help="machine-readable output")
    export.set_defaults(run=cmd_export)

    verify = commands.add_parser("verify", help="re-run an artifact's parity checks")
    verify.add_argument("artifact", help="a .tflite or .mlpackage with its manifest beside it")
    verify.add_argument("--json", action="store_true", help="machine-readable output")
    verify.set_defaults(run=cmd_verify)

    bench = commands.add_parser("bench", help="measure latency and memory of host runtimes")
    bench.add_argument("--preset", choices=sorted(PRESETS), default="mobile")
    bench.add_argument("--size", type=parse_size, default=(384, 512), help="WxH (default 512x384)")
    bench.add_argument(
        "--runtimes", default="torch,tflite-fp32", help=f"comma-separated: {', '.join(RUNTIMES)}"
    )
    bench.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    bench.add_argument("--runs", type=int, default=DEFAULT_RUNS, help="at least this many runs")
    bench.add_argument(
        "--seconds", type=float, default=DEFAULT_SECONDS, help="and at least this long"
    )
    bench.add_argument("--warmup", type=int, default=DEFAULT_WARMUP)
    bench.add_argument("--formulation", choices=("shift", "im2col"), default="shift")
    bench.add_argument("--work-dir", default="build/bench-models", help="cache of exported models")
    bench.add_argument("--json", metavar="FILE", help="write the results (with provenance) here")
    bench.add_argument("--append", metavar="FILE", help="append results as JSON lines")
    bench.set_defaults(run=cmd_bench)

    for name, helptext, run in (
        (
            "bench-suite",
            "run a suite of benchmarks/suites.json and regenerate the report",
            cmd_bench_suite,
        ),
        ("bench-report", "regenerate REPORT.md and plots from result files", cmd_bench_report),
    ):
        sub = commands.add_parser(name, help=helptext)
        if name == "bench-suite":
            sub.add_argument("--suite", default="demo", help="standard or demo")
            sub.add_argument("--work-dir", default="build/bench-models")
        sub.add_argument("--results", default="benchmarks/results", help="JSON-lines folder")
        sub.add_argument("--report", default="benchmarks/REPORT.md")
        sub.add_argument("--plots", default="benchmarks/plots")
        sub.set_defaults(run=run)
    return parser


def _capture_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="HEIC, portrait JPEG, Dynamic Depth or GDepth JPEG, or image")
    parser.add_argument("--depth", help="a separate depth/disparity map (PNG, 16-bit PNG, NPY)")
    parser.add_argument("--depth-kind", choices=[k.value for k in DepthKind], default="disparity")
    parser.add_argument("--depth-units", choices=[u.value for u in DepthUnits], default="relative")
    parser.add_argument("--depth-accuracy", choices=[a.value for a in Accuracy], default="relative")


def _render_arguments(parser: argparse.ArgumentParser, sweep: bool) -> None:
    focus = parser.add_mutually_exclusive_group(required=not sweep)
    focus.add_argument("--focus", type=parse_point, help="focus point X,Y in image pixels")
    focus.add_argument("--focus-disparity", type=float, help="focus plane disparity")
    aperture = parser.add_mutually_exclusive_group(required=True)
    aperture.add_argument("--fnumber", type=float, help="35 mm-equivalent f-number")
    aperture.add_argument(
        "--blur-strength", type=float, help="blur radius in px across the disparity range"
    )
    parser.add_argument("--engine", choices=("classical", "model"), default="classical")
    parser.add_argument("--checkpoint", help="dc2kit .safetensors checkpoint (model engine)")
    parser.add_argument("--uw", help="ultra-wide photo to align onto W (model engine)")
    parser.add_argument(
        "--max-side", type=int, default=1024, help="long side of the render (0: full size)"
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except (
        ModelError,
        CaptureError,
        RenderError,
        RenderInputError,
        AlignmentError,
        ExportError,
        BenchError,
    ) as error:
        errors.print(f"dc2kit: error: {error}", markup=False, highlight=False)
        return 1


if __name__ == "__main__":
    sys.exit(main())
