"""Export DC2Net to a Core ML ML program (.mlpackage) through `torch.export`.

`torch.jit.trace` + `ct.convert` fails with torch 2.13, so the model goes through
`torch.export.export(...).run_decompositions({})`; the custom op `dc2kit::kernel_predict` survives
as one node and `dc2kit.convert.coreml_ops` (imported here, which registers it) lowers it to 4-D MIL
ops. The deployment floor is iOS 16 (iPhone 14 Pro shipped with it): ML program, fp16 compute by
default, fp16 grayscale image inputs.

I/O is NCHW with batch 1. Tensor mode: `w`/`uw` RGB in [-1, 1], defocus maps in pixels, `image` in
[-1, 1]. Image mode (`image_io=True`): `w`/`uw` are RGB images (0–255, mapped to [-1, 1] by the
model's preprocessing: scale 1/127.5, bias −1), the defocus maps are GRAYSCALE_FLOAT16 images
holding the radius in pixels, and `image` is an RGB image: the exported graph appends
`(x + 1) · 127.5` so the output is in 0–255 (Core ML output images take no scale or bias).

Sizes are fixed: DC2Net bakes its radial mask (a function of the frame size and crop) into the
graph, so one model serves one resolution; export one model per size
(`DC2Net(config.with_size(h, w))`).

The saved package holds the spec and the weights only: coremltools also writes
`executorch_debug_handle_mapping.json` (a quarter of a small package), which no runtime reads.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import coremltools as ct
import numpy as np
import torch
from torch import Tensor, nn

import dc2kit.convert.coreml_ops  # noqa: F401  (registers the kernel_predict translation)
from dc2kit import __version__
from dc2kit.atomic import atomic_output
from dc2kit.convert.errors import ExportError, first_line
from dc2kit.convert.manifest import weights_metadata
from dc2kit.convert.targets import PRECISIONS, Precision
from dc2kit.convert.wrap import (
    INPUT_NAMES,
    ExportWrapper,
    OutputSet,
    describe,
    refuse_unexportable,
)
from dc2kit.model import DC2Net
from dc2kit.model.builder import WeightsOrigin

COMPUTE_PRECISIONS: dict[str, ct.precision] = {  # one per PRECISIONS["coreml"]
    "fp16": ct.precision.FLOAT16,
    "fp32": ct.precision.FLOAT32,
}
# Tensor I/O follows the compute precision: fp16 multi-arrays (iOS 16+) spare the casts at the
# model's edges, and fp32 programs keep fp32 end to end.
TENSOR_DTYPES = {"fp16": "float16", "fp32": "float32"}
DEPLOYMENT_TARGET = ct.target.iOS16
IMAGE_SCALE = 1.0 / 127.5  # 0–255 pixel → [-1, 1] model range, with IMAGE_BIAS
IMAGE_BIAS = -1.0
LAYOUT = "NCHW"
DEBUG_MAPPING = "executorch_debug_handle_mapping.json"  # coremltools' op map, read by nothing


class CoreMLRuntimeUnavailableError(ExportError):
    """Core ML predictions need macOS; elsewhere use `dc2kit.convert.mil_executor`."""


@dataclass(frozen=True)
class TensorSpec:
    """One model input or output as an app sees it (shape in `LAYOUT`, batch 1).

    `value_range` upper bound None means unbounded. Value ranges outside `[-1, 1]` for refined
    images are possible (only the final `image` is clamped); the stated range is the intended one.
    """

    name: str
    kind: Literal["tensor", "image"]
    shape: tuple[int, ...]
    dtype: str
    value_range: tuple[float, float | None]
    description: str
    layout: str = LAYOUT


@dataclass(frozen=True)
class CoreMLArtifact:
    """A written .mlpackage and everything an app or a report needs to know about it."""

    path: Path
    precision: Precision
    image_io: bool
    outputs: OutputSet
    formulation: str
    inputs: tuple[TensorSpec, ...]
    output_specs: tuple[TensorSpec, ...]
    op_histogram: dict[str, int]
    deployment_target: str
    coremltools_version: str
    conversion_seconds: float


class _ImageRangeOutput(nn.Module):
    """Maps the `image` output from [-1, 1] to 0–255, the range a Core ML RGB output image holds."""

    def __init__(self, wrapper: ExportWrapper) -> None:
        super().__init__()
        self.wrapper = wrapper

    def forward(
        self, w: Tensor, uw: Tensor, defocus_w: Tensor, defocus_t: Tensor
    ) -> tuple[Tensor, ...]:
        image, *rest = self.wrapper(w, uw, defocus_w, defocus_t)
        return ((image + 1.0) * 127.5, *rest)


# ----------------------------------------------------------------------------- I/O description


def _input_specs(model: DC2Net, image_io: bool, tensor_dtype: str) -> tuple[TensorSpec, ...]:
    h, w = model.config.height, model.config.width
    kind = "image" if image_io else "tensor"
    specs = []
    for name in INPUT_NAMES:
        description = describe(name).description
        if name in ("w", "uw"):
            value_range = (0.0, 255.0) if image_io else (-1.0, 1.0)
            dtype = "uint8" if image_io else tensor_dtype
            shape = (1, 3, h, w)
        else:
            value_range = (0.0, None)
            dtype = "float16" if image_io else tensor_dtype
            shape = (1, 1, h, w)
        specs.append(TensorSpec(name, kind, shape, dtype, value_range, description))
    return tuple(specs)


def _output_specs(
    model: DC2Net, wrapper: ExportWrapper, image_io: bool, tensor_dtype: str
) -> tuple[TensorSpec, ...]:
    h, w = model.config.height, model.config.width
    shape, description = (1, 3, h, w), "rendered W at the target blur"
    if image_io:
        final = TensorSpec("image", "image", shape, "uint8", (0.0, 255.0), description)
    else:
        final = TensorSpec("image", "tensor", shape, tensor_dtype, (-1.0, 1.0), description)
    specs = [final]
    for name in wrapper.output_names[1:]:
        field, factor = name.rsplit("_", 1)
        about = describe(name)
        value_range = about.value_range
        channels = 1 if field.startswith("mask") else 3
        shape = (1, channels, h // int(factor), w // int(factor))
        description = about.description
        specs.append(TensorSpec(name, "tensor", shape, tensor_dtype, value_range, description))
    return tuple(specs)


def _range_text(spec: TensorSpec) -> str:
    low, high = spec.value_range
    bound = f"≥ {low:g}" if high is None else f"{low:g} to {high:g}"
    return f"{spec.description}; {spec.kind} {spec.layout} {list(spec.shape)}, values {bound}"


# ----------------------------------------------------------------------------- conversion


def _ct_inputs(specs: tuple[TensorSpec, ...]) -> list[ct.TensorType | ct.ImageType]:
    types: list[ct.TensorType | ct.ImageType] = []
    for spec in specs:
        if spec.kind == "tensor":
            dtype = np.dtype(spec.dtype).type
            types.append(ct.TensorType(name=spec.name, shape=spec.shape, dtype=dtype))
        elif spec.shape[1] == 3:
            types.append(
                ct.ImageType(
                    name=spec.name,
                    shape=spec.shape,
                    scale=IMAGE_SCALE,
                    bias=[IMAGE_BIAS] * 3,
                    color_layout=ct.colorlayout.RGB,
                )
            )
        else:
            types.append(
                ct.ImageType(
                    name=spec.name,
                    shape=spec.shape,
                    color_layout=ct.colorlayout.GRAYSCALE_FLOAT16,
                )
            )
    return types


def _ct_outputs(specs: tuple[TensorSpec, ...]) -> list[ct.TensorType | ct.ImageType]:
    return [
        ct.ImageType(name=s.name, color_layout=ct.colorlayout.RGB)
        if s.kind == "image"
        else ct.TensorType(name=s.name, dtype=np.dtype(s.dtype).type)
        for s in specs
    ]


def _export_program(module: nn.Module, example: tuple[Tensor, ...], path: Path):
    try:
        with torch.no_grad():
            return torch.export.export(module, example).run_decompositions({})
    except Exception as error:
        raise ExportError(f"{path}: torch.export failed ({first_line(error)})") from error


def _convert(
    program,
    inputs: tuple[TensorSpec, ...],
    outputs: tuple[TensorSpec, ...],
    precision: Precision,
    path: Path,
) -> ct.models.MLModel:
    try:
        return ct.convert(
            program,
            convert_to="mlprogram",
            minimum_deployment_target=DEPLOYMENT_TARGET,
            compute_precision=COMPUTE_PRECISIONS[precision],
            inputs=_ct_inputs(inputs),
            outputs=_ct_outputs(outputs),
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
        mlmodel.input_description[spec.name] = _range_text(spec)
    for spec in outputs:
        mlmodel.output_description[spec.name] = _range_text(spec)
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


def _check_destination(path: Path) -> None:
    if path.suffix != ".mlpackage":
        raise ExportError(f"{path}: a Core ML ML program must be saved as a .mlpackage")
    if not path.parent.is_dir():
        raise ExportError(f"{path}: destination folder {path.parent} does not exist")


def _save_atomically(mlmodel: ct.models.MLModel, path: Path) -> None:
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
    if precision not in PRECISIONS["coreml"]:
        raise ExportError(
            f"{path}: precision must be one of {PRECISIONS['coreml']}, got {precision!r}"
        )
    if outputs not in ("image", "all"):
        raise ExportError(f"{path}: outputs must be 'image' or 'all', got {outputs!r}")
    refuse_unexportable(model, path)
    _check_destination(path)


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
    module: nn.Module = _ImageRangeOutput(wrapper) if image_io else wrapper
    tensor_dtype = TENSOR_DTYPES[precision]
    input_specs = _input_specs(model, image_io, tensor_dtype)
    output_specs = _output_specs(model, wrapper, image_io, tensor_dtype)

    started = time.perf_counter()
    was_training = model.training
    model.eval()
    try:
        program = _export_program(module, model.example_inputs(batch=1), path)
    finally:
        model.train(was_training)
    mlmodel = _convert(program, input_specs, output_specs, precision, path)
    _describe(
        mlmodel, model, input_specs, output_specs, outputs, image_io, weights_metadata(weights)
    )
    _save_atomically(mlmodel, path)
    seconds = time.perf_counter() - started

    return CoreMLArtifact(
        path=path,
        precision=precision,
        image_io=image_io,
        outputs=outputs,
        formulation=model.config.formulation,
        inputs=input_specs,
        output_specs=output_specs,
        op_histogram=coreml_op_histogram(mlmodel),
        deployment_target=DEPLOYMENT_TARGET.name,
        coremltools_version=ct.__version__,
        conversion_seconds=seconds,
    )


def load_coreml_spec(path: str | os.PathLike[str]) -> Any:
    """The saved model's protobuf spec; works on Linux (the model itself is not loaded)."""
    try:
        return ct.models.MLModel(str(path), skip_model_load=True).get_spec()
    except Exception as error:
        raise ExportError(f"{path}: not a readable Core ML model ({first_line(error)})") from error


