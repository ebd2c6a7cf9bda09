"""The module exporters convert: DC2Net with named, flat inputs and outputs.

Apps need only the final image; `outputs="all"` also exports every scale's fused image, refined
W and UW and both masks (for visualisation and debugging), named `<field>_<factor>`.
"""

from __future__ import annotations

from typing import Literal

from torch import Tensor, nn

from dc2kit.model import DC2Net
from dc2kit.model.dc2 import ScaleOutput
from dc2kit.model.defocus import SCALE_FACTORS

OutputSet = Literal["image", "all"]
INPUT_NAMES = ("w", "uw", "defocus_w", "defocus_t")


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
