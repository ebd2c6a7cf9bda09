"""The export targets as a registry: how each converts, runs its artifact here, and reports.

`export` and `verify` look a target up in `EXPORT_TARGETS` and call the same three things for
either; the choices the command line offers are `targets.TARGETS` (torch-free), which a test
checks against this registry. Converters are imported when called, so choosing one target does
not load the other's toolchain.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from dc2kit.convert.artifact import Artifact
from dc2kit.convert.errors import ExportError
from dc2kit.convert.export_options import ExportOptions
from dc2kit.convert.parity import Arrays, Runner
from dc2kit.convert.targets import Target
from dc2kit.model import DC2Net
from dc2kit.model.builder import WeightsOrigin

GPU_ANALYZER_CAVEAT = (
    "ai-edge-litert 2.3's analyzer calls models with STABLEHLO_SORT or our STABLEHLO_COMPOSITE "
    "(which no GPU delegate runs) compatible: gpu_verdict is dc2kit's own, from the op list; "
    "confirm on a phone with benchmark_model --use_gpu=true --require_full_delegation=true"
)


class LoadedArtifact(NamedTuple):
    """An artifact ready to run on this machine on NCHW arrays in the model's value ranges."""

    run: Runner
    runtime: str  # its name, for the parity report
    activations: dict[str, float]  # largest activation per op, filled as it runs (if known)


@dataclass(frozen=True)
class ExportTarget:
    """One target: convert a model to an artifact, load that artifact here, report its delegates."""

    name: Target
    convert: Callable[[DC2Net, Path, ExportOptions, WeightsOrigin], Artifact]
    load: Callable[[Path, ExportOptions], LoadedArtifact]
    delegate_report: Callable[[Artifact], dict[str, Any]]


def _shared(options: ExportOptions, weights: WeightsOrigin) -> dict[str, Any]:
    """The keyword arguments both exporters take, from the options."""
    return {"precision": options.precision, "outputs": options.outputs, "weights": weights}


# ----------------------------------------------------------------------------- Core ML


def _convert_coreml(
    model: DC2Net, path: Path, options: ExportOptions, weights: WeightsOrigin
) -> Artifact:
    from dc2kit.convert.coreml import export_coreml

    return export_coreml(model, path, **_shared(options, weights), image_io=options.image_io)


def _coreml_execute(path: Path, precision: str) -> tuple[Runner, str, dict[str, float]]:
    """Core ML's own runtime on macOS; dc2kit's ML-program executor (fp16 emulated) elsewhere."""
    activations: dict[str, float] = {}
    if sys.platform == "darwin":
        from dc2kit.convert.coreml_package import predict_coreml

        def execute(arrays: Arrays) -> Arrays:
            return predict_coreml(path, arrays)

        return execute, "Core ML (MLModel.predict)", activations

    from dc2kit.convert.mil_executor import execute as run_program
    from dc2kit.convert.mil_executor import load_program

    program = load_program(path)
    fp16 = precision == "fp16"

    def execute_here(arrays: Arrays) -> Arrays:
        result = run_program(program, arrays, fp16=fp16)
        for op, value in result.max_abs_per_op.items():
            activations[op] = max(activations.get(op, 0.0), float(value))
        return result.outputs

    runtime = f"dc2kit ML-program executor ({'fp16 emulation' if fp16 else 'fp32'})"
    return execute_here, runtime, activations


def _load_coreml(path: Path, options: ExportOptions) -> LoadedArtifact:
    """The package's runtime here, fed and read in the model's ranges (0–255 for image I/O)."""
    execute, runtime, activations = _coreml_execute(path, options.precision)

    def run(arrays: Arrays) -> Arrays:
        if not options.image_io:
            return execute(arrays)
        feed = dict(arrays)
        for name in ("w", "uw"):
            feed[name] = (arrays[name] + 1.0) * 127.5
        outputs = dict(execute(feed))
        outputs["image"] = outputs["image"] / 127.5 - 1.0
        return outputs

    return LoadedArtifact(run, runtime, activations)


def _coreml_delegates(artifact: Artifact) -> dict[str, Any]:
    return {"coreml_op_histogram": artifact.op_histogram}


# ----------------------------------------------------------------------------- TFLite


def _convert_tflite(
    model: DC2Net, path: Path, options: ExportOptions, weights: WeightsOrigin
) -> Artifact:
    from dc2kit.convert.tflite import export_tflite

    return export_tflite(
        model,
        path,
        **_shared(options, weights),
        channels_last=options.channels_last,
        kernel_predict=options.kernel_predict,
        calibration=options.calibration,
    )


def _load_tflite(path: Path, options: ExportOptions) -> LoadedArtifact:
    """LiteRT's interpreter on NCHW arrays; a file it cannot load is an ExportError."""
    from dc2kit.convert.tflite import tflite_runner

    try:
        run = tflite_runner(path, channels_last=options.channels_last)
    except (ValueError, RuntimeError) as error:
        raise ExportError(f"{path}: the LiteRT interpreter cannot run it ({error})") from error
    return LoadedArtifact(run, "LiteRT interpreter", {})


def _tflite_delegates(artifact: Artifact) -> dict[str, Any]:
    """Ops, XNNPACK residency as LiteRT measures it, and our GPU verdict from the op list (the
    analyzer's own verdict is kept beside it, never taken as the answer)."""
    from dc2kit.convert.gpu_support import gpu_verdict
    from dc2kit.convert.residency import xnnpack_residency
    from dc2kit.convert.tflite_report import analyze_tflite

    report = analyze_tflite(artifact.path)
    verdict = gpu_verdict(report.subgraphs, report.gpu_compatible)
    return {
        "tflite_ops": report.op_histogram,
        "xnnpack_residency": xnnpack_residency(artifact.path).to_dict(),
        "gpu_delegable": verdict.delegable,
        "gpu_verdict": verdict.to_dict(),
        "gpu_analyzer_verdict": list(report.gpu_verdict),
        "gpu_analyzer_caveat": GPU_ANALYZER_CAVEAT,
    }


EXPORT_TARGETS: dict[Target, ExportTarget] = {
    "coreml": ExportTarget("coreml", _convert_coreml, _load_coreml, _coreml_delegates),
    "tflite": ExportTarget("tflite", _convert_tflite, _load_tflite, _tflite_delegates),
}
