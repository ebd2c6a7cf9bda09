"""The app-io graph as an ML program: image-type photos in and out, an fp16 disparity image.

An app hands Core ML pixel buffers, not tensors: `w` and `uw` are RGB image inputs (Core ML reads
a BGRA/ARGB buffer and the program applies scale 1/127.5 and bias −1, ops coremltools writes into
it), the output `image` is an RGB image (the graph has already rounded it to whole 0–255 values).
The disparity map is a GRAYSCALE_FLOAT16 image (a OneComponent16Half buffer) rather than a float
tensor: iOS delivers depth as a CVPixelBuffer (AVDepthData converted to DisparityFloat16 holds the
same half-float bytes), so the app crops and scales it with the same tools it uses on the photos
and hands the buffer over; an fp16 program rounds it to fp16 at its first op anyway. The scalars
are (1,) float32 multi-arrays.

Here Core ML predicts on macOS only; elsewhere `mil_executor` runs the saved program, fp16
emulated, from the same pixels (`program_inputs`).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

import coremltools as ct
import numpy as np
import torch

from dc2kit.convert.app_io import (
    IMAGE_NAMES,
    INPUT_NAMES,
    OUTPUT_NAME,
    SCALAR_NAMES,
    AppIOGraph,
)
from dc2kit.convert.coreml import (
    DEPLOYMENT_TARGET,
    check_destination,
    convert_program,
    export_program,
    save_package,
)
from dc2kit.convert.coreml_io import IMAGE_BIAS, IMAGE_SCALE, CoreMLType
from dc2kit.convert.manifest import weights_metadata
from dc2kit.model import DC2Net
from dc2kit.model.builder import WeightsOrigin

LAYOUT = "NCHW"  # the program's tensors; the app sees pixel buffers (`AppInputs.pixel_buffers`)
Feeds = Mapping[str, np.ndarray]


def _input_types(height: int, width: int) -> list[CoreMLType]:
    images = [
        ct.ImageType(
            name=name,
            shape=(1, 3, height, width),
            scale=IMAGE_SCALE,
            bias=[IMAGE_BIAS] * 3,
            color_layout=ct.colorlayout.RGB,
        )
        for name in IMAGE_NAMES
    ]
    disparity = ct.ImageType(
        name="disparity",
        shape=(1, 1, height, width),
        color_layout=ct.colorlayout.GRAYSCALE_FLOAT16,
    )
    scalars = [ct.TensorType(name=name, shape=(1,), dtype=np.float32) for name in SCALAR_NAMES]
    return [*images, disparity, *scalars]


def _example(model: DC2Net) -> tuple[torch.Tensor, ...]:
    """Tracing inputs in the graph's NCHW form (values do not matter)."""
    h, w = model.config.height, model.config.width
    images = (torch.zeros(1, 3, h, w),) * len(IMAGE_NAMES)
    return (*images, torch.ones(1, 1, h, w), *(torch.ones(1) for _ in SCALAR_NAMES))


def export_app_coreml(
    model: DC2Net, path: Path, precision: str, weights: WeightsOrigin | None
) -> None:
    """Convert the app-io graph of `model` to an iOS 16 .mlpackage at `path` (atomically)."""
    check_destination(path)
    config = model.config
    graph = AppIOGraph(model.eval(), LAYOUT).eval()
    program = export_program(graph, _example(model), path)
    outputs = [ct.ImageType(name=OUTPUT_NAME, color_layout=ct.colorlayout.RGB)]
    mlmodel = convert_program(
        program, _input_types(config.height, config.width), outputs, precision, path
    )
    entries = weights_metadata(weights)
    mlmodel.short_description = (
        f"DC² defocus control, app I/O ({config.preset}, {config.width}x{config.height} tiles, "
        f"{DEPLOYMENT_TARGET.name}); weights: {entries['dc2kit.weights']}"
    )
    mlmodel.author = "dc2kit"
    mlmodel.user_defined_metadata.update({**entries, "dc2kit.app_io": "true"})
    save_package(mlmodel, path)


def program_inputs(feeds: Feeds) -> dict[str, np.ndarray]:
    """Pixel buffers → the tensors the program's main function receives from Core ML: images as
    (1, 3, H, W) float 0–255, the disparity image as (1, 1, H, W), scalars as they are."""
    tensors = {name: np.asarray(feeds[name], np.float32) for name in SCALAR_NAMES}
    for name in IMAGE_NAMES:
        tensors[name] = np.asarray(feeds[name]).transpose(2, 0, 1)[None].astype(np.float32)
    tensors["disparity"] = np.asarray(feeds["disparity"], np.float32)[None, None]
    return {name: tensors[name] for name in INPUT_NAMES}


def to_output_pixels(image: np.ndarray) -> np.ndarray:
    """The (1, 3, H, W) output image as the app reads its buffer: (1, H, W, 3) uint8 RGB."""
    return np.clip(np.rint(image), 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)


def app_coreml_runner(path: Path, precision: str):
    """Pixel buffers → {"image": (1, H, W, 3) uint8}, and the runtime's name: Core ML on macOS,
    the MIL executor (fp16 emulated for an fp16 program) elsewhere."""
    if sys.platform == "darwin":
        from dc2kit.convert.coreml_package import predict_coreml

        def predict(tensors: Feeds) -> np.ndarray:
            return predict_coreml(path, tensors)[OUTPUT_NAME]

        runtime = "Core ML (MLModel.predict)"
    else:
        from dc2kit.convert.mil_executor import execute, load_program

        program = load_program(path)
        fp16 = precision == "fp16"

        def predict(tensors: Feeds) -> np.ndarray:
            return execute(program, tensors, fp16=fp16).outputs[OUTPUT_NAME]

        runtime = f"dc2kit ML-program executor ({'fp16 emulation' if fp16 else 'fp32'})"

    def run(feeds: Feeds) -> dict[str, np.ndarray]:
        return {OUTPUT_NAME: to_output_pixels(predict(program_inputs(feeds)))}

    return run, runtime
