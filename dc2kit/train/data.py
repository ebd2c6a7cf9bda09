"""Synthetic dual-camera training data: W, UW, defocus maps and targets from layered scenes.

One sample is a square crop of a canvas with a margin (so blur never wraps into the crop), placed
at a random position of a virtual full frame for its radial mask. Per sample:

- **W**: the scene through a shallow depth of field (blur radius up to 1–8 px across the
  scene's disparity range), with light sensor noise.
- **UW**: the same scene with a 5–20× deeper depth of field, another white balance (±12 % per
  channel) and exposure (0.8–1.25×), stronger noise, a residual misalignment of up to 0.5 px
  resampled bilinearly (as the alignment warp resamples it), and (60 % of samples) the strips
  that parallax hides from UW beside nearer objects filled with W, as the render pipeline fills
  invalid alignment. UW keeps W's resolution: DC² runs at about 1024×768, well below the ~2200 px
  that UW's crop of W's field of view holds on a 12 MP phone capture, so at the model's input
  size UW's handicaps are noise, colour and alignment, not pixels. (v1 of this engine also
  halved UW's resolution and misaligned it by 1 px: its UW was worse than blurred W even where
  W's blur radius was ≥ 3 px, so no model could use it.)
- **Target**: the scene at a target focus and blur strength (2–14 px across the range), per task:
  `refocus_near_far` / `refocus_far_near` (target focus on the far background / a near shape,
  W focused on the other), `all_in_focus` (target blur 0), `shallow` (sharp W, blurred target),
  `identity` (target = W without noise).

`defocus_w` and `defocus_t` come from `model/defocus.py`'s `defocus_map` on the all-in-focus
disparity, as the render pipeline computes them from a depth map. Images are in [−1, 1].
Every draw comes from a generator seeded by (stream, seed, index): the same seed gives the same
batch bit for bit, and the validation and evaluation streams never meet the training stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from dc2kit.model.defocus import defocus_map
from dc2kit.model.radial import radial_mask
from dc2kit.train.optics import LayeredRenderer, disk_blur, per_sample_defocus
from dc2kit.train.scene import GAMMA, PhotoTextures, Scene, make_scenes

TASKS = ("refocus_near_far", "refocus_far_near", "all_in_focus", "shallow", "identity")
TASK_WEIGHTS = (0.2, 0.2, 0.25, 0.2, 0.15)
STREAMS = {"train": 0, "validation": 1, "evaluation": 2}
FULL_FRAME = (768, 1024)  # the virtual full frame (H, W) that crops are placed in
W_BLUR_RANGE = (1.0, 8.0)  # W's blur radius across the scene's disparity range, px
TARGET_BLUR_RANGE = (2.0, 14.0)
UW_MISALIGNMENT = 0.5  # px, the residual after alignment
UW_NOISE = (0.004, 0.012)  # σ of UW's sensor noise in display space (W: ≤ 0.006)
MARGIN = 16  # canvas margin: more than the largest blur radius


@dataclass
class Batch:
    """Model inputs, target and bookkeeping of one batch (images in [−1, 1], N×C×S×S)."""

    w: Tensor
    uw: Tensor
    defocus_w: Tensor
    defocus_t: Tensor
    radial: Tensor
    target: Tensor
    sharp: Tensor  # the all-in-focus scene
    disparity: Tensor
    tasks: tuple[str, ...]
    focus_w: Tensor  # (N,) focus disparity and blur strength (px per disparity unit) of W …
    strength_w: Tensor
    focus_t: Tensor  # … and of the target
    strength_t: Tensor

    def signed_target_defocus(self, index: int) -> Tensor:
        """Sample `index`'s signed target blur radius (H, W), for the classical renderer."""
        return defocus_map(
            self.disparity[index, 0],
            float(self.focus_t[index]),
            float(self.strength_t[index]),
            signed=True,
        )

    def inputs(self) -> tuple[Tensor, ...]:
        return self.w, self.uw, self.defocus_w, self.defocus_t, self.radial


def generator_for(stream: str, seed: int, index: int) -> torch.Generator:
    """A torch generator for one batch, from the numpy seed-sequence of (stream, seed, index)."""
    entropy = np.random.SeedSequence([STREAMS[stream], seed, index]).generate_state(2)
    return torch.Generator().manual_seed(int(entropy[0]) << 32 | int(entropy[1]))


