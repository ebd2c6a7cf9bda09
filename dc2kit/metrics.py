"""Image-comparison metrics: the one PSNR of dc2kit (parity gates, validation, quality report)
and SSIM (Wang et al. 2004: 11×11 Gaussian window, σ 1.5, K1 0.01, K2 0.03)."""

from __future__ import annotations

import cv2
import numpy as np


def _masked(values: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    if mask is None:
        return values
    return values[np.broadcast_to(mask, values.shape)]


def psnr(
    reference: np.ndarray,
    output: np.ndarray,
    peak: float | None = None,
    mask: np.ndarray | None = None,
) -> float:
    """`20 · log10(peak / (rms(output − reference) + 1e-10))`.

    `peak` defaults to `max|reference| + 1e-5` (the parity gates compare tensors of any range);
    images in [−1, 1] use peak 2, which is the usual PSNR of the same images in [0, 1]. `mask`
    (broadcast to the arrays) limits the error to a region. NaN anywhere gives NaN.
    """
    reference = np.asarray(reference, dtype=np.float64)
    output = np.asarray(output, dtype=np.float64)
    if peak is None:
        peak = float(np.abs(reference).max()) + 1e-5
    error = _masked(output - reference, mask)
    rms = float(np.sqrt(np.mean(error**2))) if error.size else 0.0
    return float(20.0 * np.log10(peak / (rms + 1e-10)))


def ssim(
    reference: np.ndarray,
    output: np.ndarray,
    data_range: float,
    mask: np.ndarray | None = None,
) -> float:
    """Mean SSIM of two images (H, W) or (C, H, W), averaged over channels and `mask` (H, W)."""
    reference = np.asarray(reference, dtype=np.float64)
    output = np.asarray(output, dtype=np.float64)
    if reference.ndim == 2:
        reference, output = reference[None], output[None]
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2

    def blur(x: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(x, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)

    maps = []
    for x, y in zip(reference, output, strict=True):
        mu_x, mu_y = blur(x), blur(y)
        var_x = blur(x * x) - mu_x**2
        var_y = blur(y * y) - mu_y**2
        cov = blur(x * y) - mu_x * mu_y
        numerator = (2 * mu_x * mu_y + c1) * (2 * cov + c2)
        maps.append(numerator / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)))
    values = _masked(np.stack(maps), None if mask is None else mask[None])
    return float(values.mean()) if values.size else float("nan")
