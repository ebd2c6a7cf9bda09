"""Classical layered defocus renderer: disk bokeh per pixel, composited far to near.

The signed defocus map follows dc2-architecture §5: ``r = K·(d − d_f)`` is a blur radius in
pixels, ``r > 0`` nearer than the focus plane, ``r < 0`` farther. Rendering:

1. Pick radius levels spanning the map (0.5 px apart for small blurs, a fixed ratio apart for big
   ones); every pixel is split linearly between its two nearest levels (soft assignment, so a
   smooth depth ramp has no steps).
2. Per level, blur premultiplied colour and alpha with an anti-aliased disk of that radius. Big
   radii are blurred at a reduced scale, where the disk still has ≥ 4 px radius.
3. Composite the blurred layers far to near with "over" (scatter-like: a blurred foreground spreads
   over what lies behind it, a sharp one hides it), then divide by the accumulated alpha, which
   fills the holes a nearer layer leaves in a farther one without dark or bright seams.

Work runs per 512 px tile, so a level costs time only where its depth band (plus blur reach) lies.
"""

from __future__ import annotations

import math
from functools import lru_cache

import cv2
import numpy as np

from dc2kit.errors import Dc2kitError

_KERNEL_SUBSAMPLES = 32  # disk-coverage samples per pixel along x (y is integrated exactly)
_MAX_FULL_RES_RADIUS = 8.0  # larger blurs run at 1/s scale with radius r/s in (4, 8]
_ALPHA_FLOOR = 1e-12
_TILE_SIZE = 512


class RenderInputError(Dc2kitError, ValueError):
    """The image, defocus map or settings given to the renderer are unusable."""


def disk_kernel(radius: float) -> np.ndarray:
    """Normalised disk kernel: each tap is the area of its pixel covered by a disk of ``radius``.

    Area coverage (not a thresholded distance) keeps blur growing smoothly with non-integer radii;
    radii below 0.5 px give the identity kernel ``[[1]]``.
    """
    radius = float(radius)
    if not math.isfinite(radius) or radius < 0:
        raise RenderInputError(f"disk radius must be finite and >= 0, got {radius}")
    return _cached_disk_kernel(radius).copy()


@lru_cache(maxsize=256)
def _cached_disk_kernel(radius: float) -> np.ndarray:
    half = max(0, math.ceil(radius - 0.5))
    if radius == 0 or half == 0:
        return np.ones((1, 1), np.float32)
    taps = np.arange(-half, half + 1, dtype=np.float64)
    offsets = (np.arange(_KERNEL_SUBSAMPLES) + 0.5) / _KERNEL_SUBSAMPLES - 0.5
    xs = taps[:, None] + offsets[None, :]  # (columns, subsamples)
    half_height = np.sqrt(np.maximum(radius**2 - xs**2, 0.0))
    top = np.minimum(taps[:, None, None] + 0.5, half_height[None])
    bottom = np.maximum(taps[:, None, None] - 0.5, -half_height[None])
    coverage = np.clip(top - bottom, 0.0, None).mean(axis=2)  # (rows, columns)
    coverage = (coverage + coverage.T) / 2  # x is sampled, y exact: symmetrise the tiny bias
    kernel = (coverage / coverage.sum()).astype(np.float32)
    kernel.setflags(write=False)
    return kernel


def render_defocus(
    image: np.ndarray,
    signed_defocus: np.ndarray,
    *,
    min_radius_step: float = 0.5,
    relative_radius_step: float = 0.125,
    srgb: bool = False,
) -> np.ndarray:
    """Render defocus blur for an all-in-focus RGB image and a signed blur-radius map.

    Args:
        image: H×W×3 RGB, uint8 or float32 (float is typically in [0, 1]).
        signed_defocus: H×W blur radius in pixels; positive is nearer than the focus plane.
        min_radius_step: level spacing in pixels for small radii.
        relative_radius_step: level spacing as a fraction of the radius for big radii.
        srgb: the image is sRGB-encoded; blur in linear light (brighter, physically right bokeh).

    Returns:
        The rendered image, same shape and dtype as ``image``.
    """
    _validate_inputs(image, signed_defocus, min_radius_step, relative_radius_step)
    colour = _to_working_colour(image, srgb)
    defocus = signed_defocus.astype(np.float32, copy=False)
    levels = _radius_levels(
        float(defocus.min()), float(defocus.max()), min_radius_step, relative_radius_step
    )
    lower, upper_share = _soft_assignment(defocus, levels)
    rendered = np.empty(colour.shape, np.float32)
    for tile in _tiles(defocus.shape):
        rendered[tile] = _render_tile(colour, lower, upper_share, levels, tile)
    return _from_working_colour(rendered, image.dtype, srgb)


