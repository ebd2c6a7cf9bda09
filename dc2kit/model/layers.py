"""Building blocks shared by the refiner and the fusion network."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

LEAKY_SLOPE = 0.1


def scale_width(channels: int, multiplier: float) -> int:
    """A paper width times the multiplier, rounded to a multiple of 8 (NPU-friendly), at least 8."""
    return max(8, round(channels * multiplier / 8) * 8)


def conv_act(
    in_channels: int, out_channels: int, stride: int = 1, kernel_size: int = 3, act: bool = True
) -> nn.Sequential:
    """Conv (zero padding, bias) followed by LeakyReLU(0.1), DRBNet's unit layer."""
    conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2)
    return nn.Sequential(conv, nn.LeakyReLU(LEAKY_SLOPE) if act else nn.Identity())


class ResidualBlock(nn.Module):
    """`x + conv(lrelu(conv(x)))`, no activation after the sum."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, 1, 1)
        self.act = nn.LeakyReLU(LEAKY_SLOPE)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv2(self.act(self.conv1(x)))


# XNNPACK (the TFLite CPU delegate) concatenates 2 to 5 tensors per op; a wider concatenation, or a
# `stack`, which lowers to one, is left to the interpreter and splits the graph into partitions.
MAX_CONCAT_INPUTS = 5


def add_all(tensors: Sequence[Tensor]) -> Tensor:
    """The sum of `tensors` as a chain of two-input adds (`torch.stack(...).sum(0)` would lower to
    one many-input concatenation and a reduction)."""
    total = tensors[0]
    for tensor in tensors[1:]:
        total = total + tensor
    return total


def cat_nested(tensors: Sequence[Tensor], dim: int) -> Tensor:
    """`torch.cat(tensors, dim)` with at most `MAX_CONCAT_INPUTS` inputs per concatenation."""
    parts = list(tensors)
    while len(parts) > MAX_CONCAT_INPUTS:
        groups = [parts[i : i + MAX_CONCAT_INPUTS] for i in range(0, len(parts), MAX_CONCAT_INPUTS)]
        parts = [group[0] if len(group) == 1 else torch.cat(group, dim) for group in groups]
    return torch.cat(parts, dim)


def upsample_nearest2x(x: Tensor) -> Tensor:
    """Nearest-neighbour ×2 upsampling of (N, C, H, W) as two-input concatenations and reshapes.

    Equal to `F.interpolate(x, scale_factor=2, mode="nearest")` bit for bit (only copies), but
    strictly 4-D and without RESIZE_NEAREST_NEIGHBOR, which XNNPACK does not delegate.
    """
    n, c, h, w = x.shape
    wide = torch.cat([x.reshape(n, c * h, w, 1)] * 2, dim=3).reshape(n, c, h, 2 * w)
    return torch.cat([wide.reshape(n, c * h, 1, 2 * w)] * 2, dim=2).reshape(n, c, 2 * h, 2 * w)
