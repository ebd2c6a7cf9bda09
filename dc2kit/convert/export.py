"""Export with a parity gate: convert, check against PyTorch, then (and only then) publish.

An artifact is built in a staging folder beside its destination, run on the parity inputs by
its runtime (LiteRT's interpreter; Core ML's `MLModel.predict` on macOS or dc2kit's ML-program
executor elsewhere), compared with PyTorch, and moved into place with its manifest only if it
meets its precision's gate (`manifest.publish`: artifact first, manifest last). A failed gate
leaves nothing at the destination; a killed run leaves a staging folder that the next run in
that folder removes (`dc2kit.atomic`).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dc2kit.atomic import staging_folder
from dc2kit.convert.errors import ExportError, ParityError, first_line
from dc2kit.convert.manifest import (
    artifact_sha256,
    manifest_path,
    provenance,
    publish,
    read_manifest,
)
from dc2kit.convert.parity import (
    Arrays,
    ParityReport,
    Runner,
    check_parity,
    parity_inputs,
    torch_runner,
)
from dc2kit.convert.targets import PRECISIONS, SUFFIXES, TARGETS, Target
from dc2kit.convert.wrap import ExportWrapper, OutputSet, describe
from dc2kit.model import DC2Net
from dc2kit.model.builder import WeightsChoice, WeightsOrigin, build_dc2
from dc2kit.model.kernel_predict import Formulation

Step = Callable[[str], None]
GPU_VERDICT_CAVEAT = (
    "ai-edge-litert 2.3's analyzer also calls a model with STABLEHLO_SORT (which the GPU "
    "delegate lacks) compatible: confirm on a phone with benchmark_model --use_gpu=true "
    "--require_full_delegation=true"
)


@dataclass(frozen=True)
class ExportOptions:
    preset: str
    height: int
    width: int
    precision: str
    weights: WeightsChoice = field(default_factory=WeightsChoice)  # shipped unless said otherwise
    formulation: Formulation = "shift"
    outputs: OutputSet = "image"
    channels_last: bool = False  # TFLite: NHWC inputs and outputs
    image_io: bool = False  # Core ML: RGB image inputs and output, fp16 grayscale maps

    def artifact_name(self, target: Target) -> str:
        return f"dc2_{self.preset}_{self.width}x{self.height}_{self.precision}{SUFFIXES[target]}"


@dataclass(frozen=True)
class ExportResult:
    target: Target
    artifact: Path
    manifest: Path
    parity: ParityReport
    manifest_data: dict[str, Any]


def build_model(options: ExportOptions) -> tuple[DC2Net, WeightsOrigin]:
    """The PyTorch model to export and where its weights came from (for the manifest)."""
    size = (options.height, options.width)
    return build_dc2(options.preset, size, weights=options.weights, formulation=options.formulation)


def _check_options(target: Target, options: ExportOptions) -> None:
    if target not in TARGETS:
        raise ExportError(f"unknown target {target!r}; choose from {TARGETS}")
    if options.precision not in PRECISIONS[target]:
        raise ExportError(
            f"precision {options.precision!r} is not available for {target}; "
            f"choose from {PRECISIONS[target]}"
        )


def tflite_runner(path: Path, channels_last: bool) -> Runner:
    """LiteRT's interpreter on NCHW arrays; a file it cannot load is an ExportError."""
    from dc2kit.convert.tflite import tflite_runner as interpreter_runner

    try:
        run = interpreter_runner(path, channels_last=channels_last)
    except (ValueError, RuntimeError) as error:
        raise ExportError(f"{path}: the LiteRT interpreter cannot run it ({error})") from error
    return run


