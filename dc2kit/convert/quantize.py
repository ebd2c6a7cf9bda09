"""Full-integer (w8a8) TFLite: int8 weights and int8 activations, ranges from a calibration set.

ai-edge-quantizer's static recipe (min–max, int8 weights per channel, int8 activations per
tensor) applied to the fp32 flatbuffer after the interpreter has run the calibration set and
recorded every tensor's range. The graph's inputs and outputs stay float32 (one QUANTIZE after
each input, one DEQUANTIZE before each output), so the artifact is a drop-in for the fp32 one;
NPUs and DSPs then run everything between them in integers.

A range that is NaN or has zero width would give a scale of NaN or 0 and silently wreck the
artifact, so both are refused before quantizing, naming the tensor.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dc2kit.convert.errors import ExportError, first_line

Arrays = dict[str, np.ndarray]
# Kept float32: the graph's inputs and outputs (a drop-in for the fp32 artifact), and average
# pooling, whose int8 form LiteRT 2.3's XNNPACK delegate leaves out (measured: 2 partitions).
FLOAT_OPS = ("INPUT", "OUTPUT", "AVERAGE_POOL_2D")


class CalibrationError(ExportError):
    """A calibration set that cannot give int8 ranges: empty, non-finite, or degenerate."""


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
        """This set if every sample holds exactly the model's NCHW inputs, all finite (else a
        CalibrationError naming `path`), in the artifact's layout (NHWC for `channels_last`)."""
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


def quantize_w8a8(
    flatbuffer: bytes, calibration: CalibrationSet, signature_name: str, destination: Path
) -> bytes:
    """`flatbuffer` (fp32) as a full-integer model calibrated on `calibration`.

    Raises `CalibrationError` for unusable ranges, `ExportError` for quantizer failures; both
    name `destination`.
    """
    from ai_edge_quantizer import quantizer

    try:
        model = quantizer.Quantizer(flatbuffer, _static_recipe())
        ranges = model.calibrate({signature_name: _float32(calibration.samples)}, num_threads=1)
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
