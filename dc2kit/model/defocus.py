"""Defocus maps from disparity (docs/dc2-architecture.md §5, thin lens).

Signed blur radius in pixels of the image the map is for: `r = K · (d − d_f)`, with d the
disparity (1/m, or relative), d_f the disparity of the focus plane and `K = f² / (2 · N · p)`
(focal length f and pixel pitch p in metres, f-number N). r > 0 is nearer than the focus plane.
When disparity is only relative, K is a user "blur strength". The network takes |r| by default.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from dc2kit.model.errors import DefocusError

SCALE_FACTORS = (8, 4, 2, 1)
BLURRED_RADIUS = 1.0  # px: from this blur radius on a pixel counts as blurred (evaluate, inspect)


def lens_blur_strength(focal_length_mm: float, f_number: float, pixel_pitch_mm: float) -> float:
    """K = f² / (2 · N · p): blur radius in pixels per unit (1/m) of disparity difference.

    `pixel_pitch_mm` is the pitch of the image the map is for: a sensor pitch times the factor by
    which the image was downscaled from the sensor's full resolution.
    """
    for name, value in (
        ("focal length", focal_length_mm),
        ("f-number", f_number),
        ("pixel pitch", pixel_pitch_mm),
    ):
        if not math.isfinite(value) or value <= 0:
            raise DefocusError(f"{name} must be a positive finite number, got {value}")
    focal_m, pitch_m = focal_length_mm * 1e-3, pixel_pitch_mm * 1e-3
    return focal_m**2 / (2.0 * f_number * pitch_m)


def check_finite(values: Tensor, name: str) -> None:
    """Raise `DefocusError` if `values` holds NaN or ±inf (a model input must not)."""
    bad = int((~torch.isfinite(values)).sum())
    if bad:
        raise DefocusError(f"{name} has {bad} non-finite value(s) (NaN or inf); fill holes first")


def defocus_map(
    disparity: Tensor, focus_disparity: float, blur_strength: float, signed: bool = False
) -> Tensor:
    """Blur radius per pixel, `K · (d − d_f)`, or its magnitude (the network's default input)."""
    check_finite(disparity, "disparity")
    if not math.isfinite(focus_disparity):
        raise DefocusError(f"focus disparity must be finite, got {focus_disparity}")
    if not math.isfinite(blur_strength) or blur_strength < 0:
        raise DefocusError(f"blur strength must be finite and ≥ 0, got {blur_strength}")
    return blur_radius(disparity, focus_disparity, blur_strength, signed)


def blur_radius(
    disparity: Tensor,
    focus_disparity: Tensor | float,
    blur_strength: Tensor | float,
    signed: bool = False,
) -> Tensor:
    """The formula alone, `K · (d − d_f)` or its magnitude, unchecked: exported graphs trace it
    with tensor scalars (`defocus_map` checks its arguments, then calls it)."""
    radius = blur_strength * (disparity - focus_disparity)
    return radius if signed else radius.abs()


def focus_disparity_at(disparity: Tensor, x: float, y: float, window: int = 9) -> float:
    """Disparity of the focus plane at pixel (x, y) of the map: the median over a window.

    Holes (NaN, inf, ≤ 0) are ignored, so a focus point on a pixel with no estimate still works
    while any pixel of the window has one.
    """
    if disparity.dim() < 2:
        raise DefocusError(f"disparity must be at least 2-D, got shape {tuple(disparity.shape)}")
    height, width = disparity.shape[-2:]
    if not (0 <= x < width and 0 <= y < height):
        raise DefocusError(f"focus point ({x}, {y}) lies outside the {width}x{height} map")
    if window < 1 or window % 2 == 0:
        raise DefocusError(f"focus window must be odd and positive, got {window}")
    cx, cy, half = int(x), int(y), window // 2
    patch = disparity[..., max(0, cy - half) : cy + half + 1, max(0, cx - half) : cx + half + 1]
    valid = patch[torch.isfinite(patch) & (patch > 0)]
    if valid.numel() == 0:
        raise DefocusError(f"no valid disparity within {window}x{window} px of ({x}, {y})")
    return float(valid.float().median())


def scale_pyramid(x: Tensor) -> tuple[Tensor, ...]:
    """`x` average-pooled to each of the network's scales, coarse (1/8) to full."""
    return tuple(F.avg_pool2d(x, f) if f > 1 else x for f in SCALE_FACTORS)


def defocus_pyramid(defocus: Tensor) -> tuple[Tensor, ...]:
    """Maps at 1/8, 1/4, 1/2 and 1: average-pooled, then divided by the scale factor, since a
    radius of r pixels at full resolution is r/f pixels at 1/f resolution."""
    levels = zip(SCALE_FACTORS, scale_pyramid(defocus), strict=True)
    return tuple(level / f if f > 1 else level for f, level in levels)