def coreml_runner(path: Path, precision: str, image_io: bool) -> tuple[Runner, str, dict]:
    """Core ML's own runtime on macOS; dc2kit's ML-program executor (fp16 emulated) elsewhere.

    Returns the runner, the runtime's name and a dict the runner fills with the largest
    activation per op (executor only), for the manifest.
    """
    activations: dict[str, float] = {}
    if sys.platform == "darwin":
        from dc2kit.convert.coreml import predict_coreml

        def execute(arrays: Arrays) -> Arrays:
            return predict_coreml(path, arrays)

        runtime = "Core ML (MLModel.predict)"
    else:
        from dc2kit.convert.mil_executor import execute as run_program
        from dc2kit.convert.mil_executor import load_program

        program = load_program(path)
        fp16 = precision == "fp16"

        def execute(arrays: Arrays) -> Arrays:
            result = run_program(program, arrays, fp16=fp16)
            for op, value in result.max_abs_per_op.items():
                activations[op] = max(activations.get(op, 0.0), float(value))
            return result.outputs

        runtime = f"dc2kit ML-program executor ({'fp16 emulation' if fp16 else 'fp32'})"

    def run(arrays: Arrays) -> Arrays:
        if not image_io:
            return execute(arrays)
        feed = dict(arrays)
        for name in ("w", "uw"):
            feed[name] = (arrays[name] + 1.0) * 127.5
        outputs = dict(execute(feed))
        outputs["image"] = outputs["image"] / 127.5 - 1.0
        return outputs

    return run, runtime, activations


def artifact_runner(target: Target, path: Path, options: ExportOptions) -> tuple[Runner, str, dict]:
    """The runner of an artifact on this machine, its runtime's name, and its activation log."""
    if target == "tflite":
        return tflite_runner(path, options.channels_last), "LiteRT interpreter", {}
    return coreml_runner(path, options.precision, options.image_io)


def _guarded(run: Runner, path: Path) -> Runner:
    """A runtime's own failures on a damaged artifact (LiteRT's RuntimeError) as ExportError."""

    def guarded(arrays: Arrays) -> Arrays:
        try:
            return run(arrays)
        except ExportError:
            raise
        except (RuntimeError, ValueError, IndexError, TypeError) as error:
            raise ExportError(f"{path}: the artifact fails to run ({first_line(error)})") from error

    return guarded


def check_artifact(
    target: Target, path: Path, model: DC2Net, options: ExportOptions, shown: Path | None = None
) -> tuple[ParityReport, dict[str, float]]:
    """Parity of the artifact at `path` with `model` on the random and structured inputs.

    Errors name `shown` (the published path, for an artifact still in staging) instead of `path`.
    """
    shown = shown or path
    try:
        runner, runtime, activations = artifact_runner(target, path, options)
        wrapper = ExportWrapper(model, options.outputs).eval()
        reference = torch_runner(wrapper, wrapper.output_names)
        report = check_parity(
            reference,
            _guarded(runner, path),
            parity_inputs(model.config),
            runtime,
            options.precision,
        )
    except ExportError as error:
        detail = str(error).removeprefix(f"{path}: ")
        raise type(error)(f"{shown}: {detail}") from error
    return report, activations


def _convert(
    target: Target, model: DC2Net, path: Path, options: ExportOptions, weights: WeightsOrigin
) -> Any:
    if target == "coreml":
        from dc2kit.convert.coreml import export_coreml

        return export_coreml(
            model,
            path,
            precision=options.precision,
            image_io=options.image_io,
            outputs=options.outputs,
            weights=weights,
        )
    from dc2kit.convert.tflite import export_tflite

    return export_tflite(
        model,
        path,
        precision=options.precision,
        channels_last=options.channels_last,
        outputs=options.outputs,
        weights=weights,
    )


def _delegate_report(target: Target, artifact: Any) -> dict[str, Any]:
    if target == "coreml":
        return {"coreml_op_histogram": artifact.op_histogram}
    from dc2kit.convert.tflite_report import analyze_tflite

    report = analyze_tflite(artifact.path)
    return {
        "tflite_ops": report.op_histogram,
        "gpu_delegate_compatible": report.gpu_compatible,
        "gpu_delegate_verdict": list(report.gpu_verdict),
        "gpu_delegate_caveat": GPU_VERDICT_CAVEAT,
    }


def _spec(artifact: Any) -> dict[str, Any]:
    """Inputs and outputs as the artifact declares them: names, shapes, dtypes, layout, ranges."""
    layout = {"layout": artifact.layout} if hasattr(artifact, "layout") else {}

    def rows(specs: Any) -> list[dict[str, Any]]:
        return [{**describe(spec.name)._asdict(), **layout, **asdict(spec)} for spec in specs]

    output_specs = getattr(artifact, "output_specs", None)  # Core ML's `outputs` is the set name
    return {
        "inputs": rows(artifact.inputs),
        "outputs": rows(output_specs if output_specs is not None else artifact.outputs),
    }


