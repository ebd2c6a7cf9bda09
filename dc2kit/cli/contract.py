"""`dc2kit contract`: what an app must know to use an app-io artifact, and golden test vectors."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dc2kit.cli.common import (
    MAX_BLUR_STRENGTH,
    MAX_IMAGE_SIDE,
    add_command,
    add_json,
    console,
    emit_json,
    float_range,
    int_range,
    output_folder,
)

if TYPE_CHECKING:
    from dc2kit.convert.app_export import AppCaseFeed
    from dc2kit.convert.export_options import ExportOptions
    from dc2kit.model import DC2Net

DEFAULT_CAPTURE = "sample:iphone"
CASE_SETTINGS = ("capture", "frame_side", "tile_index", "blur_px", "w_blur_px")


def add_case_arguments(parser: argparse.ArgumentParser) -> None:
    """The real capture and settings the gate cases and vectors are rendered from."""
    parser.add_argument("--capture", default=DEFAULT_CAPTURE, help="capture (default %(default)s)")
    parser.add_argument(
        "--frame-side",
        type=int_range(0, MAX_IMAGE_SIDE),
        default=256,
        help="frame long side, pixels (0: the capture's own)",
    )
    parser.add_argument("--tile-index", type=int, default=-1, help="which tile (default: last)")
    blur = float_range(0.0, MAX_BLUR_STRENGTH)
    parser.add_argument("--blur-px", type=blur, default=12.0, help="target blur across range")
    parser.add_argument("--w-blur-px", type=blur, default=3.0, help="input W's own blur")


def capture_case(model: DC2Net, args: argparse.Namespace) -> AppCaseFeed:
    """One tile of the capture, with the render pipeline's expected 8-bit output."""
    from dc2kit.convert.app_export import AppCaseFeed
    from dc2kit.convert.errors import ExportError
    from dc2kit.readers import open_capture
    from dc2kit.render.app_case import app_case
    from dc2kit.samples import resolve_capture

    for flag, value in (("--blur-px", args.blur_px), ("--w-blur-px", args.w_blur_px)):
        if not 0 <= value <= MAX_BLUR_STRENGTH:  # NaN too (a manifest's settings, for verify)
            raise ExportError(
                f"{args.capture}: {flag} must be a blur in pixels in [0, {MAX_BLUR_STRENGTH:g}], "
                f"got {value}"
            )
    record = open_capture(resolve_capture(args.capture))
    case = app_case(
        record,
        model,
        frame_side=args.frame_side,
        tile_index=args.tile_index,
        blur_px=args.blur_px,
        w_blur_px=args.w_blur_px,
    )
    name = f"{args.capture} tile {case.settings['tile_index']}/{case.settings['tiles']}"
    case.inputs.check((model.config.height, model.config.width), name)
    settings = {key: getattr(args, key) for key in CASE_SETTINGS}
    return AppCaseFeed(name, case.inputs, case.expected, settings)


def gate_cases(model: DC2Net, settings: Sequence[dict[str, Any]]) -> list[AppCaseFeed]:
    """The gate cases a manifest records, rendered again by the pipeline (for `verify`)."""
    from dc2kit.convert.errors import ExportError

    if not settings:
        raise ExportError("the manifest records no gate case settings; export it again")
    return [capture_case(model, argparse.Namespace(**case)) for case in settings]


def latency_estimate(options: ExportOptions, device: str) -> dict[str, Any]:
    """The roofline latency per tile on the target's phone (`bench.estimate`), with its
    assumptions: an estimate, never a measurement. int8 and fp16 have estimates; fp32 and w8a8
    are estimated as fp16 and int8."""
    from dc2kit.bench.estimate import estimate_measurements

    precision = {"int8": "int8", "w8a8": "int8"}.get(options.precision, "fp16")
    rows = estimate_measurements(options.preset, options.height, options.width, precision)
    (row,) = (row for row in rows if row.runtime == f"estimate-{device}")
    return {
        "device": row.config["device"],
        "precision": precision,
        "latency_ms_per_tile": round(row.timings.mean_ms, 2),
        "label": "estimate (roofline), not a measurement",
        "assumptions": [
            *row.notes,
            "DC2Net alone: the app-io graph's few elementwise preprocessing ops are not counted",
        ],
    }


def _read(artifact: Path) -> dict[str, Any]:
    from dc2kit.convert.errors import ExportError
    from dc2kit.convert.manifest import manifest_path, read_manifest

    if not manifest_path(artifact).is_file():
        raise ExportError(f"{artifact}: no manifest beside it; export it with --app-io")
    manifest = read_manifest(artifact)
    if "contract" not in manifest:
        raise ExportError(f"{artifact}: not an app-io artifact (export it with --app-io)")
    return manifest


