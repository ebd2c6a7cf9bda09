"""A saved .mlpackage: its spec and op histogram (anywhere), and Core ML predictions (macOS).

Elsewhere `dc2kit.convert.mil_executor` runs the saved program instead of Core ML.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Mapping
from typing import Any

import coremltools as ct
import numpy as np

from dc2kit.convert.errors import ExportError, first_line

_FLOAT16_ARRAY = ct.proto.FeatureTypes_pb2.ArrayFeatureType.FLOAT16


class CoreMLRuntimeUnavailableError(ExportError):
    """Core ML predictions need macOS; elsewhere use `dc2kit.convert.mil_executor`."""


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


def to_coreml_feature(description: Any, value: np.ndarray) -> Any:
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
    feed = {d.name: to_coreml_feature(d, inputs[d.name]) for d in descriptions}
    try:
        result = mlmodel.predict(feed)
    except Exception as error:
        raise ExportError(f"{path}: Core ML prediction failed ({first_line(error)})") from error
    return {name: _from_feature(value) for name, value in result.items()}
