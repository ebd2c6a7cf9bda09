"""What the TFLite test files share: a seeded model and its parity check against PyTorch."""

import torch

from dc2kit.convert.parity import check_parity, parity_inputs, torch_runner
from dc2kit.convert.tflite import tflite_runner
from dc2kit.convert.wrap import ExportWrapper
from dc2kit.model import DC2Net, preset_config

HEIGHT, WIDTH = 64, 96
CALLS = 8  # kernel-prediction calls: 4 scales × 2 refiners


def tflite_test_model(
    preset: str, formulation: str, height: int = HEIGHT, width: int = WIDTH
) -> DC2Net:
    torch.manual_seed(0)
    return DC2Net(preset_config(preset, height, width, formulation=formulation)).eval()


def parity_with_torch(model: DC2Net, artifact, precision: str):
    """The export gate's check of `artifact` against `model` in PyTorch."""
    reference = ExportWrapper(model, "all" if len(artifact.outputs) > 1 else "image").eval()
    return check_parity(
        torch_runner(reference, reference.output_names),
        tflite_runner(artifact.path, channels_last=artifact.layout == "NHWC"),
        parity_inputs(model.config),
        runtime="litert",
        precision=precision,
    )