def _count_block(block: Any, counts: Counter[str]) -> None:
    for operation in block.operations:
        counts[operation.type] += 1
        for inner in operation.blocks:
            _count_block(inner, counts)


def coreml_op_histogram(source: str | os.PathLike[str] | ct.models.MLModel | Any) -> dict[str, int]:
    """MIL op type → count over every function and block of an ML program (consts included).

    `source`: a path to a saved model, an `MLModel`, or a spec protobuf.
    """
    if isinstance(source, str | os.PathLike):
        spec = load_coreml_spec(source)
    elif isinstance(source, ct.models.MLModel):
        spec = source.get_spec()
    else:
        spec = source
    counts: Counter[str] = Counter()
    for function in spec.mlProgram.functions.values():
        for block in function.block_specializations.values():
            _count_block(block, counts)
    return dict(sorted(counts.items()))


_FLOAT16_ARRAY = ct.proto.FeatureTypes_pb2.ArrayFeatureType.FLOAT16


def _to_feature(description: Any, value: np.ndarray) -> Any:
    """A numpy NCHW array as Core ML's `predict` wants it: PIL images for image inputs."""
    from PIL import Image

    if description.type.WhichOneof("Type") != "imageType":
        fp16 = description.type.multiArrayType.dataType == _FLOAT16_ARRAY
        return np.asarray(value, dtype=np.float16 if fp16 else np.float32)
    if value.shape[1] == 3:
        pixels = np.clip(np.rint(value[0].transpose(1, 2, 0)), 0, 255).astype(np.uint8)
        return Image.fromarray(pixels, mode="RGB")
    return Image.fromarray(np.asarray(value[0, 0], dtype=np.float32), mode="F")