def _write_vectors(artifact: Path, manifest: dict[str, Any], args, out: Path) -> dict[str, Any]:
    """Raw inputs, the exact input tensors, its outputs and the pipeline's, written atomically."""
    import numpy as np

    from dc2kit.atomic import atomic_output
    from dc2kit.convert.app_export import app_io_target
    from dc2kit.model.builder import WeightsOrigin, build_dc2

    config = manifest["config"]
    choice = WeightsOrigin.from_dict(manifest["weights"]).choice()
    model, _ = build_dc2(manifest["preset"], (config["height"], config["width"]), weights=choice)
    case = capture_case(model, args)
    target = app_io_target(manifest["target"])
    feeds = target.pack(case.inputs)
    run, _ = target.load(artifact, manifest["precision"])
    output = run(feeds)["image"]
    arrays = {
        "raw/w": case.inputs.w,
        "raw/uw": case.inputs.uw,
        "raw/disparity": case.inputs.disparity,
        **{f"feeds/{name}": value for name, value in feeds.items()},
        "expected/image": output,
        "expected/pipeline_image": case.expected,
    }
    index = {
        "artifact": manifest["artifact"],
        "artifact_sha256": manifest["sha256"],
        "case": case.name,
        "scalars": case.inputs.scalars(),
        "layout": target.layout,
        "files": {
            key: {"file": f"{key}.npy", "dtype": value.dtype.name, "shape": list(value.shape)}
            for key, value in arrays.items()
        },
    }
    with atomic_output(out, directory=True) as folder:
        for key, value in arrays.items():
            (folder / key).parent.mkdir(exist_ok=True)
            np.save(folder / f"{key}.npy", value)
        (folder / "index.json").write_text(json.dumps(index, indent=2) + "\n")
    return index


def _print(manifest: dict[str, Any]) -> None:
    contract = manifest["contract"]
    latency = contract.get("latency_estimate")
    tile = contract["tile"]
    console.print(
        f"[bold]{manifest['artifact']}[/bold]: {manifest['target']} {manifest['precision']}, "
        f"tiles {tile['width']}x{tile['height']}, layout {contract['layout']}",
        highlight=False,
    )
    for kind in ("inputs", "outputs"):
        console.print(f"{kind}:", highlight=False)
        for row in contract[kind]:
            low, high = row["value_range"]
            bounds = f"[{'' if low is None else low}, {'' if high is None else high}]"
            colour = f", {row['colour_space']}" if row["colour_space"] else ""
            console.print(
                f"  {row['name']}: {row['description']}; {row['units']} {bounds}{colour}",
                highlight=False,
            )
    for title, key in (
        ("the graph does", "graph_does"),
        ("the app must do", "app_must_do"),
        ("runtime settings", "runtime_settings"),
    ):
        console.print(f"{title}:", highlight=False)
        for line in contract[key]:
            console.print(f"  - {line}", highlight=False)
    if latency:
        console.print(
            f"latency: {latency['latency_ms_per_tile']} ms per tile on the {latency['device']} "
            f"({latency['precision']}), an {latency['label']}; assumptions:",
            highlight=False,
        )
        for line in latency["assumptions"]:
            console.print(f"  - {line}", highlight=False)


def cmd_contract(args: argparse.Namespace) -> int:
    artifact = Path(args.artifact)
    manifest = _read(artifact)
    payload = dict(manifest["contract"])
    if args.vectors:
        payload["vectors"] = _write_vectors(artifact, manifest, args, Path(args.vectors))
    if args.json:
        emit_json({"artifact": str(artifact), **payload})
        return 0
    _print(manifest)
    if args.vectors:
        console.print(f"wrote test vectors to {args.vectors}", highlight=False)
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    contract = add_command(commands, "contract", help="an app-io artifact's contract and vectors")
    contract.add_argument("artifact", help="a .tflite or .mlpackage exported with --app-io")
    contract.add_argument("--vectors", help="write golden test vectors into this new folder")
    add_case_arguments(contract)
    add_json(contract)
    contract.set_defaults(run=cmd_contract)


def cmd_export_app_io(args: argparse.Namespace, targets, options) -> int:
    """`export --app-io`: each target's app-io artifact, gated on a tile of a real capture."""
    from dc2kit.cli.quiet import phases
    from dc2kit.convert.app_export import app_io_target, export_app_io
    from dc2kit.convert.export_options import build_model

    written = []
    with phases() as timer:  # cmd_export refused what it cannot export already
        timer.step("rendering the gate case with the Python pipeline")
        case = capture_case(build_model(options)[0], args)
        out_dir = output_folder(args.out)  # after the capture read: a bad one leaves no folder
        for target in targets:
            latency = latency_estimate(options, app_io_target(target).estimate_device)
            written.append(export_app_io(target, options, out_dir, [case], timer.step, latency))
    if args.json:
        emit_json({"artifacts": [manifest for _, manifest in written]})
        return 0
    for manifest_file, manifest in written:
        console.print(
            f"wrote {out_dir / manifest['artifact']} and {manifest_file.name}: "
            f"{manifest['parity']['reason']}",
            highlight=False,
        )
    return 0
