"""Procedural layered scenes: all-in-focus colour with disparity, as depth-ordered layers.

A scene is a slanted or curved background plus a few occluding "dead-leaves" shapes (ellipses,
rotated rectangles, wobbly blobs), each with a procedural texture (smooth noise, stripes,
gradients, fine grain, text-like marks) or a crop of the user's own photos. Every layer extends
over the whole canvas, also behind the layers in front of it, so a defocus renderer can reveal
what a blurred foreground edge hides. Everything is drawn in linear light from one generator,
batched, so the same seed gives the same scene bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

BACKGROUND_DISPARITY = (0.02, 0.45)  # relative disparity of the background (far)
SHAPE_DISPARITY_MAX = 1.0  # shapes lie between the background's nearest point and this
BACKGROUND_SLABS = 5  # the background's depth is rendered as this many soft slabs
MAX_SHAPES = 5
GAMMA = 2.2  # textures are drawn in display space and linearised with this gamma


@dataclass
class Scene:
    """A batch of layered scenes on a (P, P) canvas.

    `background` (B, 3, P, P) and `background_disparity` (B, 1, P, P); shapes, far to near:
    `colours` (B, S, 3, P, P), `alphas` (B, S, 1, P, P) and `disparities` (B, S), linear RGB.
    """

    background: Tensor
    background_disparity: Tensor
    colours: Tensor
    alphas: Tensor
    disparities: Tensor

    def sharp(self) -> Tensor:
        """The all-in-focus image: shapes composited over the background, far to near."""
        image = self.background
        for index in range(self.alphas.shape[1]):
            alpha = self.alphas[:, index]
            image = alpha * self.colours[:, index] + (1 - alpha) * image
        return image

    def disparity(self) -> Tensor:
        """The all-in-focus disparity (B, 1, P, P): the front-most layer covering each pixel."""
        disparity = self.background_disparity
        for index in range(self.alphas.shape[1]):
            front = self.disparities[:, index].view(-1, 1, 1, 1).expand_as(disparity)
            disparity = torch.where(self.alphas[:, index] > 0.5, front, disparity)
        return disparity


def _uniform(g: torch.Generator, shape: tuple[int, ...], low: float, high: float) -> Tensor:
    return low + (high - low) * torch.rand(shape, generator=g)


def _grid(n: int, size: int) -> tuple[Tensor, Tensor]:
    """Pixel coordinates (n, 1, P, P) normalised to [0, 1)."""
    axis = torch.arange(size, dtype=torch.float32) / size
    y = axis.view(1, 1, size, 1).expand(n, 1, size, size)
    x = axis.view(1, 1, 1, size).expand(n, 1, size, size)
    return y, x


def _smooth_noise(g: torch.Generator, n: int, size: int) -> Tensor:
    cells = int(torch.randint(2, 17, (1,), generator=g))
    coarse = torch.rand(n, 1, cells, cells, generator=g)
    return F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)


def _stripes(g: torch.Generator, n: int, size: int) -> Tensor:
    y, x = _grid(n, size)
    angle = _uniform(g, (n, 1, 1, 1), 0, math.pi)
    frequency = torch.exp(_uniform(g, (n, 1, 1, 1), math.log(2.0), math.log(0.35 * size)))
    phase = _uniform(g, (n, 1, 1, 1), 0, 2 * math.pi)
    wave = torch.sin(2 * math.pi * frequency * (x * angle.cos() + y * angle.sin()) + phase)
    square = torch.rand(n, 1, 1, 1, generator=g) < 0.5
    return torch.where(square, (wave > 0).float(), 0.5 + 0.5 * wave)


def _gradient(g: torch.Generator, n: int, size: int) -> Tensor:
    y, x = _grid(n, size)
    angle = _uniform(g, (n, 1, 1, 1), 0, 2 * math.pi)
    ramp = x * angle.cos() + y * angle.sin()
    return (ramp - ramp.amin(dim=(2, 3), keepdim=True)) / 1.5


def _grain(g: torch.Generator, n: int, size: int) -> Tensor:
    return torch.rand(n, 1, size, size, generator=g)


def _marks(g: torch.Generator, n: int, size: int) -> Tensor:
    """Text-like marks: rows of short dashes and dots on a plain ground."""
    line, glyph = (int(v) for v in torch.randint(4, 9, (2,), generator=g))
    rows, cols = -(-size // line), -(-size // glyph)
    ink = (torch.rand(n, 1, rows, cols, generator=g) < 0.55).float()
    ink = ink.repeat_interleave(line, dim=2).repeat_interleave(glyph, dim=3)[..., :size, :size]
    y = torch.arange(size).view(-1, 1) % line
    x = torch.arange(size).view(1, -1) % glyph
    stroke = ((y >= 1) & (y < line - 1) & (x < glyph - 1)).float()
    return ink * stroke


TEXTURES = (_smooth_noise, _stripes, _gradient, _grain, _marks)


def _select(g: torch.Generator, n: int, makers: tuple, size: int, choice: Tensor) -> Tensor:
    """`makers[choice[i]]` drawn for each i, computing each kind only where it is chosen."""
    out = torch.zeros(n, 1, size, size)
    for kind, make in enumerate(makers):
        index = (choice == kind).nonzero().squeeze(1)
        if index.numel():
            out[index] = make(g, index.numel(), size)
    return out


def procedural_textures(g: torch.Generator, n: int, size: int) -> Tensor:
    """`n` linear-light RGB textures (n, 3, P, P): two patterns mixed between two colours."""
    first = torch.randint(0, len(TEXTURES), (n,), generator=g)
    second = (first + torch.randint(1, len(TEXTURES), (n,), generator=g)) % len(TEXTURES)
    mix = torch.rand(n, 1, 1, 1, generator=g)
    t = mix * _select(g, n, TEXTURES, size, first)
    t = (t + (1 - mix) * _select(g, n, TEXTURES, size, second)).clamp(0, 1)
    low, high = torch.rand(n, 3, 1, 1, generator=g), torch.rand(n, 3, 1, 1, generator=g)
    return (low + (high - low) * t) ** GAMMA


def _ellipse(u: Tensor, v: Tensor, a: Tensor, b: Tensor, g: torch.Generator) -> Tensor:
    return (torch.sqrt((u / a) ** 2 + (v / b) ** 2) - 1) * b


def _rectangle(u: Tensor, v: Tensor, a: Tensor, b: Tensor, g: torch.Generator) -> Tensor:
    return torch.maximum(u.abs() - a, v.abs() - b)


def _blob(u: Tensor, v: Tensor, a: Tensor, b: Tensor, g: torch.Generator) -> Tensor:
    n = u.shape[0]
    lobes = torch.randint(2, 7, (n, 1, 1, 1), generator=g).float()
    wobble = _uniform(g, (n, 1, 1, 1), 0.1, 0.35)
    phase = _uniform(g, (n, 1, 1, 1), 0, 2 * math.pi)
    theta = torch.atan2(v, u)
    return torch.sqrt(u**2 + v**2) - a * (1 + wobble * torch.sin(lobes * theta + phase))


SHAPES = (_ellipse, _rectangle, _blob)


def _one_shape(g: torch.Generator, n: int, size: int, kind: int) -> Tensor:
    y, x = _grid(n, size)
    cy, cx = _uniform(g, (n, 1, 1, 1), 0.1, 0.9), _uniform(g, (n, 1, 1, 1), 0.1, 0.9)
    angle = _uniform(g, (n, 1, 1, 1), 0, math.pi)
    u = ((x - cx) * angle.cos() + (y - cy) * angle.sin()) * size
    v = (-(x - cx) * angle.sin() + (y - cy) * angle.cos()) * size
    a = _uniform(g, (n, 1, 1, 1), 0.08, 0.4) * size
    b = a * _uniform(g, (n, 1, 1, 1), 0.35, 1.0)
    return (0.5 - SHAPES[kind](u, v, a, b, g)).clamp(0, 1)


def _shape_alphas(g: torch.Generator, n: int, size: int) -> Tensor:
    """Anti-aliased masks (n, 1, P, P) of ellipses, rotated rectangles and wobbly blobs."""
    makers = tuple(
        (lambda g, n, size, kind=kind: _one_shape(g, n, size, kind)) for kind in range(len(SHAPES))
    )
    return _select(g, n, makers, size, torch.randint(0, len(SHAPES), (n,), generator=g))


def _background_disparity(g: torch.Generator, n: int, size: int) -> Tensor:
    """A slanted plane with an optional curvature, inside BACKGROUND_DISPARITY."""
    y, x = _grid(n, size)
    low, high = BACKGROUND_DISPARITY
    slope_y, slope_x = _uniform(g, (n, 1, 1, 1), -1, 1), _uniform(g, (n, 1, 1, 1), -1, 1)
    bend = _uniform(g, (n, 1, 1, 1), -1, 1) * (torch.rand(n, 1, 1, 1, generator=g) < 0.5)
    surface = slope_y * (y - 0.5) + slope_x * (x - 0.5) + bend * ((x - 0.5) ** 2 + (y - 0.5) ** 2)
    surface = surface - surface.amin(dim=(2, 3), keepdim=True)
    span = surface.amax(dim=(2, 3), keepdim=True).clamp_min(1e-6)
    near = _uniform(g, (n, 1, 1, 1), low + 0.05, high)
    far = low + (near - low) * torch.rand(n, 1, 1, 1, generator=g) * 0.8
    return far + (near - far) * surface / span


def make_scenes(
    g: torch.Generator, batch: int, size: int, photos: PhotoTextures | None = None
) -> Scene:
    """`batch` random scenes on a `size`² canvas (2 to MAX_SHAPES shapes each)."""
    textures = procedural_textures(g, batch * (MAX_SHAPES + 1), size)
    if photos is not None:
        textures = photos.mix_into(g, textures)
    textures = textures.view(batch, MAX_SHAPES + 1, 3, size, size)
    background_disparity = _background_disparity(g, batch, size)
    alphas = _shape_alphas(g, batch * MAX_SHAPES, size).view(batch, MAX_SHAPES, 1, size, size)
    count = torch.randint(2, MAX_SHAPES + 1, (batch, 1), generator=g)
    chosen = torch.rand(batch, MAX_SHAPES, generator=g).argsort(dim=1).argsort(dim=1) < count
    present = chosen.float().view(batch, -1, 1, 1, 1)
    nearest_background = background_disparity.amax(dim=(1, 2, 3)).view(-1, 1)
    start = nearest_background + 0.03
    disparities = start + (SHAPE_DISPARITY_MAX - start) * torch.rand(batch, MAX_SHAPES, generator=g)
    disparities, _ = disparities.sort(dim=1)  # far to near
    return Scene(
        background=textures[:, 0],
        background_disparity=background_disparity,
        colours=textures[:, 1:],
        alphas=alphas * present,
        disparities=disparities,
    )


class PhotoTextures:
    """Textures cut from a folder of the user's own photos (`dc2kit train --images DIR`)."""

    def __init__(self, images: list[Tensor], share: float = 0.5) -> None:
        self.images = images  # linear RGB (3, H, W), each side ≥ the canvas
        self.share = share

    def mix_into(self, g: torch.Generator, textures: Tensor) -> Tensor:
        """Replace about `share` of the textures by random photo crops."""
        size = textures.shape[-1]
        out = textures.clone()
        for index in range(textures.shape[0]):
            if float(torch.rand(1, generator=g)) >= self.share:
                continue
            image = self.images[int(torch.randint(len(self.images), (1,), generator=g))]
            top = int(torch.randint(image.shape[1] - size + 1, (1,), generator=g))
            left = int(torch.randint(image.shape[2] - size + 1, (1,), generator=g))
            out[index] = image[:, top : top + size, left : left + size]
        return out
