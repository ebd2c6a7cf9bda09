"""Export DC2Net to TFLite with litert-torch, run the artifact in LiteRT, and report its ops.

Every kernel-prediction call is lowered as `tflite_lowering` says (`kernel_predict`): by default
(`DEFAULT_KERNEL_PREDICT`, what `export` ships) as `ops`, the formulation's strictly 4-D torch
graph inlined as plain ops, which XNNPACK and the GPU delegates take whole; with `composite`, one
StableHLO composite `dc2kit.kernel_predict` (attributes `k` and `formulation`) around that graph,
so the .tflite holds one `STABLEHLO_COMPOSITE` op per call plus a decomposition subgraph (the CPU
interpreter runs the decomposition, an NPU compiler may map the named op to a native kernel).

Running an artifact (`run_tflite`, `tflite_runner`) lives in `tflite_runtime`, the precisions
(`quantize_flatbuffer`, `quantize_tflite`: fp32, fp16, int8, w8a8) in `tflite_quantize`; both are
re-exported here.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import metadata
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from dc2kit.atomic import write_atomically
from dc2kit.convert.artifact import Layout, TensorSpec, TFLiteArtifact
from dc2kit.convert.errors import ExportError, first_line
from dc2kit.convert.export_checks import (
    check_destination_folder,
    check_lowering,
    check_outputs,
    check_precision,
)
from dc2kit.convert.manifest import weights_metadata
from dc2kit.convert.quantize import CalibrationSet
from dc2kit.convert.targets import DEFAULT_KERNEL_PREDICT, KernelPredictLowering, Precision
from dc2kit.convert.tflite_lowering import (
    COMPOSITE_NAME,
    CompositeKernelPredict,
    with_lowered_kernel_predict,
)
from dc2kit.convert.tflite_metadata import add_metadata
from dc2kit.convert.tflite_quantize import (
    quantize_flatbuffer,
    quantize_tflite,
    required_calibration,
)
from dc2kit.convert.tflite_report import (
    TFLiteReport,
    analyze_tflite,
    composite_names,
    count_ops,
    read_tflite_subgraphs,
    tflite_op_histogram,
)
from dc2kit.convert.tflite_runtime import run_tflite, tflite_runner
from dc2kit.convert.wrap import (
    INPUT_NAMES,
    ExportWrapper,
    OutputSet,
    describe,
    refuse_unexportable,
)
from dc2kit.model import DC2Net
from dc2kit.model.builder import WeightsOrigin

__all__ = [
    "COMPOSITE_NAME",
    "CompositeKernelPredict",
    "TFLiteArtifact",
    "TFLiteReport",
    "TensorSpec",
    "analyze_tflite",
    "convert_module",
    "export_tflite",
    "quantize_flatbuffer",
    "quantize_tflite",
    "run_tflite",
    "tflite_op_histogram",
    "tflite_runner",
]

_TOOL_PACKAGES = ("torch", "litert-torch", "ai-edge-litert", "ai-edge-quantizer")


class NamedSignature(nn.Module):
    """Keyword inputs and a dict of outputs: litert-torch names signature tensors after them.

    With `channels_last`, litert-torch's I/O wrapper takes NHWC inputs and returns NHWC outputs:
    the layout change moves into the graph, where the converter folds it into its own NCHW↔NHWC
    transposes at the outputs. Inputs still pass one: litert-torch 0.10 keeps composite
    boundaries (and `expand`) NCHW, and `w`/`uw` feed kernel-prediction composites.
    """

    def __init__(self, wrapper: ExportWrapper, channels_last: bool) -> None:
        super().__init__()
        self.output_names = wrapper.output_names
        if channels_last:
            from litert_torch import to_channel_last_io

            everything_in = list(range(len(wrapper.input_names)))
            everything_out = list(range(len(wrapper.output_names)))
            self.body = to_channel_last_io(wrapper, args=everything_in, outputs=everything_out)
        else:
            self.body = wrapper

    def forward(
        self, w: Tensor, uw: Tensor, defocus_w: Tensor, defocus_t: Tensor
    ) -> dict[str, Tensor]:
        outputs = self.body(w, uw, defocus_w, defocus_t)
        return dict(zip(self.output_names, outputs, strict=True))


def _check_arguments(path: Path, precision: str, outputs: str, kernel_predict: str) -> None:
    """The request's refusals (`export_checks`), naming `path`."""
    check_precision("tflite", precision, subject=path)
    check_outputs(outputs, subject=path)
    check_lowering(precision, kernel_predict, subject=path)
    check_destination_folder(path)


