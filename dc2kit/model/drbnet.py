"""DRBNet, the refiner: a kernel-prediction network with four dynamic-residual output scales.

Implemented from docs/dc2-architecture.md §2 (Ruan et al., CVPR 2022). Every conv is 3×3, zero
padding, bias, LeakyReLU(0.1) unless stated; no normalisation. The encoder sees conditioning
channels (image plus defocus maps); the kernel and residual heads refine a 3-channel image at
1/8, 1/4, 1/2 and full resolution: `est = img + kernel_predict(img, K) + res`.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dc2kit.model.checkpoint import strict_load
from dc2kit.model.defocus import scale_pyramid
from dc2kit.model.errors import CheckpointError, ConfigError
from dc2kit.model.kernel_predict import FORMULATIONS, Formulation, KernelPredict
from dc2kit.model.layers import (
    LEAKY_SLOPE,
    ResidualBlock,
    conv_act,
    scale_width,
    upsample_nearest2x,
)

ENCODER_WIDTHS = (32, 64, 128, 256)  # stages 1–4 at 1, 1/2, 1/4, 1/8


@dataclass(frozen=True)
class ScaleSpec:
    """Paper widths of one dynamic-residual scale (docs §2)."""

    factor: int  # downsampling of this scale: 8, 4, 2, 1
    image_branch: tuple[int, int, int]
    kernel_head: tuple[int, int]  # hidden widths; the last 1×1 conv gives k² channels
    residual_head: tuple[int, int]  # hidden widths; the last 1×1 conv gives 3 channels


SCALES = (
    ScaleSpec(8, (64, 128, 256), (256, 128), (256, 64)),
    ScaleSpec(4, (64, 128, 128), (128, 128), (128, 64)),
    ScaleSpec(2, (64, 64, 64), (64, 64), (64, 64)),
    ScaleSpec(1, (64, 64, 32), (64, 64), (64, 64)),
)


@dataclass(frozen=True)
class RefinerConfig:
    in_channels: int = 3
    width: float = 1.0
    kernel_size: int = 7
    residual_head_activation: bool = True  # DRBNet keeps LeakyReLU after the last residual conv
    branch_extra_channels: int = 0  # conditioning channels also fed to each image branch
    formulation: Formulation = "shift"
    # The single-image DRBNet clamps its full-resolution estimate to [-1, 1]; DC² keeps it off
    # because its fusion blends the unclamped refined images (see `single_image_drbnet`).
    clamp_output: bool = False
    # [ours] Each finer scale starts from the upsampled estimate plus the detail the input image
    # has at that scale and not at the coarser one (a Laplacian-pyramid band), so the input's
    # full-resolution detail reaches the output instead of being re-synthesised from features.
    detail_skip: bool = False

    def __post_init__(self) -> None:
        if self.in_channels < 1:
            raise ConfigError(f"refiner needs at least 1 input channel, got {self.in_channels}")
        if not 0 < self.width <= 4:
            raise ConfigError(f"width multiplier must be in (0, 4], got {self.width}")
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ConfigError(f"kernel size must be odd and positive, got {self.kernel_size}")
        if self.branch_extra_channels < 0:
            raise ConfigError(
                f"branch_extra_channels must be ≥ 0, got {self.branch_extra_channels}"
            )
        if self.formulation not in FORMULATIONS:
            raise ConfigError(f"unknown formulation {self.formulation!r}; choose {FORMULATIONS}")


class Encoder(nn.Module):
    """Four stride-2 stages and a bottleneck; returns the skip features and the 1/8 features."""

    def __init__(self, in_channels: int, width: float) -> None:
        super().__init__()
        c1, c2, c3, c4 = (scale_width(c, width) for c in ENCODER_WIDTHS)
        self.stage1 = nn.Sequential(conv_act(in_channels, c1), conv_act(c1, c1), conv_act(c1, c1))
        self.stage2 = nn.Sequential(conv_act(c1, c2, 2), conv_act(c2, c2), conv_act(c2, c2))
        self.stage3 = nn.Sequential(conv_act(c2, c3, 2), conv_act(c3, c3), conv_act(c3, c3))
        self.stage4 = nn.Sequential(conv_act(c3, c4, 2), conv_act(c4, c4), conv_act(c4, c4))
        self.bottleneck = nn.Sequential(
            conv_act(c4, c4), ResidualBlock(c4), ResidualBlock(c4), conv_act(c4, c4)
        )

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        f1 = self.stage1(x)
        f2 = self.stage2(f1)
        f3 = self.stage3(f2)
        return f1, f2, f3, self.bottleneck(self.stage4(f3))


class UpStage(nn.Module):
    """`lrelu(convT4x4_s2(f)) + skip` (an addition, not a concat), then two residual blocks."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.up = nn.Sequential(
            nn.ConvTranspose2d(in_channels, out_channels, 4, 2, 1), nn.LeakyReLU(LEAKY_SLOPE)
        )
        self.blocks = nn.Sequential(ResidualBlock(out_channels), ResidualBlock(out_channels))

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        return self.blocks(self.up(x) + skip)