def export_artifact(
    target: Target, options: ExportOptions, out_dir: Path, step: Step = lambda _: None
) -> ExportResult:
    """Convert, check parity, and publish one artifact with its manifest into `out_dir`."""
    _check_options(target, options)
    if not out_dir.is_dir() or not os.access(out_dir, os.W_OK):
        raise ExportError(f"{out_dir}: output folder does not exist or cannot be written")
    model, weights = build_model(options)
    destination = out_dir / options.artifact_name(target)
    with staging_folder(out_dir, destination.name) as stage:
        staged = stage / destination.name
        step(f"{target}: converting")
        started = time.perf_counter()
        artifact = _convert(target, model, staged, options, weights)
        convert_seconds = time.perf_counter() - started
        step(f"{target}: checking parity")
        parity, activations = check_artifact(target, staged, model, options, destination)
        if not parity.passed:
            raise ParityError(f"{destination}: {parity.reason}; nothing was written")
        step(f"{target}: writing manifest")
        manifest = {
            "artifact": destination.name,
            "target": target,
            **provenance(),
            "preset": options.preset,
            "config": json.loads(model.config.to_json()),
            "weights": weights.to_dict(),
            "precision": options.precision,
            "formulation": model.config.formulation,
            "options": {
                "outputs": options.outputs,
                "channels_last": options.channels_last,
                "image_io": options.image_io,
            },
            **_spec(artifact),
            "op_histogram": artifact.op_histogram,
            "delegate_report": _delegate_report(target, artifact),
            "parity": parity.to_dict(),
            "largest_activations": dict(
                sorted(activations.items(), key=lambda item: -item[1])[:10]
            ),
            "conversion_seconds": round(convert_seconds, 2),
            "sha256": artifact_sha256(staged),
        }
        manifest_file = publish(staged, destination, manifest)
    return ExportResult(target, destination, manifest_file, parity, manifest)


@dataclass(frozen=True)
class VerifyResult:
    artifact: Path
    sha256_matches: bool
    parity: ParityReport

    @property
    def passed(self) -> bool:
        return self.sha256_matches and self.parity.passed


def options_from_manifest(manifest: dict[str, Any]) -> ExportOptions:
    config, flags = manifest["config"], manifest["options"]
    origin = WeightsOrigin.from_dict(manifest["weights"])
    return ExportOptions(
        preset=manifest["preset"],
        height=config["height"],
        width=config["width"],
        precision=manifest["precision"],
        weights=origin.choice(),  # verify then compares the weights' sha256
        formulation=manifest["formulation"],
        outputs=flags["outputs"],
        channels_last=flags["channels_last"],
        image_io=flags["image_io"],
    )


def _read_manifest(artifact: Path) -> tuple[dict[str, Any], ExportOptions]:
    if not artifact.exists():
        raise ExportError(f"{artifact}: artifact not found")
    if not manifest_path(artifact).is_file():
        raise ExportError(
            f"{artifact}: no manifest beside it (an interrupted export, or not a dc2kit export); "
            "export it again"
        )
    try:
        manifest = read_manifest(artifact)
        options = options_from_manifest(manifest)
        _check_options(manifest["target"], options)
    except (ExportError, OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise ExportError(
            f"{manifest_path(artifact)}: not a readable dc2kit manifest ({first_line(error)})"
        ) from error
    return manifest, options


def verify_artifact(artifact: Path, step: Step = lambda _: None) -> VerifyResult:
    """Check an artifact is unchanged (sha256, first) and re-run its parity checks.

    An artifact its runtime cannot load or run raises an ExportError that also states the sha256
    verdict, so a damaged file is reported as changed rather than only as unloadable.
    """
    manifest, options = _read_manifest(artifact)
    step("checking sha256")
    sha256_matches = artifact_sha256(artifact) == manifest.get("sha256")
    model, origin = build_model(options)
    if origin.sha256 != manifest["weights"]["sha256"]:
        raise ExportError(f"{artifact}: weights file {origin.path} changed since export")
    step("checking parity")
    try:
        parity, _ = check_artifact(manifest["target"], artifact, model, options)
    except ExportError as error:
        sha = "matches the manifest" if sha256_matches else "differs from the manifest"
        detail = str(error).removeprefix(f"{artifact}: ")
        raise ExportError(f"{artifact}: sha256 {sha}; {detail}") from error
    return VerifyResult(artifact, sha256_matches, parity)
