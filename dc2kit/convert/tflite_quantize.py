"""The TFLite precisions, applied to an fp32 flatbuffer by ai-edge-quantizer.

`fp32` as converted; `fp16` stores weights as float16 and dequantizes them at load (compute
stays float32); `int8` is dynamic-range quantization (int8 weights, activations quantized on the
fly by the hybrid kernels); `w8a8` is full-integer, calibrated (quantize.py). `quantize_tflite`
re-quantizes a published fp32 .tflite without tracing again (the benchmarks' path), checking a
w8a8 calibration set against the file's own inputs before calibrating.
"""

from __future__ import annotations

from pathlib import Path

from dc2kit.atomic import write_atomically
from dc2kit.convert.errors import ExportError, first_line
from dc2kit.convert.export_checks import check_destination_folder, check_precision
from dc2kit.convert.quantize import CalibrationSet, quantize_w8a8
from dc2kit.convert.targets import Precision
from dc2kit.convert.tflite_metadata import add_metadata, read_metadata

SIGNATURE = "render"


def required_calibration(
    precision: str, calibration: CalibrationSet | None, path: Path
) -> CalibrationSet:
    if calibration is None:
        raise ExportError(f"{path}: {precision} needs a calibration set")
    return calibration


def _quantization_recipe(precision: str) -> list[dict]:
    from ai_edge_quantizer import qtyping, recipe, recipe_manager
    from ai_edge_quantizer.algorithm_manager import AlgorithmName

    manager = recipe_manager.RecipeManager()
    if precision == "int8":
        manager.load_quantization_recipe(recipe.dynamic_wi8_afp32())
        # The im2col kernel prediction's one-hot gather (a 1 → k² conv, which TFLite stores as
        # DEPTHWISE_CONV_2D) stays float: XNNPACK has no hybrid depthwise kernel, and its
        # weights are 0 and 1 on k² × k² elements, nothing to save.
        manager.add_quantization_config(
            regex=".*",
            operation_name=qtyping.TFLOperationName.DEPTHWISE_CONV_2D,
            algorithm_key=AlgorithmName.NO_QUANTIZE,
        )
        return manager.get_quantization_recipe()
    manager.add_weight_only_config(
        regex=".*",
        operation_name=qtyping.TFLOperationName.ALL_SUPPORTED,
        num_bits=16,
        algorithm_key=AlgorithmName.FLOAT_CASTING,
    )
    return manager.get_quantization_recipe()


def quantize_flatbuffer(
    flatbuffer: bytes,
    precision: str,
    destination: Path,
    calibration: CalibrationSet | None = None,
    signature_name: str = SIGNATURE,
) -> bytes:
    """`flatbuffer` with fp16 (weight-only) or int8 (dynamic-range) weights, or full-integer
    (w8a8, calibrated on `calibration`: see quantize.py); fp32 as it is."""
    if precision == "fp32":
        return flatbuffer
    if precision == "w8a8":
        calibration = required_calibration(precision, calibration, destination)
        return quantize_w8a8(flatbuffer, calibration, signature_name, destination)
    from ai_edge_quantizer import quantizer

    try:
        model = quantizer.Quantizer(flatbuffer, _quantization_recipe(precision))
        result = model.quantize(enable_progress_bar=False, enable_progress_report=False)
    except Exception as error:
        raise ExportError(
            f"{destination}: {precision} quantization failed: {first_line(error)}"
        ) from error
    return bytes(result.quantized_model)


def _input_shapes(path: Path, signature_name: str) -> dict[str, tuple[int, ...]]:
    """The signature's inputs as LiteRT's interpreter reports them (layout as stored)."""
    from ai_edge_litert.interpreter import Interpreter

    try:
        runner = Interpreter(model_path=str(path)).get_signature_runner(signature_name)
    except (ValueError, RuntimeError) as error:
        raise ExportError(f"{path}: the LiteRT interpreter cannot load it ({error})") from error
    details = runner.get_input_details()
    return {name: tuple(int(d) for d in detail["shape"]) for name, detail in details.items()}


def quantize_tflite(
    source: str | Path,
    destination: str | Path,
    precision: Precision,
    calibration: CalibrationSet | None = None,
) -> Path:
    """Write `source` (an fp32 .tflite) at `precision` to `destination`, without re-tracing.

    A w8a8 `calibration` set must hold `source`'s inputs in its layout (NHWC for an NHWC file).
    """
    source, destination = Path(source), Path(destination)
    check_precision("tflite", precision, subject=destination)
    check_destination_folder(destination)
    try:
        flatbuffer = source.read_bytes()
    except OSError as error:
        raise ExportError(f"{source}: cannot read ({error.strerror or error})") from error
    description, entries = read_metadata(source)
    if precision == "w8a8":
        calibration = required_calibration(precision, calibration, destination)
        calibration = calibration.checked(_input_shapes(source, SIGNATURE), destination)
    ours = {name: text for name, text in entries.items() if name.startswith("dc2kit.")}
    quantized = quantize_flatbuffer(flatbuffer, precision, destination, calibration)
    write_atomically(destination, add_metadata(quantized, description, ours))
    return destination
