"""Layered thin-lens defocus of a synthetic `Scene`, batched through the FFT.

Each layer is blurred with its own disk (radius from `model/defocus.py`'s `defocus_map`, the one
defocus definition), colour premultiplied by its own alpha, and composited back to front: a
blurred foreground edge turns semi-transparent and reveals the background behind it. The
background's varying depth is cut into soft slabs (hat-function weights that sum to one), each
blurred at its own radius and summed. Circular convolution wraps at the canvas border, so
callers crop a margin of at least the largest radius.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from dc2kit.model.defocus import defocus_map
from dc2kit.train.scene import BACKGROUND_SLABS, Scene


def per_sample_defocus(disparities: Tensor, focus: Tensor, strength: Tensor) -> Tensor:
    """Blur radii (B, …) of a batch whose samples each have their own focus and strength (B,),
    through `defocus_map` (the one defocus definition, with its checks)."""
    return torch.stack(
        [
            defocus_map(d, float(f), float(k))
            for d, f, k in zip(disparities, focus, strength, strict=True)
        ]
    )


def disk_kernels(radii: Tensor, size: int, wrapped: bool = False) -> Tensor:
    """Anti-aliased disks (…, P, P) of the given radii (pixels), each summing to one.

    Weights `clamp(r + 0.5 − ρ, 0, 1)`, so radius 0 is exactly the identity. Centred on the
    middle pixel of an odd `size`, or on the origin with wrap-around (`wrapped`, for the FFT).
    """
    axis = torch.arange(size, dtype=torch.float32)
    axis = torch.minimum(axis, size - axis) if wrapped else axis - size // 2
    rho = torch.sqrt(axis.view(-1, 1) ** 2 + axis.view(1, -1) ** 2)
    kernels = (radii[..., None, None] + 0.5 - rho).clamp(0, 1)
    return kernels / kernels.sum(dim=(-2, -1), keepdim=True)


def disk_blur(images: Tensor, radii: Tensor) -> Tensor:
    """Each image (B, C, H, W) blurred by one small disk of its own radius (B,), edge-padded."""
    batch, channels = images.shape[:2]
    half = int(radii.max().ceil()) + 1
    kernels = disk_kernels(radii, 2 * half + 1).repeat_interleave(channels, dim=0)
    padded = F.pad(images, [half] * 4, mode="replicate").flatten(0, 1).unsqueeze(0)
    blurred = F.conv2d(padded, kernels.unsqueeze(1), groups=batch * channels)
    return blurred.view_as(images)


def _slab_weights(disparity: Tensor, centres: Tensor) -> Tensor:
    """Hat-function weights (B, K, 1, P, P) of each background slab; they sum to one."""
    spacing = (centres[:, 1] - centres[:, 0]).clamp_min(1e-6).view(-1, 1, 1, 1, 1)
    distance = (disparity.unsqueeze(1) - centres.view(*centres.shape, 1, 1, 1)).abs()
    weights = (1 - distance / spacing).clamp(0, 1)
    return weights / weights.sum(dim=1, keepdim=True).clamp_min(1e-6)


class LayeredRenderer:
    """Renders one batch of scenes at several focus settings, sharing the layers' spectra."""

    def __init__(self, scene: Scene) -> None:
        self.scene = scene
        low = scene.background_disparity.amin(dim=(1, 2, 3))
        high = scene.background_disparity.amax(dim=(1, 2, 3))
        steps = torch.linspace(0, 1, BACKGROUND_SLABS).view(1, -1)
        self.slab_disparities = low.view(-1, 1) + (high - low).view(-1, 1) * steps
        weights = _slab_weights(scene.background_disparity, self.slab_disparities)
        slabs = torch.cat([weights * scene.background.unsqueeze(1), weights], dim=2)
        shapes = torch.cat([scene.alphas * scene.colours, scene.alphas], dim=2)
        self.layers = torch.cat([slabs, shapes], dim=1)  # (B, K + S, 4, P, P), premultiplied
        self.spectra = torch.fft.rfft2(self.layers)
        self.size = scene.background.shape[-1]

    def render(self, focus_disparity: Tensor, blur_strength: Tensor) -> Tensor:
        """Linear RGB (B, 3, P, P) focused at `focus_disparity` (B,) with blur strength (B,)."""
        disparities = torch.cat([self.slab_disparities, self.scene.disparities], dim=1)
        radii = per_sample_defocus(disparities, focus_disparity, blur_strength)
        otf = torch.fft.rfft2(disk_kernels(radii, self.size, wrapped=True)).unsqueeze(2)
        blurred = torch.fft.irfft2(self.spectra * otf, s=(self.size, self.size))
        sharp = (radii == 0).view(*radii.shape, 1, 1, 1)
        blurred = torch.where(sharp, self.layers, blurred)
        image = blurred[:, :BACKGROUND_SLABS, :3].sum(dim=1)
        for index in range(BACKGROUND_SLABS, blurred.shape[1]):
            layer = blurred[:, index]
            image = layer[:, :3] + (1 - layer[:, 3:4]) * image
        return image
