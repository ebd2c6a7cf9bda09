"""The radial mask of docs §4 (exact, from Abuolaim et al. ICCV 2021's published masks)."""

from __future__ import annotations

import torch
from torch import Tensor


def radial_mask(
    full_height: int,
    full_width: int,
    crop: tuple[int, int, int, int] | None = None,
) -> Tensor:
    """`R[y, x] = |(y, x) − (H/2, W/2)| / |(H/2, W/2)|` over the full frame, float32 (H, W).

    0 at the centre, 1 at the corner, normalised by the full frame's half diagonal. `crop` is
    (top, left, height, width): a crop or tile gets the slice of the full-frame mask, never a
    mask recomputed for the crop; only the crop's pixels are computed (a tile of a 12 MP frame
    costs the tile, not the frame).
    """
    top, left, height, width = crop if crop is not None else (0, 0, full_height, full_width)
    y = torch.arange(top, min(top + height, full_height), dtype=torch.float64).view(-1, 1)
    x = torch.arange(left, min(left + width, full_width), dtype=torch.float64).view(1, -1)
    return radial_at(y, x, full_height, full_width).to(torch.float32)


def radial_at(
    y: Tensor, x: Tensor, full_height: Tensor | float, full_width: Tensor | float
) -> Tensor:
    """The mask at rows `y` (h, 1) and columns `x` (1, w) of the full frame: the formula alone,
    which exported graphs trace with the tile offset and frame size as tensors."""
    half_h, half_w = full_height / 2, full_width / 2
    return ((y - half_h) ** 2 + (x - half_w) ** 2) ** 0.5 / (half_h**2 + half_w**2) ** 0.5
