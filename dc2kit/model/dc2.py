"""DC2Net: two DRBNet refiners (W and UW, separate weights), ASPP fusion and the radial mask.

From docs/dc2-architecture.md. Sizes are fixed at construction (the radial mask and its pyramid
are constants of the graph); `forward` never reads a tensor's shape to compute, so the graph is
static for Core ML and TFLite.
"""

from __future__ import annotations

import json
from dataclasses import MISSING, Field, asdict, dataclass, fields, replace
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from dc2kit.model.colour import match_colour
from dc2kit.model.defocus import SCALE_FACTORS, defocus_pyramid, scale_pyramid
from dc2kit.model.drbnet import DRBNet, RefinerConfig
from dc2kit.model.errors import CheckpointError, ConfigError, InputShapeError
from dc2kit.model.fusion import ASPPFusion, FusionConfig, FusionLayout
from dc2kit.model.kernel_predict import Formulation
from dc2kit.model.radial import radial_mask


@dataclass(frozen=True)
class DC2Config:
    """Everything that defines a DC2Net, serialised inside its checkpoints.

    `height`/`width` are the model's input size. `full_height`/`full_width` and the crop offset
    place that input inside the original frame, so crops and tiles get the right radial mask.
    """

    height: int
    width: int
    preset: str = "custom"
    full_height: int | None = None
    full_width: int | None = None
    crop_top: int = 0
    crop_left: int = 0
    refiner_width_mult: float = 1.0
    kernel_size: int = 7
    residual_head_activation: bool = True
    branch_conditioning: bool = False  # also feed defocus_t and radial to each image branch
    formulation: Formulation = "shift"
    fusion_width_mult: float = 1.0
    fusion_layout: FusionLayout = "sum"
    fusion_sees_defocus: bool = False  # feed both defocus maps, per scale, to the fusion
    uw_colour_match: bool = False  # UW's per-channel gain matched to W's first (model/colour.py)
    detail_skip: bool = False  # refiners add the input's detail band at each finer scale

    def __post_init__(self) -> None:
        for name, value in (("height", self.height), ("width", self.width)):
            if value <= 0 or value % 8:
                raise ConfigError(f"{name} must be a positive multiple of 8, got {value}")
        if self.frame_height < self.crop_top + self.height or self.crop_top < 0:
            raise ConfigError(
                f"crop rows {self.crop_top}..{self.crop_top + self.height} "
                f"fall outside the full frame height {self.frame_height}"
            )
        if self.frame_width < self.crop_left + self.width or self.crop_left < 0:
            raise ConfigError(
                f"crop columns {self.crop_left}..{self.crop_left + self.width} "
                f"fall outside the full frame width {self.frame_width}"
            )
        self.refiner(3)  # validates width, kernel size, formulation
        self.fusion()

    @property
    def frame_height(self) -> int:
        return self.full_height if self.full_height is not None else self.height

    @property
    def frame_width(self) -> int:
        return self.full_width if self.full_width is not None else self.width

    def refiner(self, in_channels: int) -> RefinerConfig:
        return RefinerConfig(
            in_channels=in_channels,
            width=self.refiner_width_mult,
            kernel_size=self.kernel_size,
            residual_head_activation=self.residual_head_activation,
            branch_extra_channels=2 if self.branch_conditioning else 0,
            formulation=self.formulation,
            detail_skip=self.detail_skip,
        )

    def fusion(self) -> FusionConfig:
        return FusionConfig(
            width=self.fusion_width_mult,
            layout=self.fusion_layout,
            sees_defocus=self.fusion_sees_defocus,
        )

    def with_size(self, height: int, width: int) -> DC2Config:
        """The same network at another input size (a full frame unless re-cropped)."""
        return replace(
            self,
            height=height,
            width=width,
            full_height=None,
            full_width=None,
            crop_top=0,
            crop_left=0,
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> DC2Config:
        data: dict[str, Any] = json.loads(text)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise CheckpointError(f"checkpoint config has unknown fields {unknown}")
        for field in fields(cls):
            if field.name in data:
                _check_json_type(field, data[field.name])
        return cls(**data)


# JSON types a config field of each Python type accepts (an int is a valid float).
_JSON_TYPES: dict[type, tuple[type, ...]] = {int: (int,), float: (int, float), bool: (bool,)}


def _check_json_type(field: Field, value: Any) -> None:
    """Refuse a mistyped config value (e.g. a number as preset) before it builds a model."""
    default = field.default
    if value is None and default is None:
        return
    expected = int if default is MISSING or default is None else type(default)
    allowed = _JSON_TYPES.get(expected, (expected,))
    if not isinstance(value, allowed) or (isinstance(value, bool) and expected is not bool):
        raise CheckpointError(
            f"checkpoint config field {field.name!r} must be {expected.__name__}, got {value!r}"
        )


# Presets. `paper`: the paper's widths, k = 7 (≈ 1.15 TMAC at 1024×768). `mobile`: the same
# topology with refiner widths × 1/8 (8…32 channels, every width a multiple of 8), fusion widths
# × 1/2 and k = 5: ≈ 48 GMAC at 1024×768, under the 60 GMAC budget. Refiner width is what is
# cut hardest because it holds 95 % of the paper's MACs; the fusion keeps its six atrous rates
# at full resolution; k = 5 halves the k²-channel kernel tensors (the op is memory-bound) and the
# 1/8 scale still reaches a ±16 px blur radius. See README, "Presets".
# Both presets match UW's colours to W's and let the fusion see both defocus maps [ours]: without
# them the masks must guess from image content where W is blurred and UW's colour cast comes
# with its detail (see model/colour.py). Their refiners also carry the input's own detail band to
# each finer scale (`detail_skip`): without it the full-resolution estimate is an upsampled coarse
# one whose detail narrow refiners cannot re-synthesise, so even UW's sharp regions came out soft.
# Checkpoints store their config, so older ones keep theirs.
_OURS = {"uw_colour_match": True, "fusion_sees_defocus": True, "detail_skip": True}
PRESETS: dict[str, dict[str, Any]] = {
    "paper": {"refiner_width_mult": 1.0, "kernel_size": 7, "fusion_width_mult": 1.0, **_OURS},
    "mobile": {"refiner_width_mult": 0.125, "kernel_size": 5, "fusion_width_mult": 0.5, **_OURS},
}


def preset_config(name: str, height: int, width: int, **overrides: Any) -> DC2Config:
    """The named preset at a given input size, with optional field overrides."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose from {sorted(PRESETS)}")
    return DC2Config(height=height, width=width, preset=name, **{**PRESETS[name], **overrides})


class ScaleOutput(NamedTuple):
    """Everything DC2Net computes at one scale."""

    fused: Tensor
    refined_w: Tensor
    refined_uw: Tensor
    mask_w: Tensor
    mask_uw: Tensor


class DC2Output(NamedTuple):
    """`image`: the final render in [-1, 1]; `scales`: per scale, coarse (1/8) to full (1)."""

    image: Tensor
    scales: tuple[ScaleOutput, ScaleOutput, ScaleOutput, ScaleOutput]


class DC2Net(nn.Module):
    """Renders W at a target defocus from W, UW aligned to W, and the two defocus maps.

    Inputs (N, C, H, W) with H, W the configured size: `w`, `uw` RGB in [-1, 1]; `defocus_w`
    (blur radius of the input W, pixels) and `defocus_t` (target blur radius), one channel each.
    """

    def __init__(self, config: DC2Config) -> None:
        super().__init__()
        self.config = config
        self.refiner_w = DRBNet(config.refiner(in_channels=6))  # w, defocus_w, defocus_t, radial
        self.refiner_uw = DRBNet(config.refiner(in_channels=5))  # uw, defocus_t, radial
        self.fusion = ASPPFusion(config.fusion())
        crop = (config.crop_top, config.crop_left, config.height, config.width)
        radial = radial_mask(config.frame_height, config.frame_width, crop).view(
            1, 1, config.height, config.width
        )
        for factor, level in zip(SCALE_FACTORS, scale_pyramid(radial), strict=True):
            self.register_buffer(f"radial_{factor}", level, persistent=False)

    def radial(self, factor: int) -> Tensor:
        """The radial mask at 1/`factor` resolution, shape (1, 1, h, w)."""
        return self.get_buffer(f"radial_{factor}")

    def _check_shapes(self, **tensors: Tensor) -> None:
        h, wd = self.config.height, self.config.width
        for name, tensor in tensors.items():
            channels = 3 if name in ("w", "uw") else 1
            if tensor.dim() != 4 or tuple(tensor.shape[1:]) != (channels, h, wd):
                raise InputShapeError(
                    f"{name} has shape {tuple(tensor.shape)}, expected (N, {channels}, {h}, {wd})"
                )

    def forward(
        self,
        w: Tensor,
        uw: Tensor,
        defocus_w: Tensor,
        defocus_t: Tensor,
        radial: Tensor | None = None,
    ) -> DC2Output:
        """`radial` (N, 1, H, W): the radial mask of each sample's place in its full frame
        (training crops, tiles); without it the constant mask of the configured crop is used,
        which exports fold into the graph."""
        self._check_shapes(w=w, uw=uw, defocus_w=defocus_w, defocus_t=defocus_t)
        if radial is None:
            # Constants repeated over the batch by `expand_as`: no shape is read into the graph.
            radials = tuple(
                self.radial(f).expand_as(level)
                for f, level in zip(SCALE_FACTORS, scale_pyramid(defocus_t), strict=True)
            )
        else:
            self._check_shapes(radial=radial)
            radials = scale_pyramid(radial)
        return self._render(w, uw, defocus_w, defocus_t, radials)

    def _render(
        self,
        w: Tensor,
        uw: Tensor,
        defocus_w: Tensor,
        defocus_t: Tensor,
        radial: tuple[Tensor, ...],
    ) -> DC2Output:
        config = self.config
        needs_target_pyramid = config.branch_conditioning or config.fusion_sees_defocus
        target = defocus_pyramid(defocus_t) if needs_target_pyramid else ()
        if config.uw_colour_match:
            uw = match_colour(uw, w)
        branch = (
            [torch.cat([t, r], dim=1) for t, r in zip(target, radial, strict=True)]
            if config.branch_conditioning
            else None
        )
        refined_w = self.refiner_w(torch.cat([w, defocus_w, defocus_t, radial[-1]], 1), w, branch)
        refined_uw = self.refiner_uw(torch.cat([uw, defocus_t, radial[-1]], 1), uw, branch)
        # One 2-channel pyramid (pooling a concatenation keeps each fusion concat ≤ 5 inputs).
        seen = (
            defocus_pyramid(torch.cat([defocus_t, defocus_w], 1))
            if config.fusion_sees_defocus
            else ()
        )
        masks = self.fusion(refined_w, refined_uw, radial, seen)
        scales = tuple(
            ScaleOutput(m.fused, rw, ru, m.mask_w, m.mask_uw)
            for m, rw, ru in zip(masks, refined_w, refined_uw, strict=True)
        )
        return DC2Output(torch.clamp(masks[-1].fused, -1.0, 1.0), scales)

    def example_inputs(
        self, batch: int = 1, device: str | torch.device = "cpu"
    ) -> tuple[Tensor, ...]:
        """Uninitialised-free example inputs of the right shapes (zeros), for tracing and export."""
        h, w = self.config.height, self.config.width
        return (
            torch.zeros(batch, 3, h, w, device=device),
            torch.zeros(batch, 3, h, w, device=device),
            torch.zeros(batch, 1, h, w, device=device),
            torch.zeros(batch, 1, h, w, device=device),
        )
