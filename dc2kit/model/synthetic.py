"""A deterministic synthetic scene: the built-in data of the demo and of structured parity checks.

Smooth colour gradients, hard edges (a checkerboard and a disk), and a disparity map with a sharp
depth step, turned into defocus maps with the project's one defocus formula.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from dc2kit.model.defocus import defocus_map


def synthetic_view(height: int, width: int) -> tuple[Tensor, Tensor]:
    """An RGB image (3, H, W) in [0, 1] and its disparity (H, W) in 1/m.

    A foreground disk (disparity 2, i.e. 0.5 m) stands in front of a slanted background
    (0.5 … 1 1/m, i.e. 2 … 1 m); the disk is checkered, the background has smooth gradients.
    """
    y = torch.linspace(0, 1, height).view(-1, 1).expand(height, width)
    x = torch.linspace(0, 1, width).view(1, -1).expand(height, width)
    checker = ((torch.arange(height).view(-1, 1) // 16 + torch.arange(width) // 16) % 2).float()
    disk = ((x - 0.5) ** 2 * (width / height) ** 2 + (y - 0.5) ** 2) < 0.25**2
    red = 0.5 + 0.5 * torch.sin(2 * math.pi * x)
    blue = torch.where(disk, 1.0 - checker, 0.3 + 0.4 * checker)
    rgb = torch.stack([red, y, blue])
    disparity = torch.where(disk, torch.tensor(2.0), 0.5 + 0.5 * y)
    return rgb, disparity


def synthetic_scene(height: int, width: int, batch: int = 1, seed: int = 0) -> tuple[Tensor, ...]:
    """(w, uw, defocus_w, defocus_t) with images in [-1, 1] and blur radii in pixels.

    The input W is focused on the background, the target on the foreground disk.
    """
    generator = torch.Generator().manual_seed(seed)
    rgb, disparity = synthetic_view(height, width)
    images = (rgb * 2 - 1).expand(batch, 3, height, width)
    noise = 0.02 * torch.randn(batch, 3, height, width, generator=generator)
    w = (images + noise).clamp(-1, 1)
    uw = (images - noise).clamp(-1, 1)
    disparity = disparity.expand(batch, 1, height, width)
    defocus_w = defocus_map(disparity, focus_disparity=0.75, blur_strength=4.0)
    defocus_t = defocus_map(disparity, focus_disparity=2.0, blur_strength=8.0)
    return w.contiguous(), uw.contiguous(), defocus_w.contiguous(), defocus_t.contiguous()
