"""Render and focus-sweep pipelines: capture record → render inputs → classical or DC² engine.

The classical engine is the layered bokeh renderer (`render.bokeh`); the model engine runs a
DC2Net checkpoint built at the render size or at a tile size (`render.tiles`), with an ultra-wide
photo aligned onto W when given and W itself standing in for UW otherwise (said in the notes).
Sweep frames become a video in `render.video`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from dc2kit.atomic import atomic_output
from dc2kit.capture.align import align_uw_to_w
from dc2kit.capture.inputs import RenderInputs
from dc2kit.errors import Dc2kitError
from dc2kit.model import DC2Net
from dc2kit.render.bokeh import render_defocus
from dc2kit.render.tiles import TilePlan, render_tiles

Engine = Literal["classical", "model"]
SweepKind = Literal["focus", "aperture"]


class RenderError(Dc2kitError, RuntimeError):
    """An output that cannot be produced or written (no PNG encoder, folder not writable)."""


@dataclass
class ModelEngine:
    """A DC2Net at the render or tile size and the UW image it sees (aligned UW, or W itself)."""

    model: DC2Net
    uw: np.ndarray | None
    notes: tuple[str, ...]

    @classmethod
    def around(cls, model: DC2Net, inputs: RenderInputs, uw_image: np.ndarray | None):
        """The engine for `model`, built by `build_dc2` at `render.tiles.tile_size`."""
        tiling = TilePlan(inputs.image.shape[:2], (model.config.height, model.config.width))
        if uw_image is None:
            return cls(model, None, ("no UW image given: W stands in for UW", *tiling.note()))
        alignment = align_uw_to_w(inputs.image, uw_image)
        valid = alignment.valid[..., None]
        uw = np.where(valid, alignment.aligned_uw, inputs.image)
        note = (
            f"UW aligned onto W ({alignment.prealignment} pre-alignment, "
            f"{alignment.valid_fraction:.0%} valid; invalid pixels take W's colour)"
        )
        return cls(model, uw, (note, *tiling.note()))

    def __call__(self, inputs: RenderInputs) -> np.ndarray:
        return render_tiles(self.model, inputs, self.uw)


def classical_engine(inputs: RenderInputs) -> np.ndarray:
    return render_defocus(inputs.image, inputs.defocus, srgb=True)


def sweep_frames(
    inputs: RenderInputs,
    engine: Callable[[RenderInputs], np.ndarray],
    kind: SweepKind,
    frames: int,
    disparity_span: tuple[float, float],
) -> Iterator[np.ndarray]:
    """A focus pull (near to far across `disparity_span`) or an aperture ramp (0 to K)."""
    for t in np.linspace(0.0, 1.0, frames):
        if kind == "focus":
            near, far = disparity_span
            frame_inputs = inputs.refocused(near + (far - near) * t, inputs.blur_strength)
        else:
            frame_inputs = inputs.refocused(inputs.focus_disparity, inputs.blur_strength * t)
        yield engine(frame_inputs)


def save_png(image: np.ndarray, path: str | Path) -> None:
    """Write an RGB uint8 image atomically."""
    try:
        with atomic_output(path) as temporary:
            if not cv2.imwrite(str(temporary), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
                raise RenderError(f"{path}: OpenCV could not encode the image")
    except OSError as error:
        raise RenderError(f"{path}: cannot write ({error.strerror or error})") from error
