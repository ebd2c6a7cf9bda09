"""Full-integer (w8a8) TFLite: int8 weights and int8 activations, ranges from a calibration set.

ai-edge-quantizer's static recipe (min–max, int8 weights per channel, int8 activations per
tensor) applied to the fp32 flatbuffer after the interpreter has run the calibration set and
recorded every tensor's range. The range is the true minimum and maximum over the whole set
(`qsv_utils.min_max_update`), not the quantizer's default moving average (smoothing 0.95), which
forgets the early samples: on the mobile weights of sha256 ef912a7d0bbe at 64×64 the average
clipped the defocus inputs at 5.8 px of blur (the set reaches 13.8) and parity on the structured
scene was 18.8 dB; the true range gives 26.0 dB (random inputs 27.7 → 31.8 dB).

Each range then gets 20 % headroom (`RANGE_HEADROOM`, every tensor but the graph's inputs and
outputs): inputs unlike the set's drive activations past its extremes, and a clipped activation
errs by far more than a coarser step does. Measured on the mobile preset with `detail_skip` (an
intermediate checkpoint of the v5 run, sha256 7fe098a7b603) at 64×64: the structured scene drove
654 of the refiners' 1342 activation tensors past their calibrated range (the UW encoder's last
bottleneck conv to 2.2× it); parity random / structured went 33.0 / 30.4 dB → 33.1 / 33.0 dB
(×1.1: 33.3 / 32.4, ×1.3: 32.4 / 33.0, ×2: 28.7 / 29.6). Clipping each sample's 0.01 % tails
instead did not help (32.4 / 30.5).

The graph's inputs and outputs stay float32 (one QUANTIZE after each input, one DEQUANTIZE before
each output), so the artifact is a drop-in for the fp32 one; between them everything but
`FLOAT_OPS` (average pooling and UW's per-channel colour gain) runs in integers.

A range that is NaN or has zero width would give a scale of NaN or 0 and silently wreck the
artifact, so both are refused before quantizing, naming the tensor. Kernel prediction must be
lowered as plain ops (`--kernel-predict ops`): the quantizer leaves a STABLEHLO_COMPOSITE and its
decomposition float, and XNNPACK delegates neither, so a composite graph is refused too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dc2kit.convert.errors import ExportError, first_line
from dc2kit.convert.targets import W8A8_KERNEL_PREDICT

Arrays = dict[str, np.ndarray]
# Kept float32: the graph's inputs and outputs (a drop-in for the fp32 artifact), and the ops
# whose int8 form LiteRT 2.3's XNNPACK delegate leaves out: average pooling, and UW's colour gain
# (a DIV and a MAXIMUM on 3 per-channel means, model/colour.py). Measured on the mobile preset:
# 2 partitions with those two in int8, 1 (fully accelerated) with them float.
FLOAT_OPS = ("INPUT", "OUTPUT", "AVERAGE_POOL_2D", "DIV", "MAXIMUM")
RANGE_HEADROOM = 1.2  # every calibrated range widened so (see the module docstring)


class CalibrationError(ExportError):
    """A calibration set that cannot give int8 ranges: empty, non-finite, or degenerate."""


def _refuse_composites(flatbuffer: bytes, destination: Path) -> None:
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(flatbuffer, 0)
    composite = schema.BuiltinOperator.STABLEHLO_COMPOSITE
    codes = (model.OperatorCodes(i).BuiltinCode() for i in range(model.OperatorCodesLength()))
    if composite in codes:
        raise ExportError(
            f"{destination}: w8a8 needs --kernel-predict {W8A8_KERNEL_PREDICT}: the graph holds "
            "STABLEHLO_COMPOSITE ops, which can be neither quantized nor delegated to XNNPACK"
        )


@dataclass(frozen=True)
class CalibrationSet:
    """NCHW float32 model inputs by name, and where each came from (for the manifest)."""

    samples: tuple[Arrays, ...]
    sources: tuple[str, ...] = field(default=())

    def describe(self) -> dict[str, Any]:
        return {"samples": len(self.samples), "sources": list(self.sources)}

    def checked(
        self, shapes: Mapping[str, tuple[int, ...]], path: Path, channels_last: bool = False
    ) -> CalibrationSet:
        """This set if every sample holds exactly the model's NCHW inputs, all finite, and every
        input spans a range (else a CalibrationError naming `path`), in the artifact's layout
        (NHWC for `channels_last`). Cheap, so exporters run it before converting."""
        if not self.samples:
            raise CalibrationError(f"{path}: the calibration set is empty")
        for index, sample in enumerate(self.samples):
            given = {name: tuple(array.shape) for name, array in sample.items()}
            if given != dict(shapes):
                raise CalibrationError(
                    f"{path}: calibration sample {index} has inputs {given}, "
                    f"the model takes {dict(shapes)}"
                )
            for name, array in sample.items():
                if not np.isfinite(array).all():
                    raise CalibrationError(
                        f"{path}: calibration sample {index}: {name} holds NaN or inf"
                    )
        for name in shapes:
            low = min(float(sample[name].min()) for sample in self.samples)
            if low == max(float(sample[name].max()) for sample in self.samples):
                raise CalibrationError(
                    f"{path}: calibration input {name} is {low:g} everywhere in every sample: "
                    "a zero-width range has no int8 scale; use more varied calibration samples"
                )
        if not channels_last:
            return self
        samples = tuple(
            {name: array.transpose(0, 2, 3, 1) for name, array in sample.items()}
            for sample in self.samples
        )
        return CalibrationSet(samples, self.sources)


def check_ranges(ranges: Mapping[str, Mapping[str, Any]]) -> None:
    """Refuse a recorded range that is NaN/inf or of zero width (min == max)."""
    for tensor, stats in ranges.items():
        if "min" not in stats or "max" not in stats:
            continue
        low = np.asarray(stats["min"], np.float64)
        high = np.asarray(stats["max"], np.float64)
        if not (np.isfinite(low).all() and np.isfinite(high).all()):
            raise CalibrationError(
                f"calibration gives tensor {tensor!r} a non-finite range (NaN or inf)"
            )
        if bool(np.any(high - low <= 0.0)):
            value = float(low.flat[0])
            raise CalibrationError(
                f"calibration gives tensor {tensor!r} a zero-width range "
                f"(always {value:g}): no int8 scale exists; use more varied calibration samples"
            )


def graph_io_names(flatbuffer: bytes) -> frozenset[str]:
    """Names of every subgraph's input and output tensors."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(flatbuffer, 0)
    names = set()
    for s in range(model.SubgraphsLength()):
        graph = model.Subgraphs(s)
        ends = list(graph.InputsAsNumpy()) + list(graph.OutputsAsNumpy())
        names.update(graph.Tensors(int(i)).Name().decode() for i in ends)
    return frozenset(names)


