"""Behaviour of the layered defocus renderer against convolution oracles and depth-order rules."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from dc2kit.render import bokeh
from dc2kit.render.bokeh import RenderInputError, disk_kernel, render_defocus

HEIGHT, WIDTH = 96, 128
EDGE = WIDTH // 2


@pytest.fixture
def texture() -> np.ndarray:
    return np.random.default_rng(7).random((HEIGHT, WIDTH, 3), dtype=np.float32)


def _oracle_blur(image: np.ndarray, radius: float) -> np.ndarray:
    return cv2.filter2D(image, -1, disk_kernel(radius), borderType=cv2.BORDER_CONSTANT)


def _split_map(left: float, right: float) -> np.ndarray:
    defocus = np.full((HEIGHT, WIDTH), right, np.float32)
    defocus[:, :EDGE] = left
    return defocus


def _brute_force_disk(radius: float, samples: int = 128) -> np.ndarray:
    """Pixel coverage by dense 2-D point sampling, normalised to sum 1."""
    half = int(np.ceil(radius - 0.5))
    offsets = (np.arange(samples) + 0.5) / samples - 0.5
    positions = (np.arange(-half, half + 1)[:, None] + offsets[None, :]).ravel()
    inside = np.hypot(positions[:, None], positions[None, :]) <= radius
    size = 2 * half + 1
    coverage = inside.reshape(size, samples, size, samples).mean(axis=(1, 3))
    return coverage / coverage.sum()


@pytest.mark.parametrize("radius", [0.75, 1.5, 2.0, 3.3])
def test_disk_kernel_is_pixel_area_coverage(radius: float) -> None:
    kernel = disk_kernel(radius)
    assert kernel.dtype == np.float32
    np.testing.assert_allclose(kernel, _brute_force_disk(radius), atol=5e-4)


@pytest.mark.parametrize("radius", [3.3, 7.5, 12.0, 30.0])
def test_disk_kernel_has_the_spread_of_a_disk(radius: float) -> None:
    kernel = disk_kernel(radius).astype(np.float64)
    half = kernel.shape[0] // 2
    ys, xs = np.mgrid[-half : half + 1, -half : half + 1]
    assert kernel.sum() == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(kernel, kernel.T, atol=1e-7)
    np.testing.assert_allclose(kernel, kernel[::-1, ::-1], atol=1e-7)
    # A uniform disk has E[x² + y²] = r²/2; binning to pixels adds about 2 · 1/12.
    second_moment = (kernel * (xs**2 + ys**2)).sum()
    assert second_moment == pytest.approx(radius**2 / 2 + 1 / 6, rel=0.01)


def test_disk_kernel_below_half_a_pixel_is_identity() -> None:
    for radius in (0.0, 0.2, 0.5):
        np.testing.assert_array_equal(disk_kernel(radius), np.ones((1, 1), np.float32))


def test_all_in_focus_returns_input_bit_identical(texture: np.ndarray) -> None:
    zeros = np.zeros((HEIGHT, WIDTH), np.float32)
    np.testing.assert_array_equal(render_defocus(texture, zeros), texture)
    as_uint8 = (texture * 255).astype(np.uint8)
    rendered = render_defocus(as_uint8, zeros)
    assert rendered.dtype == np.uint8
    np.testing.assert_array_equal(rendered, as_uint8)


@pytest.mark.parametrize("radius", [3.0, 7.5, -5.0, -6.25])
def test_constant_defocus_is_a_disk_convolution(texture: np.ndarray, radius: float) -> None:
    rendered = render_defocus(texture, np.full((HEIGHT, WIDTH), radius, np.float32))
    expected = _oracle_blur(texture, abs(radius))
    margin = int(abs(radius)) + 2
    interior = (slice(margin, -margin), slice(margin, -margin))
    assert rendered.dtype == np.float32
    assert np.abs(rendered - expected)[interior].max() < 1e-4


def test_large_constant_blur_is_close_to_the_full_resolution_disk(texture: np.ndarray) -> None:
    smooth = cv2.GaussianBlur(texture, (0, 0), 2.0)
    rendered = render_defocus(smooth, np.full((HEIGHT, WIDTH), -20.0, np.float32))
    expected = _oracle_blur(smooth, 20.0)
    interior = (slice(22, -22), slice(22, -22))
    assert np.abs(rendered - expected)[interior].max() < 2e-3
    assert np.abs(rendered - smooth)[interior].mean() > 10 * 2e-3  # it did blur


def test_sharp_foreground_stays_sharp_and_does_not_leak(texture: np.ndarray) -> None:
    image = texture.copy()
    image[:, :EDGE] = texture[:, :EDGE] * [1, 0, 0]  # foreground: red only
    image[:, EDGE:] = texture[:, EDGE:] * [0, 1, 1]  # background: no red at all
    rendered = render_defocus(image, _split_map(left=0.0, right=-8.0))
    foreground = (slice(None), slice(0, EDGE - 1))
    assert np.abs(rendered[foreground] - image[foreground]).max() <= 1e-6
    # Background blur gathers background only: no red creeps in, even right at the edge.
    assert np.abs(rendered[:, EDGE:, 0]).max() <= 1e-6
    assert np.abs(rendered[:, EDGE + 10 :] - image[:, EDGE + 10 :]).mean() > 0.05


def test_blurred_foreground_spreads_over_sharp_background() -> None:
    foreground_colour = np.array([0.9, 0.2, 0.1], np.float32)
    background_colour = np.array([0.1, 0.3, 0.8], np.float32)
    image = np.empty((HEIGHT, WIDTH, 3), np.float32)
    image[:, :EDGE] = foreground_colour
    image[:, EDGE:] = background_colour
    rendered = render_defocus(image, _split_map(left=8.0, right=0.0))
    coverage = np.zeros((HEIGHT, WIDTH), np.float32)
    coverage[:, :EDGE] = 1
    spread = _oracle_blur(coverage, 8.0)[..., None]
    expected = background_colour + spread * (foreground_colour - background_colour)
    rows = slice(10, -10)
    background = (rows, slice(EDGE, WIDTH))
    np.testing.assert_allclose(rendered[background], expected[background], atol=1e-5)
    shift_toward_foreground = (rendered - background_colour) @ (
        foreground_colour - background_colour
    )
    assert (shift_toward_foreground[rows, EDGE : EDGE + 8] > 0.01).all()
    np.testing.assert_array_equal(rendered[:, EDGE + 9 :], image[:, EDGE + 9 :])


@pytest.mark.parametrize(
    "defocus",
    [
        _split_map(left=-3.0, right=9.0),
        np.tile(np.linspace(-15, 12, WIDTH, dtype=np.float32), (HEIGHT, 1)),
        np.random.default_rng(3).uniform(-12, 12, (HEIGHT, WIDTH)).astype(np.float32),
    ],
    ids=["depth-step", "depth-ramp", "depth-noise"],
)
def test_flat_colour_has_no_layer_seams(defocus: np.ndarray) -> None:
    colour = np.array([0.25, 0.5, 0.75], np.float32)
    image = np.broadcast_to(colour, (HEIGHT, WIDTH, 3)).copy()
    np.testing.assert_allclose(render_defocus(image, defocus), image, atol=1e-5)


def test_srgb_mode_blurs_in_linear_light(texture: np.ndarray) -> None:
    encoded = (texture * 255).astype(np.uint8)
    rendered = render_defocus(encoded, np.full((HEIGHT, WIDTH), 4.0, np.float32), srgb=True)
    values = encoded / 255.0
    linear = np.where(values <= 0.04045, values / 12.92, ((values + 0.055) / 1.055) ** 2.4)
    blurred = _oracle_blur(linear.astype(np.float32), 4.0)
    expected = np.where(blurred <= 0.0031308, blurred * 12.92, 1.055 * blurred ** (1 / 2.4) - 0.055)
    interior = (slice(6, -6), slice(6, -6))
    difference = np.abs(rendered[interior].astype(int) - np.rint(expected[interior] * 255))
    assert difference.max() <= 1


@pytest.mark.parametrize(
    ("image", "defocus", "message"),
    [
        (np.zeros((8, 8, 3), np.float32), np.full((8, 8), np.nan, np.float32), "NaN"),
        (np.zeros((8, 8, 3), np.float32), np.zeros((8, 9), np.float32), "does not match"),
        (np.zeros((8, 8), np.float32), np.zeros((8, 8), np.float32), "H×W×3"),
        (np.zeros((8, 8, 3), np.float64), np.zeros((8, 8), np.float32), "dtype"),
        (np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), np.int32), "floating point"),
    ],
)
def test_invalid_inputs_raise_a_typed_error(
    image: np.ndarray, defocus: np.ndarray, message: str
) -> None:
    with pytest.raises(RenderInputError, match=message):
        render_defocus(image, defocus)
    assert issubclass(RenderInputError, ValueError)


def test_tiling_does_not_change_the_result(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(11)
    image = rng.random((200, 260, 3), dtype=np.float32)
    coarse = rng.uniform(-24, 12, (4, 5)).astype(np.float32)
    defocus = cv2.resize(coarse, (260, 200), interpolation=cv2.INTER_CUBIC)
    whole = render_defocus(image, defocus)
    monkeypatch.setattr(bokeh, "_TILE_SIZE", 48)
    tiled = render_defocus(image, defocus)
    np.testing.assert_allclose(tiled, whole, atol=1e-5)
