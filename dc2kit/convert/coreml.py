"""Export DC2Net to a Core ML ML program (.mlpackage) through `torch.export`.

`torch.jit.trace` + `ct.convert` fails with torch 2.13, so the model goes through
`torch.export.export(...).run_decompositions({})`; the custom op `dc2kit::kernel_predict` survives
as one node and `dc2kit.convert.coreml_ops` (imported here, which registers it) lowers it to 4-D MIL
ops. The deployment floor is iOS 16 (iPhone 14 Pro shipped with it): ML program, fp16 compute by
default, fp16 grayscale image inputs.

I/O is NCHW with batch 1, as tensors or (`image_io=True`) as images: see
`dc2kit.convert.coreml_io`. Reading and running a saved package: `dc2kit.convert.coreml_package`.

Sizes are fixed: DC2Net bakes its radial mask (a function of the frame size and crop) into the
graph, so one model serves one resolution; export one model per size
(`DC2Net(config.with_size(h, w))`).

The saved package holds the spec and the weights only: coremltools also writes
`executorch_debug_handle_mapping.json` (a quarter of a small package), which no runtime reads.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import coremltools as ct
import torch
from torch import Tensor, nn

import dc2kit.convert.coreml_ops  # noqa: F401  (registers the kernel_predict translation)
from dc2kit import __version__
from dc2kit.atomic import atomic_output
from dc2kit.convert.artifact import CoreMLArtifact, TensorSpec
from dc2kit.convert.coreml_io import (
    LAYOUT,
    TENSOR_DTYPES,
    CoreMLType,
    ImageRangeOutput,
    coreml_input_types,
    coreml_output_types,
    input_specs,
    output_specs,
    range_text,
)
from dc2kit.convert.coreml_package import (
    CoreMLRuntimeUnavailableError,
    coreml_op_histogram,
    load_coreml_spec,
    predict_coreml,
)
from dc2kit.convert.errors import ExportError, first_line
from dc2kit.convert.export_checks import check_destination_folder, check_outputs, check_precision
from dc2kit.convert.manifest import weights_metadata
from dc2kit.convert.targets import Precision
from dc2kit.convert.wrap import ExportWrapper, OutputSet, refuse_unexportable
from dc2kit.model import DC2Net
from dc2kit.model.builder import WeightsOrigin

__all__ = [
    "COMPUTE_PRECISIONS",
    "CoreMLArtifact",
    "CoreMLRuntimeUnavailableError",
    "coreml_op_histogram",
    "export_coreml",
    "load_coreml_spec",
    "predict_coreml",
]

COMPUTE_PRECISIONS: dict[str, ct.precision] = {  # one per PRECISIONS["coreml"]
    "fp16": ct.precision.FLOAT16,
    "fp32": ct.precision.FLOAT32,
}
DEPLOYMENT_TARGET = ct.target.iOS16
DEBUG_MAPPING = "executorch_debug_handle_mapping.json"  # coremltools' op map, read by nothing


# ----------------------------------------------------------------------------- conversion


def export_program(module: nn.Module, example: tuple[Tensor, ...], path: Path):
    """`module` as a decomposed torch.export program (what `ct.convert` takes)."""
    try:
        with torch.no_grad():
            return torch.export.export(module, example).run_decompositions({})
    except Exception as error:
        raise ExportError(f"{path}: torch.export failed ({first_line(error)})") from error


def convert_program(
    program,
    inputs: list[CoreMLType],
    outputs: list[CoreMLType],
    precision: Precision,
    path: Path,
) -> ct.models.MLModel:
    """The iOS 16 ML program of a torch.export `program` (not loaded: Linux has no Core ML)."""
    try:
        return ct.convert(
            program,
            convert_to="mlprogram",
            minimum_deployment_target=DEPLOYMENT_TARGET,
            compute_precision=COMPUTE_PRECISIONS[precision],
            inputs=inputs,
            outputs=outputs,
            skip_model_load=True,
        )
    except Exception as error:
        raise ExportError(f"{path}: Core ML conversion failed ({first_line(error)})") from error


def _describe(
    mlmodel: ct.models.MLModel,
    model: DC2Net,
    inputs: tuple[TensorSpec, ...],
    outputs: tuple[TensorSpec, ...],
    output_set: OutputSet,
    image_io: bool,
    weights: dict[str, str],
) -> None:
    config = model.config
    mlmodel.short_description = (
        f"DC² dual-camera defocus control ({config.preset} preset, {config.height}×{config.width}, "
        f"k={config.kernel_size}): renders the wide image at a target blur from W, aligned UW "
        f"and the two defocus maps. Weights: {weights['dc2kit.weights']}."
    )
    mlmodel.author = "dc2kit"
    mlmodel.license = "Apache-2.0"
    mlmodel.version = __version__
    for spec in inputs:
        mlmodel.input_description[spec.name] = range_text(spec)
    for spec in outputs:
        mlmodel.output_description[spec.name] = range_text(spec)
    mlmodel.user_defined_metadata.update(
        {
            "dc2kit.config": config.to_json(),
            "dc2kit.formulation": config.formulation,
            "dc2kit.outputs": output_set,
            "dc2kit.image_io": str(image_io).lower(),
            "dc2kit.layout": LAYOUT,
            **weights,
        }
    )


# ----------------------------------------------------------------------------- saving


def check_destination(path: Path) -> None:
    if path.suffix != ".mlpackage":
        raise ExportError(f"{path}: a Core ML ML program must be saved as a .mlpackage")
    check_destination_folder(path)


def save_package(mlmodel: ct.models.MLModel, path: Path) -> None:
    """Build the package beside `path`, then swap it in; an existing one goes only on success."""
    try:
        with atomic_output(path, directory=True) as temporary:
            mlmodel.save(str(temporary))
            (temporary / DEBUG_MAPPING).unlink(missing_ok=True)
    except Exception as error:
        raise ExportError(f"{path}: cannot save the ML program ({first_line(error)})") from error


# ----------------------------------------------------------------------------- public API


def _check_arguments(model: DC2Net, path: Path, precision: str, outputs: str) -> None:
    if not isinstance(model, DC2Net):
        raise ExportError(f"{path}: export_coreml takes a DC2Net, got {type(model).__name__}")
    check_precision("coreml", precision, subject=path)
    check_outputs(outputs, subject=path)
    refuse_unexportable(model, path)
    check_destination(path)


def export_coreml(
    model: DC2Net,
    path: str | os.PathLike[str],
    *,
    precision: Precision = "fp16",
    image_io: bool = False,
    outputs: OutputSet = "image",
    weights: WeightsOrigin | None = None,
) -> CoreMLArtifact:
    """Convert `model` to an iOS 16 ML program at `path` (.mlpackage), written atomically.

    `weights` (from `build_dc2`) goes into the description and metadata, RANDOM weights said so.

    Raises `ExportError` (one line) for bad arguments, converter failures and unwritable paths;
    nothing is left at `path` when it fails (an existing package there is kept).
    """
    path = Path(path)
    _check_arguments(model, path, precision, outputs)
    wrapper = ExportWrapper(model, outputs)
    module: nn.Module = ImageRangeOutput(wrapper) if image_io else wrapper
    tensor_dtype = TENSOR_DTYPES[precision]
    in_specs = input_specs(model, image_io, tensor_dtype)
    out_specs = output_specs(model, wrapper, image_io, tensor_dtype)

    started = time.perf_counter()
    was_training = model.training
    model.eval()
    try:
        program = export_program(module, model.example_inputs(batch=1), path)
    finally:
        model.train(was_training)
    ct_types = coreml_input_types(in_specs), coreml_output_types(out_specs)
    mlmodel = convert_program(program, *ct_types, precision, path)
    _describe(mlmodel, model, in_specs, out_specs, outputs, image_io, weights_metadata(weights))
    save_package(mlmodel, path)
    seconds = time.perf_counter() - started

    return CoreMLArtifact(
        path=path,
        precision=precision,
        layout=LAYOUT,
        inputs=in_specs,
        outputs=out_specs,
        image_io=image_io,
        output_set=outputs,
        formulation=model.config.formulation,
        op_histogram=coreml_op_histogram(mlmodel),
        deployment_target=DEPLOYMENT_TARGET.name,
        coremltools_version=ct.__version__,
        conversion_seconds=seconds,
    )