def _tiles(shape: tuple[int, ...]) -> list[tuple[slice, slice]]:
    """Tiles keep each layer's work near the pixels it touches (a depth band, not the frame)."""
    height, width = shape[:2]
    return [
        (slice(top, min(top + _TILE_SIZE, height)), slice(left, min(left + _TILE_SIZE, width)))
        for top in range(0, height, _TILE_SIZE)
        for left in range(0, width, _TILE_SIZE)
    ]


def _render_tile(
    colour: np.ndarray,
    lower: np.ndarray,
    upper_share: np.ndarray,
    levels: list[float],
    tile: tuple[slice, slice],
) -> np.ndarray:
    """Composite, far to near, every level whose blur reaches ``tile``; normalise by alpha."""
    widest_reach = max(_blur_reach(levels[0]), _blur_reach(levels[-1]))
    nearby = lower[_grow(tile, widest_reach, lower.shape)]
    first, last = int(nearby.min()), min(int(nearby.max()) + 1, len(levels) - 1)
    tile_shape = (tile[0].stop - tile[0].start, tile[1].stop - tile[1].start)
    accumulated = np.zeros((*tile_shape, 4), np.float32)
    for index in range(first, last + 1):  # ascending signed radius: far to near
        area = _grow(tile, _blur_reach(levels[index]), lower.shape)
        weight = _layer_weight(lower[area], upper_share[area], index)
        if not weight.any():
            continue
        layer = np.empty((*weight.shape, 4), np.float32)
        np.multiply(colour[area], weight[..., None], out=layer[..., :3])
        layer[..., 3] = weight
        origin = (area[0].start, area[1].start)
        blurred = _blur_layer(layer, abs(levels[index]), origin)
        inner = tuple(
            slice(t.start - a.start, t.stop - a.start) for t, a in zip(tile, area, strict=True)
        )
        _composite_over(accumulated, blurred[inner])
    return accumulated[..., :3] / np.maximum(accumulated[..., 3:], _ALPHA_FLOOR)


def _grow(box: tuple[slice, slice], margin: int, shape: tuple[int, ...]) -> tuple[slice, slice]:
    return tuple(
        slice(max(part.start - margin, 0), min(part.stop + margin, size))
        for part, size in zip(box, shape[:2], strict=True)
    )


def _validate_inputs(
    image: np.ndarray, signed_defocus: np.ndarray, min_step: float, relative_step: float
) -> None:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
        raise RenderInputError(f"image must be an H×W×3 array, got shape {np.shape(image)}")
    if image.dtype not in (np.uint8, np.float32):
        raise RenderInputError(f"image dtype must be uint8 or float32, got {image.dtype}")
    if image.dtype == np.float32 and not np.isfinite(image).all():
        raise RenderInputError("image contains NaN or infinite values")
    if not isinstance(signed_defocus, np.ndarray) or signed_defocus.shape != image.shape[:2]:
        raise RenderInputError(
            f"defocus map shape {np.shape(signed_defocus)} does not match image {image.shape[:2]}"
        )
    if not np.issubdtype(signed_defocus.dtype, np.floating):
        raise RenderInputError(f"defocus map must be floating point, got {signed_defocus.dtype}")
    if not np.isfinite(signed_defocus).all():
        raise RenderInputError("defocus map contains NaN or infinite values")
    if not (min_step > 0 and relative_step > 0):
        raise RenderInputError("radius steps must be positive")


def _to_working_colour(image: np.ndarray, srgb: bool) -> np.ndarray:
    colour = image.astype(np.float32) / 255.0 if image.dtype == np.uint8 else image
    return _srgb_decode(colour) if srgb else colour