def _from_feature(value: Any) -> np.ndarray:
    array = np.asarray(value, dtype=np.float32)
    return array.transpose(2, 0, 1)[None] if array.ndim == 3 else array


def predict_coreml(
    path: str | os.PathLike[str], inputs: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Run a saved model with Core ML (macOS only) on NCHW numpy inputs; outputs as NCHW float32.

    Image inputs take 0–255 RGB or float grayscale arrays. Raises `CoreMLRuntimeUnavailableError` on
    other platforms, where `dc2kit.convert.mil_executor` runs the saved program instead.
    """
    if sys.platform != "darwin":
        raise CoreMLRuntimeUnavailableError(
            f"{path}: Core ML predictions need macOS (this is {sys.platform}); "
            "use dc2kit.convert.mil_executor"
        )
    mlmodel = ct.models.MLModel(str(path))
    descriptions = mlmodel.get_spec().description.input
    missing = sorted({d.name for d in descriptions} - set(inputs))
    if missing:
        raise ExportError(f"{path}: missing inputs {missing}")
    feed = {d.name: _to_feature(d, inputs[d.name]) for d in descriptions}
    try:
        result = mlmodel.predict(feed)
    except Exception as error:
        raise ExportError(f"{path}: Core ML prediction failed ({first_line(error)})") from error
    return {name: _from_feature(value) for name, value in result.items()}