def with_headroom(
    ranges: Mapping[str, Mapping[str, Any]], factor: float, kept: frozenset[str] = frozenset()
) -> dict[str, dict[str, Any]]:
    """`ranges` with each negative minimum and positive maximum times `factor` (a range on one
    side of zero stays there, so a [0, 1] tensor keeps its zero point); tensors in `kept` and
    entries without a range are copied as they are."""
    widened: dict[str, dict[str, Any]] = {}
    for tensor, stats in ranges.items():
        widened[tensor] = dict(stats)
        if tensor in kept or "min" not in stats or "max" not in stats:
            continue
        low, high = np.asarray(stats["min"]), np.asarray(stats["max"])
        widened[tensor]["min"] = np.where(low < 0, low * factor, low).astype(low.dtype)
        widened[tensor]["max"] = np.where(high > 0, high * factor, high).astype(high.dtype)
    return widened


def _static_recipe() -> list[dict]:
    """Static int8 everywhere except `FLOAT_OPS`."""
    from ai_edge_quantizer import qtyping, recipe_manager
    from ai_edge_quantizer.algorithm_manager import AlgorithmName

    manager = recipe_manager.RecipeManager()
    manager.add_static_config(
        regex=".*",
        operation_name=qtyping.TFLOperationName.ALL_SUPPORTED,
        activation_num_bits=8,
        weight_num_bits=8,
        algorithm_key=AlgorithmName.MIN_MAX_UNIFORM_QUANT,
    )
    for kept_float in FLOAT_OPS:
        manager.add_quantization_config(
            regex=".*",
            operation_name=getattr(qtyping.TFLOperationName, kept_float),
            algorithm_key=AlgorithmName.NO_QUANTIZE,
        )
    return manager.get_quantization_recipe()


def _float32(samples: Sequence[Arrays]) -> list[Arrays]:
    return [
        {name: np.ascontiguousarray(array, np.float32) for name, array in sample.items()}
        for sample in samples
    ]


def _calibrated_ranges(
    flatbuffer: bytes, recipe: list[dict], samples: Mapping[str, Sequence[Arrays]]
) -> dict[str, Any]:
    """Every tensor's min and max over all of `samples` (signature name → inputs)."""
    from ai_edge_quantizer import calibrator, recipe_manager
    from ai_edge_quantizer.utils import qsv_utils

    manager = recipe_manager.RecipeManager()
    manager.load_quantization_recipe(recipe)
    run = calibrator.Calibrator(flatbuffer, num_threads=1, qsv_update_func=qsv_utils.min_max_update)
    run.calibrate({name: _float32(arrays) for name, arrays in samples.items()}, manager)
    return run.get_model_qsvs()


def quantize_w8a8(
    flatbuffer: bytes, calibration: CalibrationSet, signature_name: str, destination: Path
) -> bytes:
    """`flatbuffer` (fp32) as a full-integer model calibrated on `calibration`.

    Raises `CalibrationError` for unusable ranges, `ExportError` for quantizer failures; both
    name `destination`.
    """
    from ai_edge_quantizer import quantizer

    _refuse_composites(flatbuffer, destination)
    try:
        recipe = _static_recipe()
        model = quantizer.Quantizer(flatbuffer, recipe)
        ranges = _calibrated_ranges(flatbuffer, recipe, {signature_name: calibration.samples})
        ranges = with_headroom(ranges, RANGE_HEADROOM, graph_io_names(flatbuffer))
    except Exception as error:
        raise ExportError(f"{destination}: w8a8 calibration failed: {first_line(error)}") from error
    try:
        check_ranges(ranges)
    except CalibrationError as error:
        raise CalibrationError(f"{destination}: {error}") from error
    try:
        result = model.quantize(ranges, enable_progress_bar=False, enable_progress_report=False)
    except Exception as error:
        raise ExportError(
            f"{destination}: w8a8 quantization failed: {first_line(error)}"
        ) from error
    return bytes(result.quantized_model)
