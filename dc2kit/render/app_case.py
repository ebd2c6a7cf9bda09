"""One tile of a real capture as an app-io artifact sees it, with the render pipeline's output.

The expected image is what `render --engine model` computes for that tile (`tiles.tile_renderer`:
the pipeline's defocus maps, normalisation and per-tile radial mask), rounded to 8 bits as
`render_tiles` rounds; the inputs are what an app would pack for the same tile. Parity gates and
golden test vectors both start here, so the artifact is checked against the pipeline, not
against a copy of its own graph.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dc2kit.capture.inputs import disparity_range, prepare_render
from dc2kit.capture.record import CaptureRecord
from dc2kit.convert.app_io import AppInputs
from dc2kit.model import DC2Net
from dc2kit.render.tiles import TileError, TilePlan, tile_renderer


@dataclass(frozen=True)
class AppCase:
    """A tile's app inputs, the pipeline's expected 8-bit render, and how they were chosen."""

    inputs: AppInputs
    expected: np.ndarray  # (H, W, 3) uint8
    settings: dict[str, float | int | str]


def to_pixels(image: np.ndarray) -> np.ndarray:
    """[−1, 1] → uint8, rounded to nearest as `render_tiles` and the app-io graph round."""
    return np.clip(np.rint((image + 1.0) * 127.5), 0, 255).astype(np.uint8)


def app_case(
    record: CaptureRecord,
    model: DC2Net,
    *,
    frame_side: int,
    tile_index: int = -1,
    blur_px: float = 12.0,
    w_blur_px: float = 3.0,
) -> AppCase:
    """Tile `tile_index` of `record` rendered at `frame_side` (long side) by the pipeline.

    Focus is the median disparity (target) and its 25th percentile (the input W's own), blur in
    pixels across the disparity range as `render --blur-strength` / `--w-blur-strength` take it.
    """
    probe = record.disparity()
    focus, w_focus = (float(np.nanpercentile(probe, q)) for q in (50, 25))
    inputs = prepare_render(
        record,
        focus_disparity=focus,
        blur_strength=blur_px,
        w_focus_disparity=w_focus,
        w_blur_strength=w_blur_px,
        max_side=frame_side,
    )
    frame = inputs.image.shape[:2]
    windows = list(TilePlan(frame, (model.config.height, model.config.width)).windows())
    if not -len(windows) <= tile_index < len(windows):
        raise TileError(
            f"tile index {tile_index} is outside the frame's {len(windows)} tiles "
            f"(0 to {len(windows) - 1}, or -1 for the last)"
        )
    window = windows[tile_index]
    expected = to_pixels(tile_renderer(model, inputs, None)(window))
    spread = disparity_range(inputs.disparity)
    tile_w = window.of(inputs.image)
    app = AppInputs(
        w=tile_w,
        uw=tile_w,  # no UW photo in the sample: the pipeline lets W stand in for it, and so do we
        disparity=window.of(inputs.disparity),
        focus_disparity=inputs.focus_disparity,
        blur_strength=inputs.blur_strength,
        w_focus_disparity=w_focus,
        w_blur_strength=w_blur_px / spread if spread > 0 else 0.0,
        tile_top=window.top,
        tile_left=window.left,
        frame_height=frame[0],
        frame_width=frame[1],
    )
    settings = {
        "capture": str(record.path),
        "frame_side": frame_side,
        "tile_index": tile_index if tile_index >= 0 else len(windows) + tile_index,
        "tiles": len(windows),
        "blur_px": blur_px,
        "w_blur_px": w_blur_px,
    }
    return AppCase(app, expected, settings)