def _from_working_colour(colour: np.ndarray, dtype: np.dtype, srgb: bool) -> np.ndarray:
    if srgb:
        colour = _srgb_encode(colour)
    if dtype == np.uint8:
        return (np.clip(colour, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return colour.astype(np.float32, copy=False)


def _srgb_decode(encoded: np.ndarray) -> np.ndarray:
    encoded = np.clip(encoded, 0.0, 1.0)
    linear = np.where(encoded <= 0.04045, encoded / 12.92, ((encoded + 0.055) / 1.055) ** 2.4)
    return linear.astype(np.float32)


def _srgb_encode(linear: np.ndarray) -> np.ndarray:
    linear = np.clip(linear, 0.0, 1.0)
    encoded = np.where(linear <= 0.0031308, linear * 12.92, 1.055 * linear ** (1 / 2.4) - 0.055)
    return encoded.astype(np.float32)


def _radius_levels(
    lowest: float, highest: float, min_step: float, relative_step: float
) -> list[float]:
    """Ascending signed radii covering [lowest, highest]; 0 is a level whenever the range spans it.

    Spacing is ``min_step`` below ``min_step / relative_step`` and geometric above, so the number
    of layers grows only logarithmically with the largest blur. The map's extremes are levels
    themselves, so a constant map is rendered with exactly its radius.
    """
    if lowest < 0 < highest:
        far = _segment_levels(lowest, 0.0, min_step, relative_step)
        near = _segment_levels(0.0, highest, min_step, relative_step)
        return far + near[1:]
    return _segment_levels(lowest, highest, min_step, relative_step)


def _segment_levels(lo: float, hi: float, min_step: float, relative_step: float) -> list[float]:
    start, stop = (_radius_to_index(r, min_step, relative_step) for r in (lo, hi))
    count = math.ceil(stop - start - 1e-9) + 1
    indices = np.linspace(start, stop, count)
    levels = [_index_to_radius(float(t), min_step, relative_step) for t in indices]
    levels[0], levels[-1] = lo, hi
    return levels


def _radius_to_index(radius: float, min_step: float, relative_step: float) -> float:
    """Odd monotone warp of radius whose unit spacing is the desired level spacing."""
    knee = min_step / relative_step  # radius where geometric spacing overtakes min_step
    size = abs(radius)
    if size <= knee:
        return math.copysign(size / min_step, radius)
    return math.copysign(knee / min_step + math.log(size / knee) / relative_step, radius)


def _index_to_radius(index: float, min_step: float, relative_step: float) -> float:
    knee = min_step / relative_step
    size = abs(index)
    if size <= knee / min_step:
        return math.copysign(size * min_step, index)
    return math.copysign(knee * math.exp((size - knee / min_step) * relative_step), index)


def _soft_assignment(defocus: np.ndarray, levels: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel: the lower of its two bracketing levels and the share given to the upper one."""
    position = np.interp(defocus, levels, np.arange(len(levels), dtype=np.float64))
    lower = np.clip(np.floor(position), 0, max(len(levels) - 2, 0)).astype(np.intp)
    upper_share = (position - lower).astype(np.float32)
    return lower, upper_share


def _layer_weight(lower: np.ndarray, upper_share: np.ndarray, index: int) -> np.ndarray:
    """Soft membership in level ``index``: the lower share of its own pixels plus the upper share
    of the pixels just below it."""
    weight = np.where(lower == index, 1 - upper_share, 0)
    weight += np.where(lower == index - 1, upper_share, 0)
    return weight


def _blur_layer(layer: np.ndarray, radius: float, origin: tuple[int, int]) -> np.ndarray:
    """Disk-blur a premultiplied RGBA layer; zero outside the layer, so borders renormalise.

    At a reduced scale the pixel blocks sit on a grid anchored at the image origin, so tiles that
    overlap compute identical values.
    """
    scale = _blur_scale(radius)
    if scale == 1:
        return _filter(layer, disk_kernel(radius))
    height, width = layer.shape[:2]
    top, left = origin[0] % scale, origin[1] % scale
    bottom, right = -(top + height) % scale, -(left + width) % scale
    padded = cv2.copyMakeBorder(layer, top, bottom, left, right, cv2.BORDER_CONSTANT, value=0)
    small_size = (padded.shape[1] // scale, padded.shape[0] // scale)
    small = cv2.resize(padded, small_size, interpolation=cv2.INTER_AREA)
    blurred = _filter(small, disk_kernel(radius / scale))
    full = cv2.resize(blurred, (padded.shape[1], padded.shape[0]), interpolation=cv2.INTER_LINEAR)
    return full[top : top + height, left : left + width]


def _blur_scale(radius: float) -> int:
    """Integer downscale at which a disk of ``radius`` keeps a radius of at most 8 px."""
    return max(1, math.ceil(radius / _MAX_FULL_RES_RADIUS))


def _blur_reach(level: float) -> int:
    """How far a layer's blur spreads, including block averaging and upsampling at reduced scale."""
    radius = abs(level)
    return math.ceil(radius) + 3 * _blur_scale(radius)


def _filter(layer: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    if kernel.shape == (1, 1):
        return layer
    return cv2.filter2D(layer, -1, kernel, borderType=cv2.BORDER_CONSTANT)


def _composite_over(behind: np.ndarray, front: np.ndarray) -> None:
    """In place: ``behind ← front + (1 − α_front)·behind`` on premultiplied RGBA."""
    behind *= 1.0 - front[..., 3:]
    behind += front
