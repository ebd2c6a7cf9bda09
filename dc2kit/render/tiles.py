"""Full-resolution model renders in overlapping tiles: one network at the tile size serves them all.

Why: a 12 MP photo through a network built at its full size needs gigabytes of activations. Here
the network is built once at the tile size, tiles run one at a time, each with the radial mask of
its own place in the full frame (`model.radial_mask`, passed at forward time), and the outputs are
blended with raised-cosine weights over each overlap. Full-resolution memory is only the render
inputs and one float32 accumulator.

Tile origins are multiples of 8, so every tile sees the full frame's pooling grid (the 1/2, 1/4
and 1/8 scales of a tile are slices of the full frame's). Weights are separable (a row ramp times
a column ramp), so their sum, the normaliser, is an outer product of two 1-D sums.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import numpy as np
import torch

from dc2kit.capture.inputs import RenderInputs
from dc2kit.errors import Dc2kitError
from dc2kit.model import DC2Net, DC2Output
from dc2kit.model.radial import radial_mask

DEFAULT_TILE = (384, 512)  # (height, width) of a full-resolution render's tiles
GRID = 8  # the model's sizes and the tiles' origins are multiples of this (three 2x poolings)
OVERLAP_FRACTION = 0.25  # least overlap of neighbouring tiles, as a share of the tile side


class TileError(Dc2kitError, ValueError):
    """A tile size the render cannot use (not a multiple of 8, non-positive, larger than it)."""


def _size_text(size: tuple[int, int]) -> str:
    return f"{size[1]}x{size[0]}"


def check_tile(frame: tuple[int, int], tile: tuple[int, int]) -> None:
    """Refuse a tile (height, width) that is non-positive, off the 8-grid or larger than `frame`."""
    for name, value, limit in zip(("height", "width"), tile, frame, strict=True):
        if value <= 0 or value % GRID:
            raise TileError(f"tile {name} must be a positive multiple of {GRID}, got {value}")
        if value > limit:
            raise TileError(
                f"tile {_size_text(tile)} is larger than the {_size_text(frame)} image rendered"
            )


def tile_size(
    frame: tuple[int, int], requested: tuple[int, int] | None, full_resolution: bool
) -> tuple[int, int]:
    """The network size for a render of `frame` (height, width): the requested tile, checked;
    `DEFAULT_TILE` (capped at the frame) for a full-resolution render; else the frame (one tile)."""
    if requested is not None:
        check_tile(frame, requested)
        return requested
    if full_resolution:
        return min(DEFAULT_TILE[0], frame[0]), min(DEFAULT_TILE[1], frame[1])
    return frame


def tile_starts(length: int, tile: int) -> tuple[int, ...]:
    """Origins along one axis: the first at 0, the last flush with the end (on the 8-grid when
    `length` is, as a render's is), the others evenly spread on the grid, neighbours sharing at
    least about `OVERLAP_FRACTION` of a tile."""
    if tile >= length:
        return (0,)
    least_overlap = int(np.ceil(tile * OVERLAP_FRACTION / GRID)) * GRID
    count = int(np.ceil((length - tile) / (tile - least_overlap))) + 1
    spacing = (length - tile) / (count - 1)
    inner = (round(i * spacing / GRID) * GRID for i in range(count - 1))
    return (*inner, length - tile)


def _ramp(length: int) -> np.ndarray:
    """Raised cosine rising from near 0 to near 1 over `length` pixels (never exactly 0)."""
    return 0.5 - 0.5 * np.cos(np.pi * (np.arange(length) + 0.5) / length)


def axis_weights(starts: tuple[int, ...], tile: int) -> list[np.ndarray]:
    """Each tile's weight along one axis: 1 inside, rising over the overlap with the previous
    tile and falling over the overlap with the next; over one overlap the two sum to 1."""
    weights = []
    for index, start in enumerate(starts):
        weight = np.ones(tile)
        if index > 0:
            overlap = starts[index - 1] + tile - start
            weight[:overlap] *= _ramp(overlap)
        if index + 1 < len(starts):
            overlap = start + tile - starts[index + 1]
            weight[tile - overlap :] *= _ramp(overlap)[::-1]
        weights.append(weight.astype(np.float32))
    return weights


@dataclass(frozen=True)
class Window:
    """One tile: its place (top, left, height, width) in the frame and its blend weight."""

    top: int
    left: int
    height: int
    width: int
    weight: np.ndarray  # (height, width) float32

    @property
    def crop(self) -> tuple[int, int, int, int]:
        return self.top, self.left, self.height, self.width

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.top, self.top + self.height), slice(self.left, self.left + self.width)

    def of(self, array: np.ndarray) -> np.ndarray:
        """This tile of a frame-sized array (H, W, ...), contiguous."""
        return np.ascontiguousarray(array[self.slices])


@dataclass(frozen=True)
class TilePlan:
    """How a frame (height, width) is covered by tiles (height, width)."""

    frame: tuple[int, int]
    tile: tuple[int, int]

    def __post_init__(self) -> None:
        check_tile(self.frame, self.tile)

    @property
    def rows(self) -> tuple[int, ...]:
        return tile_starts(self.frame[0], self.tile[0])

    @property
    def columns(self) -> tuple[int, ...]:
        return tile_starts(self.frame[1], self.tile[1])

    def note(self) -> tuple[str, ...]:
        """What a console says about the tiling (nothing for one tile)."""
        rows, columns = len(self.rows), len(self.columns)
        if rows * columns == 1:
            return ()
        return (
            f"network run in {columns}x{rows} overlapping {_size_text(self.tile)} tiles, each "
            "with its own radial mask, blended with raised-cosine weights",
        )

    def windows(self) -> Iterator[Window]:
        row_weights = axis_weights(self.rows, self.tile[0])
        column_weights = axis_weights(self.columns, self.tile[1])
        for top, row_weight in zip(self.rows, row_weights, strict=True):
            for left, column_weight in zip(self.columns, column_weights, strict=True):
                weight = np.outer(row_weight, column_weight)
                yield Window(top, left, *self.tile, weight)

    def normaliser(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-row and per-column sums of the weights; their outer product is the 2-D sum."""
        sums = []
        for starts, length, tile in zip(
            (self.rows, self.columns), self.frame, self.tile, strict=True
        ):
            total = np.zeros(length, np.float32)
            for start, weight in zip(starts, axis_weights(starts, tile), strict=True):
                total[start : start + tile] += weight
            sums.append(total)
        return sums[0], sums[1]

    def blend(self, render: Callable[[Window], np.ndarray], channels: int) -> np.ndarray:
        """Σ weight · render(window) / Σ weight over the frame, float32 (H, W, channels)."""
        total = np.zeros((*self.frame, channels), np.float32)
        for window in self.windows():
            total[window.slices] += render(window) * window.weight[..., None]
        row_sum, column_sum = self.normaliser()
        total /= row_sum[:, None, None]  # in place: no frame-sized weight array
        total /= column_sum[None, :, None]
        return total


def _tile_inputs(inputs: RenderInputs, window: Window) -> RenderInputs:
    defocus_w = None if inputs.defocus_w is None else window.of(inputs.defocus_w)
    return replace(
        inputs,
        image=window.of(inputs.image),
        disparity=window.of(inputs.disparity),
        defocus=window.of(inputs.defocus),
        defocus_w=defocus_w,
    )


def tile_forward(
    model: DC2Net, inputs: RenderInputs, uw: np.ndarray | None
) -> Callable[[Window], DC2Output]:
    """window → the model's whole output (every scale) for that tile of `inputs`."""
    frame = inputs.image.shape[:2]

    @torch.inference_mode()
    def forward(window: Window) -> DC2Output:
        tile = _tile_inputs(inputs, window)
        radial = radial_mask(*frame, window.crop).view(1, 1, window.height, window.width)
        tile_uw = None if uw is None else window.of(uw)
        return model(*tile.model_tensors(tile_uw), radial=radial)

    return forward


def tile_renderer(
    model: DC2Net, inputs: RenderInputs, uw: np.ndarray | None
) -> Callable[[Window], np.ndarray]:
    """window → the model's output for that tile of `inputs` (H, W, 3) in [-1, 1]."""
    forward = tile_forward(model, inputs, uw)
    return lambda window: forward(window).image[0].permute(1, 2, 0).numpy()


def render_tiles(model: DC2Net, inputs: RenderInputs, uw: np.ndarray | None) -> np.ndarray:
    """The model's render of `inputs` (uint8 H×W×3), in tiles of the model's configured size."""
    plan = TilePlan(inputs.image.shape[:2], (model.config.height, model.config.width))
    image = plan.blend(tile_renderer(model, inputs, uw), channels=3)
    image += 1.0  # [-1, 1] → [0, 255], in place
    image *= 127.5
    np.clip(np.rint(image, out=image), 0, 255, out=image)
    return image.astype(np.uint8)
