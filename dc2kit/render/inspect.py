"""`dc2kit inspect`: what DC² does inside, for any capture (the supplement's Figures 1–2).

One labelled panel: W, the UW it saw, both defocus maps, then per scale (1/8 … 1) the refined
W, the refined UW, both blending masks and the fused image, and the final render; plus, per
scale, the mean UW weight where W is blurred and where it is sharp (and the same split by the
target's blur), which says whether the model leans on UW where it should.

The network runs in tiles of its configured size like a render (`render.tiles`): at
`--max-side 0` a full-frame network would need gigabytes of activations. Every scale's outputs
are blended with the render's raised-cosine weights, average-pooled to that scale.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from dc2kit.atomic import atomic_output
from dc2kit.capture.inputs import RenderInputs
from dc2kit.model import DC2Net, DC2Output, ScaleOutput
from dc2kit.model.defocus import BLURRED_RADIUS, SCALE_FACTORS
from dc2kit.render.tiles import TilePlan, tile_forward


def _image(tensor: torch.Tensor) -> np.ndarray:
    return ((tensor[0].permute(1, 2, 0).clamp(-1, 1).numpy() + 1) / 2).astype(np.float32)


def _mean_where(values: torch.Tensor, where: torch.Tensor) -> float | None:
    return float(values[where].mean()) if bool(where.any()) else None


def _pool(weight: np.ndarray, factor: int) -> np.ndarray:
    """`weight` (H, W) or (N,) average-pooled by `factor` along each axis."""
    if weight.ndim == 1:
        return weight.reshape(-1, factor).mean(axis=1)
    height, width = weight.shape
    return weight.reshape(height // factor, factor, width // factor, factor).mean(axis=(1, 3))


def tiled_output(model: DC2Net, inputs: RenderInputs, uw: np.ndarray | None) -> DC2Output:
    """The model's output over the whole frame from tiles of its size, every scale blended.

    Tile origins and sizes are multiples of 8, so at scale 1/f a tile is the slice
    [top/f, (top+height)/f) of that scale's frame, and pooling is linear, so the pooled weights
    sum to the pooled normaliser: where one tile alone covers the frame its output is copied.
    """
    frame = inputs.image.shape[:2]
    plan = TilePlan(frame, (model.config.height, model.config.width))
    forward = tile_forward(model, inputs, uw)
    factors = (1, *(factor for factor in SCALE_FACTORS for _ in ScaleOutput._fields))
    totals: list[np.ndarray] = []
    for window in plan.windows():
        output = forward(window)
        tensors = (output.image, *(tensor for scale in output.scales for tensor in scale))
        if not totals:
            totals = [
                np.zeros((t.shape[1], frame[0] // f, frame[1] // f), np.float32)
                for t, f in zip(tensors, factors, strict=True)
            ]
        for total, tensor, factor in zip(totals, tensors, factors, strict=True):
            rows = slice(window.top // factor, (window.top + window.height) // factor)
            columns = slice(window.left // factor, (window.left + window.width) // factor)
            total[:, rows, columns] += tensor[0].numpy() * _pool(window.weight, factor)
    row_sum, column_sum = plan.normaliser()
    for total, factor in zip(totals, factors, strict=True):
        total /= np.outer(_pool(row_sum, factor), _pool(column_sum, factor))
    blended = [torch.from_numpy(total)[None] for total in totals]
    fields = len(ScaleOutput._fields)
    scales = tuple(
        ScaleOutput(*blended[1 + i * fields : 1 + (i + 1) * fields])
        for i in range(len(SCALE_FACTORS))
    )
    return DC2Output(blended[0], scales)


def mask_statistics(
    output, defocus_w: torch.Tensor, defocus_t: torch.Tensor
) -> list[dict[str, float | int | None]]:
    """Per scale: mean UW weight where W (and the target) is blurred (≥ 1 px) or sharp."""
    rows = []
    for factor, scale in zip(SCALE_FACTORS, output.scales, strict=True):
        pooled = [F.avg_pool2d(d, factor) if factor > 1 else d for d in (defocus_w, defocus_t)]
        w_blurred, t_blurred = (d >= BLURRED_RADIUS for d in pooled)
        weight = scale.mask_uw
        rows.append(
            {
                "factor": factor,
                "uw_weight_mean": float(weight.mean()),
                "uw_weight_where_w_blurred": _mean_where(weight, w_blurred),
                "uw_weight_where_w_sharp": _mean_where(weight, ~w_blurred),
                "uw_weight_where_target_blurred": _mean_where(weight, t_blurred),
                "uw_weight_where_target_sharp": _mean_where(weight, ~t_blurred),
            }
        )
    return rows


def inspect_capture(
    model: DC2Net, inputs: RenderInputs, uw: np.ndarray | None, out: str | Path, title: str
) -> list[dict[str, float | int | None]]:
    """Run the model (in tiles), write the panel PNG atomically, return the mask statistics."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    w, uw_tensor, defocus_w, defocus_t = inputs.model_tensors(uw)
    output = tiled_output(model, inputs, uw)
    top_max = max(float(defocus_t.max()), float(defocus_w.max()), 1e-6)
    top = [
        ("W", _image(w), {}),
        ("UW (aligned)" if uw is not None else "UW = W (no UW given)", _image(uw_tensor), {}),
        (
            "defocus W (px)",
            defocus_w[0, 0].numpy(),
            {"cmap": "viridis", "vmin": 0, "vmax": top_max},
        ),
        (
            "defocus target (px)",
            defocus_t[0, 0].numpy(),
            {"cmap": "viridis", "vmin": 0, "vmax": top_max},
        ),
        ("final render", _image(output.image), {}),
    ]
    columns = ("refined W", "refined UW", "mask W", "mask UW", "fused")
    figure, axes = plt.subplots(5, 5, figsize=(15, 15 * w.shape[2] / w.shape[3] + 1))
    for axis, (label, panel, style) in zip(axes[0], top, strict=True):
        shown = axis.imshow(panel, **style)
        axis.set_title(label, fontsize=10)
        if style:
            figure.colorbar(shown, ax=axis, fraction=0.046)
    for row, (factor, scale) in enumerate(zip(SCALE_FACTORS, output.scales, strict=True), 1):
        panels = (
            _image(scale.refined_w),
            _image(scale.refined_uw),
            scale.mask_w[0, 0].numpy(),
            scale.mask_uw[0, 0].numpy(),
            _image(scale.fused),
        )
        for col, (axis, panel) in enumerate(zip(axes[row], panels, strict=True)):
            style = {"cmap": "magma", "vmin": 0, "vmax": 1} if col in (2, 3) else {}
            axis.imshow(panel, interpolation="nearest", **style)
            axis.set_title(f"{columns[col]}, 1/{factor}", fontsize=10)
    for axis in axes.flat:
        axis.set_xticks([])
        axis.set_yticks([])
    figure.suptitle(title, fontsize=11)
    figure.tight_layout()
    with atomic_output(out) as temporary:
        figure.savefig(temporary, dpi=72, format="png")
    plt.close(figure)
    return mask_statistics(output, defocus_w, defocus_t)
