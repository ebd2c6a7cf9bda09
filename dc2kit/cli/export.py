"""`dc2kit export` (Core ML / TFLite behind a parity gate) and `dc2kit verify` (re-run the gate)."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, get_args

from dc2kit.cli.common import (
    add_command,
    add_json,
    console,
    emit_json,
    errors,
    model_size,
    output_folder,
)
from dc2kit.cli.contract import add_case_arguments
from dc2kit.cli.quiet import phases
from dc2kit.cli.weights import add_weights_arguments, resolved_weights
from dc2kit.convert.targets import (
    DEFAULT_FORMULATION,
    DEFAULT_KERNEL_PREDICT,
    EXPORTABLE_FORMULATIONS,
    KERNEL_PREDICT_LOWERINGS,
    OUTPUT_SETS,
    TARGETS,
    Precision,
)

if TYPE_CHECKING:
    from rich.table import Table

    from dc2kit.convert.export import ExportOptions
    from dc2kit.convert.parity import ParityReport


def _parity_table(title: str, reports: Sequence[tuple[str, ParityReport]]) -> Table:
    from rich.table import Table

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
    """The export asked for; the preset is the checkpoint's own unless --preset names one."""
    from dc2kit.convert.export import ExportOptions
    from dc2kit.model import read_dc2_config
    from dc2kit.model.builder import DEFAULT_PRESET

    choice, origin = resolved_weights(args)
    preset = args.preset or DEFAULT_PRESET
    if args.preset is None and origin.kind == "checkpoint":
        preset = read_dc2_config(origin.path or "").preset
    return ExportOptions(
        preset=preset,
        height=args.size[0],
        width=args.size[1],
        precision=args.precision,
        weights=choice,
        formulation=args.formulation,
        outputs=args.outputs,
        channels_last=args.channels_last,
        image_io=args.image_io,
        kernel_predict=args.kernel_predict,
    )


def _calibrated(options: ExportOptions, step: Callable[[str], None]) -> ExportOptions:
    """w8a8's calibration set (data engine and shipped captures) at the export size; the
    exporter checks it against the model's inputs before converting."""
    if options.precision != "w8a8":
        return options
    from dc2kit.calibration import calibration_set

    step("building the w8a8 calibration set")
    return replace(options, calibration=calibration_set(options.height, options.width))


def _print_tflite_residency(report: dict) -> None:
    """XNNPACK's partitions as LiteRT measured them, and our GPU verdict with its reasons."""
    cpu = report["xnnpack_residency"]
    left = ", ".join(f"{op} {n}" for op, n in cpu["undelegated"].items()) or "none"
    console.print(
        f"  XNNPACK: {cpu['partitions']} partition(s), {cpu['delegated_ops']} ops delegated, "
        f"{cpu['undelegated_ops']} not ({left}); fully accelerated: "
        f"{cpu['fully_accelerated']}",
        highlight=False,
    )
    console.print(f"  GPU: {report['gpu_verdict']['summary']}", highlight=False)


def _check_request(targets: Sequence[str], args: argparse.Namespace) -> None:
    """Every refusal of the request, before a model, a calibration set or a folder is made
    (torch-free, so a refused command line fails at once)."""
    from dc2kit.convert.export_checks import check_request

    for target in targets:
        check_request(target, args.precision, args.kernel_predict, app_io=args.app_io)


def cmd_export(args: argparse.Namespace) -> int:
    targets = TARGETS if args.target == "all" else (args.target,)
    _check_request(targets, args)
    from dc2kit.convert.export import export_artifact

    options = _export_options(args)
    if args.app_io:
        from dc2kit.cli.contract import cmd_export_app_io

        return cmd_export_app_io(args, targets, options)
    results = []
    with phases(args.json) as timer:
        options = _calibrated(options, timer.step)
        out_dir = output_folder(args.out)
        for target in targets:
            timer.step(f"{target}: building the model")
            results.append(export_artifact(target, options, out_dir, timer.step))
    if args.json:
        emit_json(
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
        console.print(f"  weights: {r.manifest_data['weights']['label']}", highlight=False)
        if r.target == "tflite":
            _print_tflite_residency(report)
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
    from dc2kit.cli.contract import gate_cases
    from dc2kit.convert.export import verify_artifact
    from dc2kit.convert.manifest import read_manifest

    with phases(args.json) as timer:  # app-io artifacts are re-gated against the render pipeline
        result = verify_artifact(Path(args.artifact), timer.step, app_cases=gate_cases)
    manifest = read_manifest(result.artifact)
    weights = manifest["weights"]  # the origin recorded at export
    app_io = bool(manifest.get("options", {}).get("app_io"))
    title = "parity with the render pipeline" if app_io else "parity with PyTorch"
    if args.json:
        emit_json(
            {
                "artifact": str(result.artifact),
                "weights": weights,
                "sha256_matches": result.sha256_matches,
                "passed": result.passed,
                "parity": result.parity.to_dict(),
            }
        )
    else:
        console.print(_parity_table(title, [(result.artifact.name, result.parity)]))
        console.print(f"weights: {weights['label']}", highlight=False)
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


def register(commands: argparse._SubParsersAction) -> None:
    export = add_command(commands, "export", help="export to Core ML / TFLite with a parity gate")
    export.add_argument("--target", choices=(*TARGETS, "all"), required=True)
    add_weights_arguments(export)
    export.add_argument("--size", type=model_size, default=(384, 512), help="WxH (default 512x384)")
    export.add_argument("--precision", choices=get_args(Precision), default="fp16")
    export.add_argument(
        "--formulation", choices=EXPORTABLE_FORMULATIONS, default=DEFAULT_FORMULATION
    )
    export.add_argument("--outputs", choices=OUTPUT_SETS, default="image")
    export.add_argument("--channels-last", action="store_true", help="TFLite: NHWC inputs/outputs")
    export.add_argument("--image-io", action="store_true", help="Core ML: image inputs/outputs")
    export.add_argument(
        "--kernel-predict",
        choices=KERNEL_PREDICT_LOWERINGS,
        default=DEFAULT_KERNEL_PREDICT,
        help="TFLite: each kernel-prediction call as plain ops (default: XNNPACK and GPU "
        "delegates take the whole graph) or as one named composite, for NPU compilers that map "
        "it to a native kernel (XNNPACK and GPU delegates leave composites to the CPU)",
    )
    export.add_argument(
        "--app-io",
        action="store_true",
        help="app inputs (8-bit photos, disparity, focus/blur/tile scalars) and an 8-bit output; "
        "gated against the render pipeline on a real capture (see `dc2kit contract`)",
    )
    add_case_arguments(export)
    export.add_argument("--out", required=True, help="output folder")
    add_json(export)
    export.set_defaults(run=cmd_export)

    verify = add_command(commands, "verify", help="re-run an artifact's parity checks")
    verify.add_argument("artifact", help="a .tflite or .mlpackage with its manifest beside it")
    add_json(verify)
    verify.set_defaults(run=cmd_verify)
