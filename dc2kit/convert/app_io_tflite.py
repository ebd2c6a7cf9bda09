"""The app-io graph as a .tflite: uint8 NHWC images in and out, float disparity and scalars.

Converted with litert-torch like `convert.tflite` (kernel-prediction calls lowered as
`--kernel-predict` says) and stored at the same precisions (`fp16`: float16 weights, float32
compute).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from torch import Tensor, nn

from dc2kit.atomic import write_atomically
from dc2kit.convert.app_io import INPUT_NAMES, OUTPUT_NAME, AppInputs, AppIOGraph
from dc2kit.convert.errors import ExportError
from dc2kit.convert.manifest import weights_metadata
from dc2kit.convert.targets import DEFAULT_KERNEL_PREDICT, KernelPredictLowering
from dc2kit.convert.tflite import convert_module, quantize_flatbuffer
from dc2kit.convert.tflite_lowering import with_lowered_kernel_predict
from dc2kit.convert.tflite_metadata import add_metadata
from dc2kit.model import DC2Net
from dc2kit.model.builder import WeightsOrigin

SIGNATURE = "render"
LAYOUT = "NHWC"


class _Named(nn.Module):
    """Keyword inputs and a named output: litert-torch names signature tensors after them."""

    def __init__(self, graph: AppIOGraph) -> None:
        super().__init__()
        self.app = graph

    def forward(self, **inputs: Tensor) -> dict[str, Tensor]:
        return {OUTPUT_NAME: self.app(*(inputs[name] for name in INPUT_NAMES))}


def sample_inputs(model: DC2Net) -> AppInputs:
    """Inputs of the right types and shapes for tracing (values do not matter)."""
    h, w = model.config.height, model.config.width
    image = np.zeros((h, w, 3), np.uint8)
    return AppInputs(image, image, np.ones((h, w), np.float32), 1.0, 1.0, 1.0, 0.0, 0, 0, h, w)


def export_app_tflite(
    model: DC2Net,
    path: Path,
    precision: str,
    weights: WeightsOrigin | None,
    kernel_predict: KernelPredictLowering = DEFAULT_KERNEL_PREDICT,
) -> None:
    """Convert the app-io graph of `model` to a .tflite at `path` (written atomically), its
    kernel-prediction calls lowered as `kernel_predict` says (see tflite_lowering)."""
    graph = AppIOGraph(with_lowered_kernel_predict(model, kernel_predict), LAYOUT).eval()
    feeds = sample_inputs(model).torch_feeds(LAYOUT)
    sample = dict(zip(INPUT_NAMES, feeds, strict=True))
    flatbuffer = convert_module(_Named(graph).eval(), sample, SIGNATURE, path)
    entries = weights_metadata(weights)
    config = model.config
    description = (
        f"DC² defocus control, app I/O ({config.preset}, {config.width}x{config.height} tiles); "
        f"weights: {entries['dc2kit.weights']}"
    )
    write_atomically(
        path, add_metadata(quantize_flatbuffer(flatbuffer, precision, path), description, entries)
    )


def app_tflite_runner(path: Path, threads: int = 2):
    """feeds (in the artifact's own dtypes) → {"image": uint8 NHWC}, in LiteRT's interpreter."""
    from ai_edge_litert.interpreter import Interpreter

    try:
        runner = Interpreter(model_path=str(path), num_threads=threads).get_signature_runner(
            SIGNATURE
        )
    except (ValueError, RuntimeError) as error:
        raise ExportError(f"{path}: the LiteRT interpreter cannot run it ({error})") from error

    def run(feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(runner(**{name: np.ascontiguousarray(v) for name, v in feeds.items()}))

    return run
