"""Building blocks shared by the refiner and the fusion network."""

from __future__ import annotations

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