def _sample_inputs(model: DC2Net, channels_last: bool) -> dict[str, Tensor]:
    inputs = model.example_inputs()
    if channels_last:
        inputs = tuple(t.permute(0, 2, 3, 1).contiguous() for t in inputs)
    return dict(zip(INPUT_NAMES, inputs, strict=True))


def convert_module(
    module: nn.Module, sample: dict[str, Tensor], signature_name: str, destination: Path
) -> bytes:
    """The fp32 flatbuffer of `module` traced on keyword `sample` inputs, one named signature;
    any converter failure is an ExportError naming `destination`, on one line."""
    import litert_torch

    try:
        with torch.no_grad():
            converter = litert_torch.signature(signature_name, module, sample_kwargs=sample)
            return converter.convert().model_content()
    except Exception as error:
        raise ExportError(
            f"{destination}: litert-torch conversion failed: {first_line(error)}"
        ) from error


def _tensor_spec(name: str, detail: Mapping, layout: Layout) -> TensorSpec:
    about = describe(name)
    shape = tuple(int(d) for d in detail["shape"])
    dtype = np.dtype(detail["dtype"]).name
    return TensorSpec(name, "tensor", shape, dtype, layout, about.value_range, about.description)


def _signature_specs(
    path: Path, signature_name: str, layout: Layout
) -> tuple[tuple[TensorSpec, ...], ...]:
    """(inputs, outputs) of the signature, as the interpreter reports them."""
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=str(path)).get_signature_runner(signature_name)
    return tuple(
        tuple(_tensor_spec(name, detail, layout) for name, detail in details.items())
        for details in (runner.get_input_details(), runner.get_output_details())
    )


def _ordered(specs: tuple[TensorSpec, ...], names: tuple[str, ...]) -> tuple[TensorSpec, ...]:
    by_name = {spec.name: spec for spec in specs}
    return tuple(by_name[name] for name in names)


def _tool_versions() -> dict[str, str]:
    return {package: metadata.version(package) for package in _TOOL_PACKAGES}


def export_tflite(
    model: DC2Net,
    path: str | Path,
    *,
    precision: Precision = "fp32",
    channels_last: bool = False,
    outputs: OutputSet = "image",
    signature_name: str = "render",
    weights: WeightsOrigin | None = None,
    kernel_predict: KernelPredictLowering = DEFAULT_KERNEL_PREDICT,
    calibration: CalibrationSet | None = None,
) -> TFLiteArtifact:
    """Convert `model` to a .tflite at `path` with one named signature; nothing partial is left.

    Inputs `w, uw, defocus_w, defocus_t` and outputs named as `ExportWrapper`'s, NCHW or (with
    `channels_last`) NHWC. `weights` (from `build_dc2`) goes into the description and a metadata
    buffer, so RANDOM weights say so. `kernel_predict`: `ops` (default, as `export`) or `composite`
    (see tflite_lowering). `calibration` (NCHW model inputs): the w8a8 ranges. Raises `ExportError`
    for bad arguments and converter failures, `CalibrationError` for an unusable calibration set.
    """
    path = Path(path)
    _check_arguments(path, precision, outputs, kernel_predict)
    refuse_unexportable(model, path)
    if precision == "w8a8":
        calibration = required_calibration(precision, calibration, path)
    if calibration is not None:  # checked before the minute-long conversion
        shapes = {name: tuple(t.shape) for name, t in _sample_inputs(model, False).items()}
        calibration = calibration.checked(shapes, path, channels_last)
    wrapper = ExportWrapper(with_lowered_kernel_predict(model, kernel_predict), outputs).eval()
    module = NamedSignature(wrapper, channels_last).eval()
    flatbuffer = convert_module(module, _sample_inputs(model, channels_last), signature_name, path)
    entries = weights_metadata(weights)
    config = model.config
    description = (
        f"DC² dual-camera defocus control ({config.preset} preset, {config.height}×{config.width})"
        f"; weights: {entries['dc2kit.weights']}"
    )
    write_atomically(
        path,
        add_metadata(
            quantize_flatbuffer(flatbuffer, precision, path, calibration, signature_name),
            description,
            entries,
        ),
    )
    layout: Layout = "NHWC" if channels_last else "NCHW"
    inputs, outputs_ = _signature_specs(path, signature_name, layout)
    subgraphs = read_tflite_subgraphs(path)
    return TFLiteArtifact(
        path=path,
        precision=precision,
        layout=layout,
        signature_name=signature_name,
        inputs=_ordered(inputs, wrapper.input_names),
        outputs=_ordered(outputs_, wrapper.output_names),
        op_histogram=count_ops(subgraphs),
        composite_names=composite_names(subgraphs),
        converter_versions=_tool_versions(),
    )