class DynamicResidualBlock(nn.Module):
    """Refines an RGB image at one scale: `img + kernel_predict(img, K) + res`."""

    def __init__(self, spec: ScaleSpec, feature_channels: int, config: RefinerConfig) -> None:
        super().__init__()
        w = config.width
        b1, b2, b3 = (scale_width(c, w) for c in spec.image_branch)
        k1, k2 = (scale_width(c, w) for c in spec.kernel_head)
        r1, r2 = (scale_width(c, w) for c in spec.residual_head)
        joint = b3 + feature_channels
        self.kernel_predict = KernelPredict(config.kernel_size, config.formulation)
        self.image_branch = nn.Sequential(
            conv_act(3 + config.branch_extra_channels, b1), conv_act(b1, b2), conv_act(b2, b3)
        )
        self.kernel_head = nn.Sequential(
            conv_act(joint, k1), conv_act(k1, k2), nn.Conv2d(k2, config.kernel_size**2, 1)
        )
        self.residual_head = nn.Sequential(
            conv_act(joint, r1),
            conv_act(r1, r2),
            conv_act(r2, 3, kernel_size=1, act=config.residual_head_activation),
        )

    def forward(self, image: Tensor, features: Tensor, extra: Tensor | None = None) -> Tensor:
        branch_in = image if extra is None else torch.cat([image, extra], dim=1)
        joint = torch.cat([features, self.image_branch(branch_in)], dim=1)  # decoder first
        kernels = self.kernel_head(joint)
        residual = self.residual_head(joint)
        return image + self.kernel_predict(image, kernels) + residual


