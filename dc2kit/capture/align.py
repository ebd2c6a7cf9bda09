"""Warp the ultra-wide (UW) photo onto the wide (W) photo's pixel grid.

DIS optical flow alone fails at the offsets between phone cameras (tens of pixels plus a 2× scale),
so a global pre-alignment comes first: a centre scale from the focal-length ratio when it is known,
else an ORB + RANSAC homography. DIS then estimates the residual (parallax, lens distortion), and a
forward-backward check marks W pixels that the UW camera cannot see.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from dc2kit.errors import Dc2kitError

_ORB_FEATURES = 5000
_ORB_MAX_SIDE = 1280  # ORB's 31 px patches need the detail a full 12 MP frame spreads too thin
_LOWE_RATIO = 0.8
_RANSAC_REPROJECTION_PX = 3.0
_MIN_HOMOGRAPHY_INLIERS = 20
_MIN_IMAGE_SIDE = 32
_OCCLUSION_DILATION_PX = 2  # the occluder's flow bleeds ~2 px into the band it hides


class AlignmentError(Dc2kitError, ValueError):
    """The pair cannot be aligned: bad inputs, or too little texture to estimate the mapping."""


@dataclass(frozen=True)
class Alignment:
    """UW resampled on W's grid, where that is trustworthy, and how the mapping was found.

    Attributes:
        aligned_uw: H×W×3 uint8, UW colours at W's pixels (black outside UW's frame).
        valid: H×W bool, inside UW's frame and passing the forward-backward check.
        flow: H×W×2 float32, W pixel (x, y) sits at UW pixel (x + flow[..., 0], y + flow[..., 1]).
        homography: 3×3 global pre-alignment, W pixel → UW pixel (homogeneous).
        prealignment: "focal_ratio" or "orb", the way ``homography`` was found.
        residual_median_px: median DIS residual flow magnitude over valid pixels.
        residual_p95_px: 95th percentile of the same.
        fb_error_median_px: median forward-backward inconsistency ``|f + b(x + f)|`` in frame.
        valid_fraction: share of W pixels that are valid.
    """

    aligned_uw: np.ndarray
    valid: np.ndarray
    flow: np.ndarray
    homography: np.ndarray
    prealignment: str
    residual_median_px: float
    residual_p95_px: float
    fb_error_median_px: float
    valid_fraction: float


def align_uw_to_w(
    w_rgb: np.ndarray, uw_rgb: np.ndarray, *, focal_ratio: float | None = None
) -> Alignment:
    """Align ``uw_rgb`` onto ``w_rgb``'s grid (both uint8 RGB, sizes may differ).

    Args:
        w_rgb: H×W×3 uint8 wide-camera photo; defines the output grid.
        uw_rgb: h×w×3 uint8 ultra-wide photo.
        focal_ratio: W over UW focal length in 35 mm-equivalent terms (e.g. 26 mm / 13 mm = 2.0),
            with both optical axes at the image centres. ``None`` estimates a homography instead.
    """
    _check_rgb(w_rgb, "w_rgb")
    _check_rgb(uw_rgb, "uw_rgb")
    w_gray = cv2.cvtColor(w_rgb, cv2.COLOR_RGB2GRAY)
    uw_gray = cv2.cvtColor(uw_rgb, cv2.COLOR_RGB2GRAY)
    if focal_ratio is None:
        homography, prealignment = _orb_homography(w_gray, uw_gray), "orb"
    else:
        homography = _focal_ratio_homography(w_gray.shape, uw_gray.shape, focal_ratio)
        prealignment = "focal_ratio"

    grid_x, grid_y = _pixel_grid(w_gray.shape)
    forward, backward = _residual_flows(w_gray, uw_gray, homography, grid_x, grid_y)
    fb_error, occluded = _forward_backward_check(forward, backward, grid_x, grid_y)

    map_x, map_y = _apply_homography(homography, grid_x + forward[..., 0], grid_y + forward[..., 1])
    uw_height, uw_width = uw_gray.shape
    in_frame = (map_x >= 0) & (map_x <= uw_width - 1) & (map_y >= 0) & (map_y <= uw_height - 1)
    valid = in_frame & ~occluded
    aligned_uw = cv2.remap(
        uw_rgb, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )
    residual = np.hypot(forward[..., 0], forward[..., 1])[valid]
    return Alignment(
        aligned_uw=aligned_uw,
        valid=valid,
        flow=np.stack([map_x - grid_x, map_y - grid_y], axis=-1),
        homography=homography,
        prealignment=prealignment,
        residual_median_px=_percentile(residual, 50),
        residual_p95_px=_percentile(residual, 95),
        fb_error_median_px=_percentile(fb_error[in_frame], 50),
        valid_fraction=float(valid.mean()),
    )


def _check_rgb(image: np.ndarray, name: str) -> None:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
        raise AlignmentError(f"{name} must be an H×W×3 RGB array, got shape {np.shape(image)}")
    if image.dtype != np.uint8:
        raise AlignmentError(f"{name} must be uint8, got {image.dtype}")
    if min(image.shape[:2]) < _MIN_IMAGE_SIDE:
        raise AlignmentError(f"{name} is {image.shape[1]}×{image.shape[0]}, too small to align")


def _focal_ratio_homography(
    w_shape: tuple[int, ...], uw_shape: tuple[int, ...], focal_ratio: float
) -> np.ndarray:
    """Centre-to-centre scale; 35 mm-equivalent focal lengths refer to the image diagonal."""
    if not np.isfinite(focal_ratio) or focal_ratio <= 0:
        raise AlignmentError(f"focal_ratio must be a positive number, got {focal_ratio}")
    scale = np.hypot(*uw_shape[:2]) / np.hypot(*w_shape[:2]) / focal_ratio
    w_centre = (np.array(w_shape[1::-1], np.float64) - 1) / 2
    uw_centre = (np.array(uw_shape[1::-1], np.float64) - 1) / 2
    homography = np.diag([scale, scale, 1.0])
    homography[:2, 2] = uw_centre - scale * w_centre
    return homography


def _orb_homography(w_gray: np.ndarray, uw_gray: np.ndarray) -> np.ndarray:
    """Robust W → UW homography from ORB matches (Lowe ratio test, then RANSAC).

    Features are found on copies at most ``_ORB_MAX_SIDE`` wide; the result maps full-size pixels.
    """
    w_small, w_to_small = _downscale_for_features(w_gray)
    uw_small, uw_to_small = _downscale_for_features(uw_gray)
    small_homography = _orb_homography_same_scale(w_small, uw_small)
    return np.linalg.inv(uw_to_small) @ small_homography @ w_to_small


def _downscale_for_features(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A copy no larger than ``_ORB_MAX_SIDE`` and the homography from full to reduced pixels."""
    factor = min(1.0, _ORB_MAX_SIDE / max(gray.shape))
    if factor == 1.0:
        return gray, np.eye(3)
    size = (round(gray.shape[1] * factor), round(gray.shape[0] * factor))
    small = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
    scale_x, scale_y = size[0] / gray.shape[1], size[1] / gray.shape[0]
    # Pixel centres: x_small + 0.5 = (x + 0.5) · scale.
    to_small = np.array(
        [[scale_x, 0, 0.5 * scale_x - 0.5], [0, scale_y, 0.5 * scale_y - 0.5], [0, 0, 1]]
    )
    return small, to_small


