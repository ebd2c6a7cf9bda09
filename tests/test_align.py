"""UW → W alignment on synthetic pairs with known homography, parallax and occlusions."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import pytest

from dc2kit.capture.align import AlignmentError, align_uw_to_w

W_HEIGHT, W_WIDTH = 480, 640
MARGIN = 400  # texture canvas extends this far beyond W's frame (UW sees a wider field)
FOREGROUND = (slice(150, 330), slice(220, 420))  # rows, columns of the object in W
PARALLAX = np.array([12.0, 3.0])  # the object sits this much further (in W px) in UW's view


@dataclass
class SyntheticPair:
    w: np.ndarray
    uw: np.ndarray
    true_flow: np.ndarray  # W pixel → UW pixel, as a displacement
    occluded: np.ndarray  # background in W hidden behind the object in UW
    homography: np.ndarray  # true W → UW mapping of the background plane
    outside_by: np.ndarray  # how far (px) each W pixel's true UW position lies outside UW's frame


def _texture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Blobs at several scales plus hard-edged rectangles; band-limited so resampling is exact."""
    canvas = np.zeros((height, width), np.float32)
    for cell, amplitude in ((64, 0.35), (16, 0.25), (4, 0.2)):
        coarse = rng.random((height // cell + 2, width // cell + 2)).astype(np.float32)
        canvas += amplitude * cv2.resize(coarse, None, fx=cell, fy=cell)[:height, :width]
    for _ in range(height * width // 2000):
        x, y = rng.integers(0, width), rng.integers(0, height)
        w, h = rng.integers(4, 40, size=2)
        canvas[y : y + h, x : x + w] += rng.uniform(-0.4, 0.4)
    canvas = cv2.GaussianBlur(canvas, (0, 0), 1.0)
    low, high = np.percentile(canvas, [1, 99])
    canvas = np.clip((canvas - low) / (high - low), 0, 1)
    colour = np.stack([canvas, np.roll(canvas, 17, axis=1), canvas[::-1, ::-1]], axis=-1)
    return colour.astype(np.float32)


def _w_to_uw_homography(
    uw_size: tuple[int, int], scale: float, degrees: float, shift: tuple[float, float]
) -> np.ndarray:
    """Rotate and scale about W's centre, land on UW's centre, then shift (UW pixels)."""
    angle = np.deg2rad(degrees)
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    uw_centre = (np.array(uw_size, np.float64) - 1) / 2
    homography = np.eye(3)
    homography[:2, :2] = rotation
    homography[:2, 2] = uw_centre + shift - rotation @ [(W_WIDTH - 1) / 2, (W_HEIGHT - 1) / 2]
    return homography


def _make_pair(
    uw_size: tuple[int, int], scale: float, degrees: float, shift: tuple[float, float]
) -> SyntheticPair:
    rng = np.random.default_rng(0)
    background = _texture(rng, W_HEIGHT + 2 * MARGIN, W_WIDTH + 2 * MARGIN)
    foreground = _texture(rng, W_HEIGHT, W_WIDTH)
    uw_width, uw_height = uw_size
    homography = _w_to_uw_homography(uw_size, scale, degrees, shift)

    w = background[MARGIN:-MARGIN, MARGIN:-MARGIN].copy()
    w[FOREGROUND] = foreground[FOREGROUND]

    # Each UW pixel looks at W-plane point x = H⁻¹(u); the object seen there sits at x − parallax.
    uw_y, uw_x = np.mgrid[0:uw_height, 0:uw_width].astype(np.float64)
    points = np.linalg.inv(homography) @ np.stack([uw_x.ravel(), uw_y.ravel(), np.ones(uw_x.size)])
    scene_x = (points[0] / points[2]).reshape(uw_height, uw_width)
    scene_y = (points[1] / points[2]).reshape(uw_height, uw_width)
    uw = cv2.remap(
        background,
        (scene_x + MARGIN).astype(np.float32),
        (scene_y + MARGIN).astype(np.float32),
        cv2.INTER_LINEAR,
    )
    object_x, object_y = scene_x - PARALLAX[0], scene_y - PARALLAX[1]
    on_object = _inside_foreground(object_x, object_y)
    object_view = cv2.remap(
        foreground, object_x.astype(np.float32), object_y.astype(np.float32), cv2.INTER_LINEAR
    )
    uw[on_object] = object_view[on_object]

    w_y, w_x = np.mgrid[0:W_HEIGHT, 0:W_WIDTH].astype(np.float64)
    is_object = _inside_foreground(w_x, w_y)
    scene_x = w_x + is_object * PARALLAX[0]
    scene_y = w_y + is_object * PARALLAX[1]
    target = homography @ np.stack([scene_x.ravel(), scene_y.ravel(), np.ones(scene_x.size)])
    target_x = (target[0] / target[2]).reshape(W_HEIGHT, W_WIDTH)
    target_y = (target[1] / target[2]).reshape(W_HEIGHT, W_WIDTH)
    return SyntheticPair(
        w=np.rint(w * 255).astype(np.uint8),
        uw=np.rint(uw * 255).astype(np.uint8),
        true_flow=np.stack([target_x - w_x, target_y - w_y], axis=-1),
        homography=homography,
        occluded=~is_object & _inside_foreground(w_x - PARALLAX[0], w_y - PARALLAX[1]),
        outside_by=np.maximum.reduce(
            [-target_x, target_x - (uw_width - 1), -target_y, target_y - (uw_height - 1)]
        ),
    )


def _inside_foreground(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    rows, cols = FOREGROUND
    return (x >= cols.start) & (x <= cols.stop - 1) & (y >= rows.start) & (y <= rows.stop - 1)


def _assert_accurate(pair: SyntheticPair, focal_ratio: float | None) -> None:
    result = align_uw_to_w(pair.w, pair.uw, focal_ratio=focal_ratio)
    assert result.aligned_uw.shape == pair.w.shape
    assert result.flow.shape == (W_HEIGHT, W_WIDTH, 2)
    visible = (pair.outside_by < 0) & ~pair.occluded
    endpoint_error = np.linalg.norm(result.flow - pair.true_flow, axis=-1)
    assert np.median(endpoint_error[result.valid]) < 0.5
    assert np.mean(endpoint_error[result.valid] > 3) < 0.01  # gross errors are flagged
    assert result.valid[visible].mean() > 0.9  # not by rejecting everything
    assert not result.valid[pair.outside_by > 0.5].any()  # sub-pixel slack at UW's border
    assert (~result.valid[pair.occluded]).mean() >= 0.85  # occlusion recall
    colour_error = np.abs(result.aligned_uw.astype(int) - pair.w)[result.valid]
    assert np.median(colour_error) <= 3
    assert result.valid_fraction == pytest.approx(result.valid.mean())
    assert result.residual_median_px <= result.residual_p95_px


def test_focal_ratio_prealignment_recovers_flow_and_occlusions() -> None:
    pair = _make_pair(uw_size=(640, 480), scale=0.7, degrees=1.0, shift=(6.0, -4.0))
    _assert_accurate(pair, focal_ratio=1 / 0.7)


def test_orb_prealignment_recovers_flow_and_occlusions() -> None:
    # Smaller UW frame, rotated and shifted so W's right edge falls outside it.
    pair = _make_pair(uw_size=(520, 400), scale=0.75, degrees=3.0, shift=(30.0, 12.0))
    assert (pair.outside_by > 0.5).mean() > 0.02
    _assert_accurate(pair, focal_ratio=None)


def _map_corners(homography: np.ndarray, width: int, height: int) -> np.ndarray:
    corners = np.array(
        [[0, 0, 1], [width - 1, 0, 1], [0, height - 1, 1], [width - 1, height - 1, 1]]
    )
    mapped = (homography @ corners.T).T
    return mapped[:, :2] / mapped[:, 2:]


def test_orb_homography_matches_the_true_background_mapping() -> None:
    pair = _make_pair(uw_size=(520, 400), scale=0.75, degrees=3.0, shift=(30.0, 12.0))
    result = align_uw_to_w(pair.w, pair.uw)
    assert result.prealignment == "orb"
    np.testing.assert_allclose(
        _map_corners(result.homography, W_WIDTH, W_HEIGHT),
        _map_corners(pair.homography, W_WIDTH, W_HEIGHT),
        atol=2.5,  # corners extrapolate past UW's frame; DIS absorbs what is left
    )


def test_orb_prealignment_of_frames_larger_than_the_feature_working_size() -> None:
    pair = _make_pair(uw_size=(520, 400), scale=0.75, degrees=3.0, shift=(30.0, 12.0))
    factor = 2.5  # W becomes 1600×1200: features are found on reduced copies
    w, uw = (
        cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)
        for image in (pair.w, pair.uw)
    )
    result = align_uw_to_w(w, uw)
    # Pixel centres scale about -0.5: x_big = factor · x + (factor − 1) / 2.
    upscale = np.array([[factor, 0, (factor - 1) / 2], [0, factor, (factor - 1) / 2], [0, 0, 1]])
    expected = upscale @ pair.homography @ np.linalg.inv(upscale)
    big_width, big_height = w.shape[1], w.shape[0]
    np.testing.assert_allclose(
        _map_corners(result.homography, big_width, big_height),
        _map_corners(expected, big_width, big_height),
        atol=3.0,
    )
    assert result.valid_fraction > 0.85


def test_flat_grey_pair_has_too_few_features() -> None:
    grey = np.full((W_HEIGHT, W_WIDTH, 3), 128, np.uint8)
    with pytest.raises(AlignmentError, match="too few ORB features"):
        align_uw_to_w(grey, grey)


@pytest.mark.parametrize(
    ("w", "uw", "focal_ratio", "message"),
    [
        (np.zeros((64, 64, 3), np.float32), np.zeros((64, 64, 3), np.uint8), 2.0, "uint8"),
        (np.zeros((64, 64), np.uint8), np.zeros((64, 64, 3), np.uint8), 2.0, "H×W×3"),
        (np.zeros((64, 64, 3), np.uint8), np.zeros((8, 8, 3), np.uint8), 2.0, "too small"),
        (np.zeros((64, 64, 3), np.uint8), np.zeros((64, 64, 3), np.uint8), -1.0, "focal_ratio"),
    ],
)
def test_invalid_inputs_raise_alignment_error(
    w: np.ndarray, uw: np.ndarray, focal_ratio: float, message: str
) -> None:
    with pytest.raises(AlignmentError, match=message):
        align_uw_to_w(w, uw, focal_ratio=focal_ratio)
    assert issubclass(AlignmentError, ValueError)