class DRBNet(nn.Module):
    """The refiner. `forward(conditioning, image)` returns estimates at 1/8, 1/4, 1/2, 1."""

    def __init__(self, config: RefinerConfig) -> None:
        super().__init__()
        self.config = config
        c1, c2, c3, c4 = (scale_width(c, config.width) for c in ENCODER_WIDTHS)
        self.encoder = Encoder(config.in_channels, config.width)
        self.decoder = nn.ModuleList([UpStage(c4, c3), UpStage(c3, c2), UpStage(c2, c1)])
        self.blocks = nn.ModuleList(
            DynamicResidualBlock(spec, feats, config)
            for spec, feats in zip(SCALES, (c4, c3, c2, c1), strict=True)
        )

    def forward(
        self,
        conditioning: Tensor,
        image: Tensor,
        branch_conditioning: Sequence[Tensor] | None = None,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        f1, f2, f3, features = self.encoder(conditioning)
        skips = (f3, f2, f1)
        pyramid = scale_pyramid(image) if self.config.detail_skip else (F.avg_pool2d(image, 8),)
        current = pyramid[0]
        estimates: list[Tensor] = []
        for index, block in enumerate(self.blocks):
            if index > 0:
                features = self.decoder[index - 1](features, skips[index - 1])
                current = upsample_nearest2x(estimates[-1])
                if self.config.detail_skip:
                    current = current + pyramid[index] - upsample_nearest2x(pyramid[index - 1])
            extra = None if branch_conditioning is None else branch_conditioning[index]
            estimates.append(block(current, features, extra))
        if self.config.clamp_output:  # only the final estimate; coarser ones stay unclamped
            estimates[-1] = torch.clamp(estimates[-1], -1.0, 1.0)
        return tuple(estimates)


def single_image_drbnet(
    width: float = 1.0, kernel_size: int = 7, formulation: Formulation = "shift"
) -> DRBNet:
    """The published single-image DRBNet: the RGB image as its only input, final output clamped."""
    config = RefinerConfig(
        in_channels=3,
        width=width,
        kernel_size=kernel_size,
        formulation=formulation,
        clamp_output=True,
    )
    return DRBNet(config)


# --- Published DRBNet checkpoints --------------------------------------------------------------
# The one place that maps DRBNet's tensor names onto ours. DRBNet numbers decoder levels from the
# bottom: `upconvN_kernel/_res` are the heads of our block 3 − N (upconv3 = 1/8, upconv0 = full
# resolution) and `upconvN_u`, `upconvN_1/2` the up-stage 3 − N; image branches are named by their
# downsampling factor (img_d8 … img_d1). Its `stem.0.0`/`stem.0.2` are a residual block's convs.
def _level(n: str) -> int:
    return 3 - int(n)


def _branch(factor: str) -> int:
    return {"8": 0, "4": 1, "2": 2, "1": 3}[factor]


_DRBNET_NAME_RULES: tuple[tuple[re.Pattern[str], Callable[..., str]], ...] = tuple(
    (re.compile(pattern), rename)
    for pattern, rename in (
        (r"conv([1-4])_([1-3])\.0\.(\w+)", lambda s, i, p: f"encoder.stage{s}.{int(i) - 1}.0.{p}"),
        (r"conv4_4\.([03])\.0\.(\w+)", lambda i, p: f"encoder.bottleneck.{i}.0.{p}"),
        (
            r"conv4_4\.([12])\.stem\.0\.([02])\.(\w+)",
            lambda i, c, p: f"encoder.bottleneck.{i}.conv{int(c) // 2 + 1}.{p}",
        ),
        (r"upconv([1-3])_u\.0\.(\w+)", lambda n, p: f"decoder.{_level(n)}.up.0.{p}"),
        (
            r"upconv([1-3])_([12])\.stem\.0\.([02])\.(\w+)",
            lambda n, i, c, p: f"decoder.{_level(n)}.blocks.{int(i) - 1}.conv{int(c) // 2 + 1}.{p}",
        ),
        (
            r"img_d([1248])_feature\.([0-2])\.0\.(\w+)",
            lambda f, i, p: f"blocks.{_branch(f)}.image_branch.{i}.0.{p}",
        ),
        (
            r"upconv([0-3])_kernel\.([01])\.0\.(\w+)",
            lambda n, i, p: f"blocks.{_level(n)}.kernel_head.{i}.0.{p}",
        ),
        (r"upconv([0-3])_kernel\.2\.(\w+)", lambda n, p: f"blocks.{_level(n)}.kernel_head.2.{p}"),
        (
            r"upconv([0-3])_res\.([0-2])\.0\.(\w+)",
            lambda n, i, p: f"blocks.{_level(n)}.residual_head.{i}.0.{p}",
        ),
    )
)


def drbnet_name_to_ours(name: str) -> str:
    """Our parameter name for a tensor name of the published DRBNet checkpoint."""
    for pattern, rename in _DRBNET_NAME_RULES:
        match = pattern.fullmatch(name)
        if match is not None:
            return rename(*match.groups())
    raise CheckpointError(f"checkpoint tensor {name!r} is not a DRBNet tensor dc2kit knows")


def drbnet_state_dict_as_ours(
    state_dict: Mapping[str, Tensor], source: str = "DRBNet checkpoint"
) -> dict[str, Tensor]:
    """A published DRBNet state dict under our names; `source` names it in errors."""
    renamed: dict[str, Tensor] = {}
    for name, tensor in state_dict.items():
        if not isinstance(tensor, Tensor):
            raise CheckpointError(f"{source}: entry {name!r} is not a tensor")
        try:
            renamed[drbnet_name_to_ours(name)] = tensor
        except CheckpointError as error:
            raise CheckpointError(f"{source}: {error}") from None
    return renamed


def load_drbnet_state_dict(
    refiner: DRBNet, state_dict: Mapping[str, Tensor], source: str = "DRBNet checkpoint"
) -> None:
    """Load a published DRBNet state dict strictly: every tensor used, every shape checked."""
    strict_load(refiner, drbnet_state_dict_as_ours(state_dict, source), source)


def read_drbnet_checkpoint(path: str | Path) -> Mapping[str, Tensor]:
    """The state dict of a DRBNet `.pth` file (bare, or under a "state_dict" key), not renamed."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CheckpointError(f"{path}: cannot read checkpoint ({reason})") from error
    if isinstance(payload, Mapping) and "state_dict" in payload:
        payload = payload["state_dict"]
    if not isinstance(payload, Mapping):
        raise CheckpointError(f"{path}: not a state dict")
    return payload


def load_drbnet_checkpoint(refiner: DRBNet, path: str | Path) -> None:
    """Load a DRBNet `.pth` file into `refiner` strictly; errors name the file."""
    load_drbnet_state_dict(refiner, read_drbnet_checkpoint(path), str(path))