def _orb_homography_same_scale(w_gray: np.ndarray, uw_gray: np.ndarray) -> np.ndarray:
    orb = cv2.ORB_create(nfeatures=_ORB_FEATURES)
    w_points, w_descriptors = orb.detectAndCompute(w_gray, None)
    uw_points, uw_descriptors = orb.detectAndCompute(uw_gray, None)
    if w_descriptors is None or uw_descriptors is None:
        raise AlignmentError(
            f"too few ORB features to pre-align (W {len(w_points)}, UW {len(uw_points)}); "
            "pass focal_ratio instead"
        )
    pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(w_descriptors, uw_descriptors, k=2)
    matches = [p[0] for p in pairs if len(p) == 2 and p[0].distance < _LOWE_RATIO * p[1].distance]
    if len(matches) < _MIN_HOMOGRAPHY_INLIERS:
        raise AlignmentError(
            f"only {len(matches)} distinctive ORB matches (need {_MIN_HOMOGRAPHY_INLIERS}); "
            "pass focal_ratio instead"
        )
    source = np.float32([w_points[m.queryIdx].pt for m in matches])
    target = np.float32([uw_points[m.trainIdx].pt for m in matches])
    homography, inliers = cv2.findHomography(source, target, cv2.RANSAC, _RANSAC_REPROJECTION_PX)
    inlier_count = 0 if inliers is None else int(inliers.sum())
    if homography is None or inlier_count < _MIN_HOMOGRAPHY_INLIERS:
        raise AlignmentError(
            f"only {inlier_count} ORB matches agree on a homography "
            f"(need {_MIN_HOMOGRAPHY_INLIERS}); pass focal_ratio instead"
        )
    if np.linalg.det(homography[:2, :2]) <= 0:
        raise AlignmentError("ORB homography flips the image; the pair does not match")
    return homography


def _residual_flows(
    w_gray: np.ndarray,
    uw_gray: np.ndarray,
    homography: np.ndarray,
    grid_x: np.ndarray,
    grid_y: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """DIS flow W → pre-warped UW and back, both on W's grid."""
    pre_x, pre_y = _apply_homography(homography, grid_x, grid_y)
    uw_prewarped = cv2.remap(
        uw_gray, pre_x, pre_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return dis.calc(w_gray, uw_prewarped, None), dis.calc(uw_prewarped, w_gray, None)


def _pixel_grid(shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    height, width = shape[:2]
    grid_y, grid_x = np.mgrid[0:height, 0:width].astype(np.float32)
    return grid_x, grid_y


def _apply_homography(
    homography: np.ndarray, x: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    h = homography.astype(np.float64)
    denominator = h[2, 0] * x + h[2, 1] * y + h[2, 2]
    mapped_x = (h[0, 0] * x + h[0, 1] * y + h[0, 2]) / denominator
    mapped_y = (h[1, 0] * x + h[1, 1] * y + h[1, 2]) / denominator
    return mapped_x.astype(np.float32), mapped_y.astype(np.float32)


def _forward_backward_check(
    forward: np.ndarray, backward: np.ndarray, grid_x: np.ndarray, grid_y: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Inconsistency ``|f + b(x + f)|`` and the occlusion mask (Sundaram et al. 2010 threshold).

    The check misses the strip next to the occluder, where DIS carries the occluder's flow and
    stays self-consistent; growing the mask by a couple of pixels recovers it.
    """
    backward_at_target = cv2.remap(
        backward,
        grid_x + forward[..., 0],
        grid_y + forward[..., 1],
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    mismatch = np.sum((forward + backward_at_target) ** 2, axis=-1)
    magnitudes = np.sum(forward**2, axis=-1) + np.sum(backward_at_target**2, axis=-1)
    occluded = (mismatch > 0.01 * magnitudes + 0.5).astype(np.uint8)
    size = 2 * _OCCLUSION_DILATION_PX + 1
    occluded = cv2.dilate(occluded, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size)))
    return np.sqrt(mismatch), occluded.astype(bool)


def _percentile(values: np.ndarray, q: float) -> float:
    return float(np.percentile(values, q)) if values.size else float("nan")
