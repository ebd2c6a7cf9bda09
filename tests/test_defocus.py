"""Defocus maps from disparity: the thin-lens formula, focus picking, pyramids, bad input."""

import math

import pytest
import torch

from dc2kit.model import (
    DefocusError,
    defocus_map,
    defocus_pyramid,
    focus_disparity_at,
    lens_blur_strength,
)


def test_lens_blur_strength_thin_lens():
    # iPhone 13 Pro wide: 5.7 mm, f/1.5, 1.9 µm pitch → K = (5.7e-3)² / (2 · 1.5 · 1.9e-6) = 5.7.
    assert lens_blur_strength(5.7, 1.5, 0.0019) == pytest.approx(5.7)
    # Halving the pitch (a 2× larger image) doubles the radius in pixels.
    assert lens_blur_strength(5.7, 1.5, 0.00095) == pytest.approx(11.4)


def test_blur_circle_matches_geometric_optics():
    """Radius from K equals half the thin-lens blur circle c = f² |1/s − 1/s_f| / N, in pixels."""
    f_mm, n, pitch_mm, s, s_f = 26.0, 2.0, 0.004, 1.5, 4.0
    f = f_mm / 1000
    circle_m = f**2 * abs(1 / s - 1 / s_f) / n  # far-field thin lens (s, s_f ≫ f)
    radius_px = circle_m / 2 / (pitch_mm / 1000)
    k = lens_blur_strength(f_mm, n, pitch_mm)
    got = defocus_map(torch.tensor([1 / s]), 1 / s_f, k)
    assert float(got) == pytest.approx(radius_px, rel=1e-6)


def test_signed_and_absolute():
    disparity = torch.tensor([[0.5, 1.0, 2.0]])
    signed = defocus_map(disparity, 1.0, 4.0, signed=True)
    assert signed.tolist() == [[-2.0, 0.0, 4.0]]
    assert defocus_map(disparity, 1.0, 4.0).tolist() == [[2.0, 0.0, 4.0]]


def test_focus_point_median_ignores_holes():
    disparity = torch.full((20, 30), 1.0)
    disparity[8:13, 13:18] = 3.0
    disparity[10, 15] = float("nan")
    disparity[9, 14] = 0.0
    assert focus_disparity_at(disparity, 15, 10, window=5) == 3.0
    disparity[5:16, 10:21] = float("nan")
    with pytest.raises(DefocusError, match="no valid disparity"):
        focus_disparity_at(disparity, 15, 10, window=5)


def test_focus_point_outside_map():
    with pytest.raises(DefocusError, match="outside"):
        focus_disparity_at(torch.ones(4, 4), 4, 0)


def test_nan_disparity_is_refused():
    disparity = torch.ones(1, 1, 8, 8)
    disparity[0, 0, 3, 3] = float("nan")
    with pytest.raises(DefocusError, match="1 non-finite"):
        defocus_map(disparity, 1.0, 2.0)


@pytest.mark.parametrize("args", [(0.0, 1.5, 0.002), (5.0, -1.0, 0.002), (5.0, 1.5, math.nan)])
def test_bad_lens_parameters(args):
    with pytest.raises(DefocusError):
        lens_blur_strength(*args)


def test_pyramid_pools_and_divides():
    defocus = torch.full((1, 1, 16, 24), 8.0)
    defocus[..., :8, :] = 16.0
    levels = defocus_pyramid(defocus)
    assert [tuple(level.shape[-2:]) for level in levels] == [(2, 3), (4, 6), (8, 12), (16, 24)]
    assert torch.allclose(levels[0], torch.tensor([[2.0] * 3, [1.0] * 3]))
    assert torch.equal(levels[-1], defocus)
