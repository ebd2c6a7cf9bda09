"""Quality of a DC2Net on a held-out synthetic suite, against the baselines it must beat.

The suite comes from the evaluation stream of the data engine (its own seeds, never drawn in
training): per task, `scenes` samples. Methods: W unchanged; the classical layered renderer
applied to W (it can only add blur); the model; and the model with W standing in for UW (the
single-camera ablation: what UW's detail is worth). PSNR (dB) and SSIM on 8-bit images, over the
whole image and over the region W had blurred (W's blur radius ≥ 1 px).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from dc2kit.metrics import psnr, ssim
from dc2kit.model import DC2Net
from dc2kit.model.defocus import BLURRED_RADIUS
from dc2kit.render.bokeh import render_defocus
from dc2kit.train.data import Batch, SyntheticDualCamera

EVALUATION_TASKS = ("refocus_near_far", "refocus_far_near", "all_in_focus", "shallow")
METHOD_LABELS = {
    "w_unchanged": "W unchanged",
    "classical": "classical renderer on W",
    "model": "DC² model",
    "single_camera": "model, W as UW (ablation)",
}


def _to_uint8(images: Tensor) -> np.ndarray:
    """(N, 3, H, W) in [−1, 1] → (N, H, W, 3) uint8, as an app would store them."""
    scaled = ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return scaled.permute(0, 2, 3, 1).numpy()


def _classical(batch: Batch, model: DC2Net) -> np.ndarray:
    w = _to_uint8(batch.w)
    return np.stack(
        [
            render_defocus(w[i], batch.signed_target_defocus(i).numpy(), srgb=True)
            for i in range(len(w))
        ]
    )


def _model(batch: Batch, model: DC2Net) -> np.ndarray:
    with torch.inference_mode():
        return _to_uint8(model(*batch.inputs()).image)


def _single_camera(batch: Batch, model: DC2Net) -> np.ndarray:
    with torch.inference_mode():
        w, _, defocus_w, defocus_t, radial = batch.inputs()
        return _to_uint8(model(w, w, defocus_w, defocus_t, radial).image)


METHODS: dict[str, Callable[[Batch, DC2Net], np.ndarray]] = {
    "w_unchanged": lambda batch, model: _to_uint8(batch.w),
    "classical": _classical,
    "model": _model,
    "single_camera": _single_camera,
}


@dataclass
class Scores:
    """Mean scores of one method on one task; region scores are None when W was sharp."""

    psnr: float
    ssim: float
    psnr_blurred: float | None
    ssim_blurred: float | None


def _score(outputs: np.ndarray, targets: np.ndarray, regions: np.ndarray) -> Scores:
    whole_p, whole_s, region_p, region_s = [], [], [], []
    for out, ref, region in zip(outputs / 255.0, targets / 255.0, regions, strict=True):
        out_c, ref_c = out.transpose(2, 0, 1), ref.transpose(2, 0, 1)
        whole_p.append(psnr(ref_c, out_c, peak=1.0))
        whole_s.append(ssim(ref_c, out_c, data_range=1.0))
        if region.any():
            region_p.append(psnr(ref_c, out_c, peak=1.0, mask=region[None]))
            region_s.append(ssim(ref_c, out_c, data_range=1.0, mask=region))
    mean = lambda values: float(np.mean(values)) if values else None  # noqa: E731
    return Scores(mean(whole_p), mean(whole_s), mean(region_p), mean(region_s))


def evaluate(
    model: DC2Net, scenes: int = 32, crop: int = 128, seed: int = 0, batch_size: int = 8
) -> tuple[dict[str, dict[str, Scores]], dict[str, Batch]]:
    """Scores per task and method, and the first batch of each task (for the figure)."""
    data = SyntheticDualCamera(crop, seed)
    results: dict[str, dict[str, Scores]] = {}
    examples: dict[str, Batch] = {}
    model.eval()
    for task_index, task in enumerate(EVALUATION_TASKS):
        outputs: dict[str, list[np.ndarray]] = {name: [] for name in METHODS}
        targets, regions = [], []
        for start in range(0, scenes, batch_size):
            size = min(batch_size, scenes - start)
            index = task_index * 100_000 + start
            batch = data.batch(index, size, stream="evaluation", task=task)
            examples.setdefault(task, batch)
            targets.append(_to_uint8(batch.target))
            regions.append((batch.defocus_w[:, 0] >= BLURRED_RADIUS).numpy())
            for name, method in METHODS.items():
                outputs[name].append(method(batch, model))
        target, region = np.concatenate(targets), np.concatenate(regions)
        results[task] = {
            name: _score(np.concatenate(out), target, region) for name, out in outputs.items()
        }
    return results, examples
