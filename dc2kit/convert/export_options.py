"""What one export is asked for (`ExportOptions`), rebuilt from a manifest, so `export` and
`verify` build the same model from the same facts (the refusals are `export_checks`').
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dc2kit.convert.quantize import CalibrationSet
from dc2kit.convert.targets import (
    DEFAULT_FORMULATION,
    DEFAULT_KERNEL_PREDICT,
    SUFFIXES,
    KernelPredictLowering,
    Target,
)
from dc2kit.convert.wrap import OutputSet
from dc2kit.model import DC2Net
from dc2kit.model.builder import WeightsChoice, WeightsOrigin, build_dc2
from dc2kit.model.kernel_predict import Formulation


@dataclass(frozen=True)
class ExportOptions:
    preset: str
    height: int
    width: int
    precision: str
    weights: WeightsChoice = field(default_factory=WeightsChoice)  # shipped unless said otherwise
    formulation: Formulation = DEFAULT_FORMULATION
    outputs: OutputSet = "image"
    channels_last: bool = False  # TFLite: NHWC inputs and outputs
    image_io: bool = False  # Core ML: RGB image inputs and output, fp16 grayscale maps
    # TFLite: plain ops (default: XNNPACK and GPU delegates take the whole graph) or composites
    kernel_predict: KernelPredictLowering = DEFAULT_KERNEL_PREDICT
    # TFLite w8a8: the inputs its int8 ranges come from (dc2kit.calibration); not a switch.
    calibration: CalibrationSet | None = field(default=None, compare=False, repr=False)

    def artifact_name(self, target: Target) -> str:
        composite = target == "tflite" and self.kernel_predict == "composite"
        lowering = "_composite" if composite else ""
        stem = f"dc2_{self.preset}_{self.width}x{self.height}_{self.precision}{lowering}"
        return stem + SUFFIXES[target]

    def flags(self) -> dict[str, Any]:
        """The target-specific switches, as the manifest records them."""
        return {
            "outputs": self.outputs,
            "channels_last": self.channels_last,
            "image_io": self.image_io,
            "kernel_predict": self.kernel_predict,
            **({"calibration": self.calibration.describe()} if self.calibration else {}),
        }


def build_model(options: ExportOptions) -> tuple[DC2Net, WeightsOrigin]:
    """The PyTorch model to export and where its weights came from (for the manifest)."""
    size = (options.height, options.width)
    return build_dc2(options.preset, size, weights=options.weights, formulation=options.formulation)


def options_from_manifest(manifest: dict[str, Any]) -> ExportOptions:
    """The options an artifact was exported with, from its manifest (for `verify`)."""
    config, flags = manifest["config"], manifest["options"]
    origin = WeightsOrigin.from_dict(manifest["weights"])
    return ExportOptions(
        preset=manifest["preset"],
        height=config["height"],
        width=config["width"],
        precision=manifest["precision"],
        weights=origin.choice(),  # verify then compares the weights' sha256
        formulation=manifest["formulation"],
        outputs=flags["outputs"],
        channels_last=flags["channels_last"],
        image_io=flags["image_io"],
        kernel_predict=flags.get("kernel_predict", "composite"),  # manifests before the option
    )
