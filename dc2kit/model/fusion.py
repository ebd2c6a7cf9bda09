"""ASPP fusion: per scale, predict blending masks for the refined W and UW images, coarse to fine.

From docs/dc2-architecture.md §3. Table 1 of the DC² supplement is data (`ASPP_TABLE`); the three
readings of "atrous convolution layers" are layouts behind `FusionConfig.layout`:

- `sum` (default, DeepLab-v2): each layer is one 3×3 conv per rate, branches summed.
- `concat` (DeepLab-v3): each layer concatenates the rate branches, then a 1×1 projection.
- `chains`: one chain of layers per rate, the chains' logits summed at the end.

Masks are a 2-way softmax written as `m_W = sigmoid(z_W − z_UW)`, `m_UW = 1 − m_W` (exports
cleanly everywhere); finer scales add the upsampled coarser logits as a residual.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple, get_args

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dc2kit.model.errors import ConfigError
from dc2kit.model.layers import LEAKY_SLOPE, add_all, cat_nested, scale_width


class ASPPSpec(NamedTuple):
    factor: int
    rates: tuple[int, ...]
    channels: tuple[int, ...]  # per layer; the last is always 2 (logits for W and UW)


ASPP_TABLE = (
    ASPPSpec(8, (1, 3, 5), (16, 32, 2)),
    ASPPSpec(4, (1, 3, 6, 12), (16, 32, 2)),
    ASPPSpec(2, (1, 3, 6, 12, 15), (16, 32, 2)),
    ASPPSpec(1, (1, 3, 6, 12, 15, 18), (16, 32, 32, 2)),
)

FusionLayout = Literal["sum", "concat", "chains"]
FUSION_LAYOUTS: tuple[str, ...] = get_args(FusionLayout)


@dataclass(frozen=True)
class FusionConfig:
    width: float = 1.0  # multiplies the hidden widths (never the 2 logits)
    layout: FusionLayout = "sum"
    sees_defocus: bool = False  # also feed the target and the input W's defocus maps per scale

    def __post_init__(self) -> None:
        if self.layout not in FUSION_LAYOUTS:
            raise ConfigError(f"unknown fusion layout {self.layout!r}; choose {FUSION_LAYOUTS}")
        if not 0 < self.width <= 4:
            raise ConfigError(f"fusion width must be in (0, 4], got {self.width}")


def _atrous(in_channels: int, out_channels: int, rate: int) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, padding=rate, dilation=rate)


class AtrousLayer(nn.Module):
    """One conv per rate, branches summed (`sum`) or concatenated and projected (`concat`)."""

    def __init__(
        self, in_channels: int, out_channels: int, rates: tuple[int, ...], project: bool
    ) -> None:
        super().__init__()
        self.branches = nn.ModuleList(_atrous(in_channels, out_channels, r) for r in rates)
        self.project = nn.Conv2d(out_channels * len(rates), out_channels, 1) if project else None

    def forward(self, x: Tensor) -> Tensor:
        outputs = [branch(x) for branch in self.branches]
        if self.project is not None:
            return self.project(cat_nested(outputs, dim=1))
        return add_all(outputs)


def _layer_stack(layers: list[nn.Module]) -> nn.Sequential:
    """Layers with LeakyReLU between them, none after the logits."""
    modules: list[nn.Module] = []
    for index, layer in enumerate(layers):
        if index:
            modules.append(nn.LeakyReLU(LEAKY_SLOPE))
        modules.append(layer)
    return nn.Sequential(*modules)


class ASPPBlock(nn.Module):
    """The mask-logit predictor of one scale."""

    def __init__(self, spec: ASPPSpec, in_channels: int, config: FusionConfig) -> None:
        super().__init__()
        widths = [scale_width(c, config.width) for c in spec.channels[:-1]] + [2]
        if config.layout == "chains":
            self.chains = nn.ModuleList(
                _layer_stack(
                    [_atrous(cin, cout, rate) for cin, cout in _pairs(in_channels, widths)]
                )
                for rate in spec.rates
            )
            self.body = None
        else:
            project = config.layout == "concat"
            self.chains = None
            self.body = _layer_stack(
                [
                    AtrousLayer(cin, cout, spec.rates, project)
                    for cin, cout in _pairs(in_channels, widths)
                ]
            )

    def forward(self, x: Tensor) -> Tensor:
        if self.body is not None:
            return self.body(x)
        return add_all([chain(x) for chain in self.chains])


def _pairs(in_channels: int, widths: list[int]) -> list[tuple[int, int]]:
    ins = [in_channels, *widths[:-1]]
    return list(zip(ins, widths, strict=True))


class ScaleMasks(NamedTuple):
    logits: Tensor
    mask_w: Tensor
    mask_uw: Tensor
    fused: Tensor


class ASPPFusion(nn.Module):
    """Coarse-to-fine fusion of refined W and UW estimates at 1/8, 1/4, 1/2 and 1."""

    def __init__(self, config: FusionConfig) -> None:
        super().__init__()
        self.config = config
        extra = 2 if config.sees_defocus else 0  # the target and the input W's defocus maps
        self.blocks = nn.ModuleList(
            ASPPBlock(spec, 3 + 3 + 1 + extra + (0 if index == 0 else 2), config)
            for index, spec in enumerate(ASPP_TABLE)
        )

    def forward(
        self,
        refined_w: tuple[Tensor, ...],
        refined_uw: tuple[Tensor, ...],
        radial: tuple[Tensor, ...],
        defocus: tuple[Tensor, ...] = (),
    ) -> list[ScaleMasks]:
        """All arguments are per scale, coarse (1/8) to fine (1); `defocus` (2 channels: the
        target's and the input W's maps) only if seen. They come after the radial mask, so a
        fusion trained without them widens with zero weights (pretrained.init_from_dc2)."""
        results: list[ScaleMasks] = []
        for index, block in enumerate(self.blocks):
            parts = [refined_w[index], refined_uw[index]]
            upsampled = None
            if index > 0:
                upsampled = F.interpolate(
                    results[-1].logits, scale_factor=2.0, mode="bilinear", align_corners=False
                )
                parts.append(upsampled)
            parts.append(radial[index])
            if self.config.sees_defocus:
                parts.append(defocus[index])
            logits = block(torch.cat(parts, dim=1))
            if upsampled is not None:
                logits = logits + upsampled
            mask_w = torch.sigmoid(logits[:, 0:1] - logits[:, 1:2])
            mask_uw = 1.0 - mask_w
            fused = mask_w * refined_w[index] + mask_uw * refined_uw[index]
            results.append(ScaleMasks(logits, mask_w, mask_uw, fused))
        return results
