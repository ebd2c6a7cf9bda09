"""App I/O: the work around the network moved into the exported graph (`export --app-io`).

An app hands the artifact what it has: the W photo and the UW photo aligned onto it (8-bit sRGB),
the disparity map at the artifact's size, and eight scalars: the target focus disparity and blur
strength K, the input W's own focus disparity and K (K = 0: W is sharp), the tile's offset in the
full frame and the full frame's size. The graph computes both defocus maps with
`model.defocus.blur_radius`, the [−1, 1] normalisation, the tile's radial mask with
`model.radial.radial_at`, runs DC2Net and returns the rendered tile as 8-bit RGB, rounded to
nearest in the graph (so every runtime rounds the same way).

`APP_INPUTS`/`APP_OUTPUTS` are the contract rows the manifest and `dc2kit contract` print;
`AppInputs.check` refuses values the graph cannot check for itself.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from dc2kit.convert.errors import ExportError
from dc2kit.model import DC2Net
from dc2kit.model.defocus import blur_radius
from dc2kit.model.radial import radial_at

GRID = 8  # the network's size grid: a tile's sides are multiples of it
IMAGE_NAMES = ("w", "uw")
SCALAR_NAMES = (
    "focus_disparity",
    "blur_strength",
    "w_focus_disparity",
    "w_blur_strength",
    "tile_top",
    "tile_left",
    "frame_height",
    "frame_width",
)
INPUT_NAMES = (*IMAGE_NAMES, "disparity", *SCALAR_NAMES)
OUTPUT_NAME = "image"
AppLayout = Literal["NHWC", "NCHW"]


@dataclass(frozen=True)
class ContractRow:
    """One input or output as an app must pack it."""

    name: str
    units: str
    value_range: tuple[float | None, float | None]
    colour_space: str | None
    description: str


_SRGB = "sRGB (8-bit, as the camera's JPEG/HEIC decodes; no linearisation)"
APP_INPUTS: dict[str, ContractRow] = {
    "w": ContractRow("w", "8-bit code values", (0, 255), _SRGB, "wide (W) photo, this tile"),
    "uw": ContractRow(
        "uw", "8-bit code values", (0, 255), _SRGB, "ultra-wide photo aligned onto W, this tile"
    ),
    "disparity": ContractRow(
        "disparity",
        "disparity (1/m, or relative), hole-filled",
        (0.0, None),
        None,
        "disparity map of this tile at the artifact's size, every value finite and > 0",
    ),
    "focus_disparity": ContractRow(
        "focus_disparity", "disparity units", (None, None), None, "target focus plane d_f"
    ),
    "blur_strength": ContractRow(
        "blur_strength",
        "pixels per disparity unit (at the full frame's resolution)",
        (0.0, None),
        None,
        "target K: blur radius |K · (d − d_f)| in pixels",
    ),
    "w_focus_disparity": ContractRow(
        "w_focus_disparity", "disparity units", (None, None), None, "the input W's own focus plane"
    ),
    "w_blur_strength": ContractRow(
        "w_blur_strength",
        "pixels per disparity unit",
        (0.0, None),
        None,
        "the input W's own K (0 when W is taken as all in focus)",
    ),
    "tile_top": ContractRow(
        "tile_top", "pixels", (0.0, None), None, "row of the tile's top edge in the full frame"
    ),
    "tile_left": ContractRow(
        "tile_left", "pixels", (0.0, None), None, "column of the tile's left edge in the frame"
    ),
    "frame_height": ContractRow(
        "frame_height", "pixels", (None, None), None, "full frame height (≥ tile height)"
    ),
    "frame_width": ContractRow(
        "frame_width", "pixels", (None, None), None, "full frame width (≥ tile width)"
    ),
}
APP_OUTPUTS: dict[str, ContractRow] = {
    OUTPUT_NAME: ContractRow(
        OUTPUT_NAME, "8-bit code values", (0, 255), _SRGB, "W rendered at the target blur (tile)"
    )
}

GRAPH_DOES = (
    "defocus_t = |blur_strength · (disparity − focus_disparity)| and "
    "defocus_w = |w_blur_strength · (disparity − w_focus_disparity)| (dc2kit.model.defocus)",
    "w, uw: 0–255 → [−1, 1] (x / 127.5 − 1)",
    "the radial mask of the tile's place in the full frame (dc2kit.model.radial), from "
    "tile_top, tile_left, frame_height, frame_width",
    "DC2Net, then the output [−1, 1] → 0–255, rounded to nearest and clamped",
)


class AppIOGraph(nn.Module):
    """DC2Net behind app inputs: `forward(*INPUT_NAMES)` → the 0–255 image (rounded).

    `layout` NHWC (TFLite): images are uint8 (1, H, W, 3), disparity (1, H, W, 1), the output
    uint8 (1, H, W, 3). NCHW (Core ML): image types deliver w and uw already in [−1, 1] (scale and
    bias), disparity is (1, 1, H, W) and the output float 0–255 for an RGB image type.
    """

    def __init__(self, model: DC2Net, layout: AppLayout) -> None:
        super().__init__()
        self.model = model
        self.layout = layout
        h, w = model.config.height, model.config.width
        self.register_buffer("rows", torch.arange(h, dtype=torch.float32).view(h, 1), False)
        self.register_buffer("columns", torch.arange(w, dtype=torch.float32).view(1, w), False)

    def _image(self, image: Tensor) -> Tensor:
        if self.layout == "NCHW":
            return image
        return image.permute(0, 3, 1, 2).to(torch.float32) / 127.5 - 1.0

    def forward(
        self,
        w: Tensor,
        uw: Tensor,
        disparity: Tensor,
        focus_disparity: Tensor,
        blur_strength: Tensor,
        w_focus_disparity: Tensor,
        w_blur_strength: Tensor,
        tile_top: Tensor,
        tile_left: Tensor,
        frame_height: Tensor,
        frame_width: Tensor,
    ) -> Tensor:
        if self.layout == "NHWC":
            disparity = disparity.permute(0, 3, 1, 2)
        defocus_t = blur_radius(disparity, focus_disparity, blur_strength)
        defocus_w = blur_radius(disparity, w_focus_disparity, w_blur_strength)
        # The mask is scale-free: in units of the frame's long side every term stays ≤ 1, so an
        # fp16 program does not overflow squaring a 12 MP frame's pixel coordinates (2016² > 65504).
        side = torch.maximum(frame_height, frame_width)
        rows, columns = (self.rows + tile_top) / side, (self.columns + tile_left) / side
        radial = radial_at(rows, columns, frame_height / side, frame_width / side)
        radial = radial.view(1, 1, *rows.shape[:1], -1)
        out = self.model(self._image(w), self._image(uw), defocus_w, defocus_t, radial=radial)
        pixels = torch.clamp(torch.round((out.image + 1.0) * 127.5), 0.0, 255.0)
        if self.layout == "NCHW":
            return pixels
        return pixels.permute(0, 2, 3, 1).to(torch.uint8)


@dataclass(frozen=True)
class AppInputs:
    """What an app hands the artifact for one tile: images (H, W, 3) uint8, disparity (H, W)."""

    w: np.ndarray
    uw: np.ndarray
    disparity: np.ndarray
    focus_disparity: float
    blur_strength: float
    w_focus_disparity: float
    w_blur_strength: float
    tile_top: int
    tile_left: int
    frame_height: int
    frame_width: int

    def scalars(self) -> dict[str, float]:
        return {name: float(getattr(self, name)) for name in SCALAR_NAMES}

    def check(self, tile: tuple[int, int], where: str) -> None:
        """Refuse what the graph would silently mis-render, in one line naming `where`."""
        h, w = tile
        if h % GRID or w % GRID:
            raise ExportError(f"{where}: tile {w}x{h} is not a multiple of {GRID} on each side")
        for name in IMAGE_NAMES:
            image = getattr(self, name)
            if image.shape != (h, w, 3) or image.dtype != np.uint8:
                raise ExportError(
                    f"{where}: {name} is {image.dtype} {image.shape}, expected uint8 ({h}, {w}, 3)"
                )
        if self.disparity.shape != (h, w):
            size = "x".join(str(n) for n in self.disparity.shape[::-1])
            raise ExportError(
                f"{where}: disparity map is {size}, expected the artifact's size {w}x{h}"
            )
        if not np.isfinite(self.disparity).all() or (self.disparity <= 0).any():
            raise ExportError(f"{where}: disparity has holes (non-finite or ≤ 0); fill them first")
        values = self.scalars()
        bad = [n for n, v in values.items() if not math.isfinite(v)]
        if bad:
            raise ExportError(f"{where}: {bad[0]} must be finite, got {values[bad[0]]}")
        for name in ("blur_strength", "w_blur_strength"):
            if values[name] < 0:
                raise ExportError(f"{where}: {name} must be ≥ 0, got {values[name]:g}")
        if self.frame_height < h or self.frame_width < w:
            raise ExportError(
                f"{where}: full frame {self.frame_width}x{self.frame_height} is smaller than the "
                f"tile {w}x{h}"
            )
        if not (
            0 <= self.tile_top <= self.frame_height - h
            and 0 <= self.tile_left <= self.frame_width - w
        ):
            raise ExportError(
                f"{where}: tile offset (top {self.tile_top}, left {self.tile_left}) puts the "
                f"{w}x{h} tile outside the {self.frame_width}x{self.frame_height} frame"
            )

    def feeds(self, layout: AppLayout) -> dict[str, np.ndarray]:
        """The exact tensors the artifact receives, by input name, in its layout."""
        scalars = {n: np.array([v], np.float32) for n, v in self.scalars().items()}
        disparity = self.disparity.astype(np.float32)
        if layout == "NHWC":
            images = {n: getattr(self, n)[None] for n in IMAGE_NAMES}
            return {**images, "disparity": disparity[None, :, :, None], **scalars}
        images = {n: getattr(self, n).transpose(2, 0, 1)[None] for n in IMAGE_NAMES}
        return {**images, "disparity": disparity[None, None], **scalars}

    def pixel_buffers(self) -> dict[str, np.ndarray]:
        """What a Core ML app-io model is handed, by input name: the pixels of its image inputs
        (w, uw (H, W, 3) uint8 RGB; disparity (H, W) float16, a OneComponent16Half buffer) and
        the scalars as (1,) float32 multi-arrays."""
        scalars = {n: np.array([v], np.float32) for n, v in self.scalars().items()}
        images = {n: np.ascontiguousarray(getattr(self, n)) for n in IMAGE_NAMES}
        return {**images, "disparity": self.disparity.astype(np.float16), **scalars}

    def torch_feeds(self, layout: AppLayout) -> tuple[Tensor, ...]:
        """`feeds` as tensors for `AppIOGraph` (NCHW images already in [−1, 1])."""
        feeds = self.feeds(layout)
        if layout == "NCHW":
            for name in IMAGE_NAMES:
                feeds[name] = feeds[name].astype(np.float32) / 127.5 - 1.0
        return tuple(torch.from_numpy(np.ascontiguousarray(feeds[n])) for n in INPUT_NAMES)


def contract_rows() -> dict[str, list[dict[str, Any]]]:
    """The app-facing rows of every input and output, JSON-ready."""
    return {
        "inputs": [asdict(row) for row in APP_INPUTS.values()],
        "outputs": [asdict(row) for row in APP_OUTPUTS.values()],
    }
