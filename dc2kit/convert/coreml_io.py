"""Core ML inputs and outputs: their specs, their coremltools types, and the image-range output.

Tensor mode: `w`/`uw` RGB in [-1, 1], defocus maps in pixels, `image` in [-1, 1], in the compute
precision's dtype. Image mode: `w`/`uw` are RGB images (0–255, mapped to [-1, 1] by the model's
preprocessing: scale 1/127.5, bias −1), the defocus maps are GRAYSCALE_FLOAT16 images holding the
radius in pixels, and `image` is an RGB image: the exported graph appends `(x + 1) · 127.5`
(`ImageRangeOutput`), since Core ML output images take no scale or bias.
"""

from __future__ import annotations

import coremltools as ct
import numpy as np
from torch import Tensor, nn

from dc2kit.convert.artifact import Layout, TensorSpec
from dc2kit.convert.wrap import INPUT_NAMES, ExportWrapper, describe
from dc2kit.model import DC2Net

# Tensor I/O follows the compute precision: fp16 multi-arrays (iOS 16+) spare the casts at the
# model's edges, and fp32 programs keep fp32 end to end.
TENSOR_DTYPES = {"fp16": "float16", "fp32": "float32"}
IMAGE_SCALE = 1.0 / 127.5  # 0–255 pixel → [-1, 1] model range, with IMAGE_BIAS
IMAGE_BIAS = -1.0
LAYOUT: Layout = "NCHW"

CoreMLType = ct.TensorType | ct.ImageType


class ImageRangeOutput(nn.Module):
    """Maps the `image` output from [-1, 1] to 0–255, the range a Core ML RGB output image holds."""

    def __init__(self, wrapper: ExportWrapper) -> None:
        super().__init__()
        self.wrapper = wrapper

    def forward(
        self, w: Tensor, uw: Tensor, defocus_w: Tensor, defocus_t: Tensor
    ) -> tuple[Tensor, ...]:
        image, *rest = self.wrapper(w, uw, defocus_w, defocus_t)
        return ((image + 1.0) * 127.5, *rest)


def input_specs(model: DC2Net, image_io: bool, tensor_dtype: str) -> tuple[TensorSpec, ...]:
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
        specs.append(TensorSpec(name, kind, shape, dtype, LAYOUT, value_range, description))
    return tuple(specs)


def output_specs(
    model: DC2Net, wrapper: ExportWrapper, image_io: bool, tensor_dtype: str
) -> tuple[TensorSpec, ...]:
    h, w = model.config.height, model.config.width
    shape, description = (1, 3, h, w), describe("image").description
    if image_io:
        final = TensorSpec("image", "image", shape, "uint8", LAYOUT, (0.0, 255.0), description)
    else:
        final = TensorSpec("image", "tensor", shape, tensor_dtype, LAYOUT, (-1.0, 1.0), description)
    specs = [final]
    for name in wrapper.output_names[1:]:
        field, factor = name.rsplit("_", 1)
        about = describe(name)
        channels = 1 if field.startswith("mask") else 3
        shape = (1, channels, h // int(factor), w // int(factor))
        specs.append(
            TensorSpec(
                name, "tensor", shape, tensor_dtype, LAYOUT, about.value_range, about.description
            )
        )
    return tuple(specs)


def range_text(spec: TensorSpec) -> str:
    """An I/O description for the model's metadata: meaning, kind, layout, shape and range."""
    low, high = spec.value_range
    bound = f"≥ {low:g}" if high is None else f"{low:g} to {high:g}"
    return f"{spec.description}; {spec.kind} {spec.layout} {list(spec.shape)}, values {bound}"


def coreml_input_types(specs: tuple[TensorSpec, ...]) -> list[CoreMLType]:
    types: list[CoreMLType] = []
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


def coreml_output_types(specs: tuple[TensorSpec, ...]) -> list[CoreMLType]:
    return [
        ct.ImageType(name=s.name, color_layout=ct.colorlayout.RGB)
        if s.kind == "image"
        else ct.TensorType(name=s.name, dtype=np.dtype(s.dtype).type)
        for s in specs
    ]