def _to_display(linear: Tensor) -> Tensor:
    return linear.clamp(0, 1) ** (1 / GAMMA)


def _pick(g: torch.Generator, values: Tensor, valid: Tensor) -> Tensor:
    """One valid entry per row of `values` (B, K), uniformly."""
    scores = torch.rand(values.shape, generator=g) * valid
    return values.gather(1, scores.argmax(dim=1, keepdim=True)).squeeze(1)


class SyntheticDualCamera:
    """Batches of `crop`² dual-camera samples, deterministic by (stream, seed, index)."""

    def __init__(self, crop: int, seed: int = 0, photos: PhotoTextures | None = None) -> None:
        self.crop = crop
        self.seed = seed
        self.photos = photos
        self.canvas = crop + 2 * MARGIN

    def batch(self, index: int, size: int, stream: str = "train", task: str | None = None) -> Batch:
        g = generator_for(stream, self.seed, index)
        scene = make_scenes(g, size, self.canvas, self.photos)
        tasks = self._tasks(g, size, task)
        focus_w, focus_t, strength_w, strength_t = self._focus(g, scene, tasks)
        renderer = LayeredRenderer(scene)
        w_clean = _to_display(renderer.render(focus_w, strength_w))
        target = _to_display(renderer.render(focus_t, strength_t))
        uw = self._ultra_wide(g, scene.sharp(), strength_w)
        identity = torch.tensor([t == "identity" for t in tasks]).view(-1, 1, 1, 1)
        target = torch.where(identity, w_clean, target)
        w = (
            w_clean
            + 0.006
            * torch.rand(size, 1, 1, 1, generator=g)
            * torch.randn(w_clean.shape, generator=g)
        ).clamp(0, 1)
        disparity = scene.disparity()
        crop = self._crop
        disparity_c = crop(disparity)
        uw = self._fill_occlusions(g, crop(uw), crop(w), disparity_c)
        defocus_w = per_sample_defocus(disparity_c, focus_w, strength_w)
        defocus_t = per_sample_defocus(disparity_c, focus_t, strength_t)
        signed = lambda image: image * 2 - 1  # noqa: E731
        return Batch(
            w=signed(crop(w)),
            uw=signed(uw),
            defocus_w=defocus_w,
            defocus_t=defocus_t,
            radial=self._radial(g, size),
            target=signed(crop(target)),
            sharp=signed(crop(_to_display(scene.sharp()))),
            disparity=disparity_c,
            tasks=tasks,
            focus_w=focus_w,
            strength_w=strength_w,
            focus_t=focus_t,
            strength_t=strength_t,
        )

    def _crop(self, x: Tensor) -> Tensor:
        return x[..., MARGIN : MARGIN + self.crop, MARGIN : MARGIN + self.crop].contiguous()

    def _tasks(self, g: torch.Generator, size: int, task: str | None) -> tuple[str, ...]:
        if task is not None:
            return (task,) * size
        drawn = torch.multinomial(torch.tensor(TASK_WEIGHTS), size, replacement=True, generator=g)
        return tuple(TASKS[int(i)] for i in drawn)

    def _focus(
        self, g: torch.Generator, scene: Scene, tasks: tuple[str, ...]
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Focus disparities and blur strengths (px per disparity unit) of W and the target."""
        size = len(tasks)
        present = scene.alphas.amax(dim=(2, 3, 4)) > 0.5
        near = _pick(g, scene.disparities, present.float() + 1e-6)
        background = scene.background_disparity.flatten(1)
        far = _pick(g, background, torch.ones_like(background))
        low = background.amin(dim=1)
        high = torch.maximum(background.amax(dim=1), (scene.disparities * present).amax(dim=1))
        span = (high - low).clamp_min(1e-3)
        blur_w = W_BLUR_RANGE[0] + (W_BLUR_RANGE[1] - W_BLUR_RANGE[0]) * torch.rand(
            size, generator=g
        )
        blur_t = TARGET_BLUR_RANGE[0] + (TARGET_BLUR_RANGE[1] - TARGET_BLUR_RANGE[0]) * torch.rand(
            size, generator=g
        )
        strength_w, strength_t = blur_w / span, blur_t / span
        near_first = torch.rand(size, generator=g) < 0.5
        focus_w = torch.where(near_first, near, far)
        focus_t = torch.where(near_first, far, near)
        for i, task in enumerate(tasks):
            if task == "refocus_near_far":
                focus_w[i], focus_t[i] = near[i], far[i]
            elif task == "refocus_far_near":
                focus_w[i], focus_t[i] = far[i], near[i]
            elif task == "all_in_focus":
                strength_t[i] = 0.0
            elif task == "shallow":
                strength_w[i] = 0.0
            else:  # identity
                focus_t[i], strength_t[i] = focus_w[i], strength_w[i]
        return focus_w, focus_t, strength_w, strength_t

    def _ultra_wide(self, g: torch.Generator, sharp: Tensor, strength_w: Tensor) -> Tensor:
        """UW from the sharp scene: a deep depth of field, misalignment, white balance, exposure
        and noise (display space).

        Its blur radii are 5–20 % of W's (at most 1.6 px): so small beside the warp's resampling
        that one disk per image stands in for the depth-dependent blur.
        """
        size, canvas = sharp.shape[0], self.canvas
        radius = W_BLUR_RANGE[1] * (strength_w > 0) * (0.05 + 0.15 * torch.rand(size, generator=g))
        linear = disk_blur(sharp, radius / 2)
        shift = (torch.rand(size, 2, generator=g) * 2 - 1) * (2 * UW_MISALIGNMENT / canvas)
        theta = torch.zeros(size, 2, 3)
        theta[:, 0, 0] = theta[:, 1, 1] = 1
        theta[:, :, 2] = shift
        grid = F.affine_grid(theta, list(linear.shape), align_corners=False)
        linear = F.grid_sample(
            linear, grid, mode="bilinear", padding_mode="border", align_corners=False
        )
        gains = 0.88 + 0.24 * torch.rand(size, 3, 1, 1, generator=g)
        exposure = 0.8 + 0.45 * torch.rand(size, 1, 1, 1, generator=g)
        display = _to_display(linear * gains * exposure)
        sigma = UW_NOISE[0] + (UW_NOISE[1] - UW_NOISE[0]) * torch.rand(size, 1, 1, 1, generator=g)
        return (display + sigma * torch.randn(display.shape, generator=g)).clamp(0, 1)

    def _fill_occlusions(
        self, g: torch.Generator, uw: Tensor, w: Tensor, disparity: Tensor
    ) -> Tensor:
        """Fill the strip beside nearer objects that UW's viewpoint cannot see with W."""
        size = uw.shape[0]
        width = int(torch.randint(2, 9, (1,), generator=g))
        direction = 1 if float(torch.rand(1, generator=g)) < 0.5 else -1
        hidden = torch.zeros_like(disparity, dtype=torch.bool)
        for step in range(1, width + 1):
            hidden |= torch.roll(disparity, direction * step, dims=-1) > disparity + 0.05
        apply = (torch.rand(size, 1, 1, 1, generator=g) < 0.6) & hidden
        return torch.where(apply, w, uw)

    def _radial(self, g: torch.Generator, size: int) -> Tensor:
        full_h, full_w = FULL_FRAME
        masks = []
        for _ in range(size):
            top = int(torch.randint(full_h - self.crop + 1, (1,), generator=g))
            left = int(torch.randint(full_w - self.crop + 1, (1,), generator=g))
            masks.append(radial_mask(full_h, full_w, (top, left, self.crop, self.crop)))
        return torch.stack(masks).unsqueeze(1)


def load_photos(folder: str | Path, canvas: int) -> PhotoTextures:
    """Every readable photo in `folder`, linearised and scaled so its short side fits a canvas."""
    from PIL import Image, UnidentifiedImageError

    images = []
    for path in sorted(Path(folder).iterdir()):
        try:
            with Image.open(path) as image:
                rgb = image.convert("RGB")
        except (OSError, UnidentifiedImageError, ValueError):
            continue
        scale = max(canvas / min(rgb.size), min(1.0, 512 / max(rgb.size)))
        size = (max(canvas, round(rgb.width * scale)), max(canvas, round(rgb.height * scale)))
        array = np.asarray(rgb.resize(size, Image.Resampling.BILINEAR), dtype=np.float32) / 255
        images.append(torch.from_numpy(array).permute(2, 0, 1).contiguous() ** GAMMA)
    if not images:
        from dc2kit.train.errors import TrainError

        raise TrainError(f"{folder}: no readable photos for --images")
    return PhotoTextures(images)
