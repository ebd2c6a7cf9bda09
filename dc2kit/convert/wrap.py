"""The module exporters convert: DC2Net with named, flat inputs and outputs.

Apps need only the final image; `outputs="all"` also exports every scale's fused image, refined
W and UW and both masks (for visualisation and debugging), named `<field>_<factor>`.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from torch import Tensor, nn

from dc2kit.convert.errors import ExportError
from dc2kit.convert.targets import EXPORTABLE_FORMULATIONS, OutputSet
from dc2kit.model import DC2Net
from dc2kit.model.dc2 import ScaleOutput
from dc2kit.model.defocus import SCALE_FACTORS
from dc2kit.model.kernel_predict import KernelPredict

INPUT_NAMES = ("w", "uw", "defocus_w", "defocus_t")


class IODescription(NamedTuple):
    description: str
    value_range: tuple[float, float | None]  # None: unbounded above


_INPUTS = {
    "w": IODescription("wide (W) camera RGB image", (-1.0, 1.0)),
    "uw": IODescription("ultra-wide (UW) RGB image, aligned to W", (-1.0, 1.0)),
    "defocus_w": IODescription("blur radius of the input W in pixels, ≥ 0", (0.0, None)),
    "defocus_t": IODescription("target blur radius in pixels, ≥ 0", (0.0, None)),
    "image": IODescription("rendered W at the target blur", (-1.0, 1.0)),
}
_SCALE_FIELDS = {
    "fused": IODescription("fused W/UW image at 1/{f} scale", (-1.0, 1.0)),
    "refined_w": IODescription("W refined towards the target defocus at 1/{f} scale", (-1.0, 1.0)),
    "refined_uw": IODescription(
        "UW refined towards the target defocus at 1/{f} scale", (-1.0, 1.0)
    ),
    "mask_w": IODescription("blending weight of the refined W at 1/{f} scale", (0.0, 1.0)),
    "mask_uw": IODescription("blending weight of the refined UW at 1/{f} scale", (0.0, 1.0)),
}


def describe(name: str) -> IODescription:
    """What an exported input or output holds and its intended value range (units included).

    Refined images are nominally in [-1, 1]; only the final `image` is clamped to it.
    """
    if name in _INPUTS:
        return _INPUTS[name]
    field, factor = name.rsplit("_", 1)
    about = _SCALE_FIELDS[field]
    return IODescription(about.description.format(f=factor), about.value_range)


def output_names(outputs: OutputSet) -> tuple[str, ...]:
    if outputs == "image":
        return ("image",)
    per_scale = tuple(
        f"{field}_{factor}" for factor in SCALE_FACTORS for field in ScaleOutput._fields
    )
    return ("image", *per_scale)


class ExportWrapper(nn.Module):
    """`forward(w, uw, defocus_w, defocus_t)` → a tuple of tensors in `output_names` order."""

    def __init__(self, model: DC2Net, outputs: OutputSet = "image") -> None:
        super().__init__()
        self.model = model
        self.outputs = outputs
        self.input_names = INPUT_NAMES
        self.output_names = output_names(outputs)

    def forward(
        self, w: Tensor, uw: Tensor, defocus_w: Tensor, defocus_t: Tensor
    ) -> tuple[Tensor, ...]:
        result = self.model(w, uw, defocus_w, defocus_t)
        if self.outputs == "image":
            return (result.image,)
        return (result.image, *(t for scale in result.scales for t in scale))


def refuse_unexportable(model: nn.Module, path: Path) -> None:
    """Both exporters lower only strictly 4-D formulations, and refuse others in the same words.

    `reference` is written with `unfold` and a replicate-mode pad, which lower to gathers (TFLite)
    or would silently become another formulation's graph (Core ML); it is for tests only.
    """
    refused = sorted(
        {m.formulation for m in model.modules() if isinstance(m, KernelPredict)}
        - set(EXPORTABLE_FORMULATIONS)
    )
    if refused:
        raise ExportError(
            f"{path}: kernel-prediction formulation {refused[0]!r} cannot be exported (unfold and "
            f"replicate padding have no portable lowering); build the model with one of "
            f"{', '.join(EXPORTABLE_FORMULATIONS)}"
        )
