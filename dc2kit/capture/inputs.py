"""Capture record → what a renderer needs: image, filled disparity and defocus at a render size.

Every assumption made on the way (which image is the sharp one, how the blur strength was
derived, that the input W is taken as all in focus) is recorded in `RenderInputs.notes` so that
the CLI can say it aloud.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
import torch

from dc2kit.capture.errors import CaptureError
from dc2kit.capture.exif_lens import FULL_FRAME_DIAGONAL_MM
from dc2kit.capture.own_focus import own_blur
from dc2kit.capture.record import Accuracy, CaptureRecord
from dc2kit.model.defocus import defocus_map, focus_disparity_at, lens_blur_strength
from dc2kit.model.errors import DefocusError

RANGE_PERCENTILES = (1.0, 99.0)


@dataclass(frozen=True)
class RenderInputs:
    """Everything at the render size: `image` H×W×3 uint8, `disparity` and `defocus` H×W."""

    image: np.ndarray
    disparity: np.ndarray
    defocus: np.ndarray  # signed blur radius in pixels, r = K · (d − d_f)
    focus_disparity: float
    blur_strength: float  # K, pixels per unit of disparity at the render size
    notes: tuple[str, ...] = field(default=())
    defocus_w: np.ndarray | None = None  # the input W's own blur radius |r_w|; None: sharp

    def refocused(self, focus_disparity: float, blur_strength: float) -> RenderInputs:
        """The same image and disparity with another focus plane and blur strength."""
        defocus = defocus_map(
            torch.from_numpy(self.disparity), focus_disparity, blur_strength, signed=True
        )
        return replace(
            self,
            defocus=defocus.numpy(),
            focus_disparity=focus_disparity,
            blur_strength=blur_strength,
        )

    def model_tensors(self, uw: np.ndarray | None = None) -> tuple[torch.Tensor, ...]:
        """(w, uw, defocus_w, defocus_t) for DC2Net: |r| of W (zero if sharp) and of the target."""
        w = _to_model_image(self.image)
        uw_tensor = w if uw is None else _to_model_image(uw)
        target = torch.from_numpy(np.abs(self.defocus)).view(1, 1, *self.defocus.shape)
        if self.defocus_w is None:
            return w, uw_tensor, torch.zeros_like(target), target
        return w, uw_tensor, torch.from_numpy(self.defocus_w).view_as(target).float(), target


def _to_model_image(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(rgb).permute(2, 0, 1).unsqueeze(0).float() / 127.5 - 1.0


def sharp_image(record: CaptureRecord) -> tuple[np.ndarray, str | None]:
    """The all-in-focus photo: an embedded original when the primary is already a blur render."""
    original = record.extras.get("original_image")
    if isinstance(original, np.ndarray) and original.shape == record.image.shape:
        return original, "rendering from the embedded original (un-blurred) image"
    return record.image, None


def render_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """(width, height) scaled to at most `max_side` on the long side (0: keep the full size)."""
    scale = min(1.0, max_side / max(width, height)) if max_side > 0 else 1.0
    out_w, out_h = round(width * scale), round(height * scale)
    if out_w < 8 or out_h < 8:
        raise CaptureError(None, f"image {width}x{height} is too small to render")
    return out_w, out_h


def _resize_and_crop(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize to `size` (area filter), then centre-crop to multiples of 8 (the model's grid)."""
    resized = cv2.resize(array, size, interpolation=cv2.INTER_AREA)
    height, width = resized.shape[:2]
    top, left = (height % 8) // 2, (width % 8) // 2
    return resized[top : top + height // 8 * 8, left : left + width // 8 * 8]


def fill_holes(disparity: np.ndarray, path: Path | None = None) -> np.ndarray:
    """Replace NaN/non-positive disparity by the nearest valid value: a render needs all.
    `path` is the capture the map came from, for the error message."""
    holes = ~np.isfinite(disparity) | (disparity <= 0)
    if not holes.any():
        return disparity
    if holes.all():
        raise CaptureError(path, "the depth map has no valid value")
    _, labels = cv2.distanceTransformWithLabels(
        holes.astype(np.uint8), cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL
    )
    valid_values = disparity[~holes]
    # Labels number the zero (valid) pixels in row-major order.
    return np.where(holes, valid_values[labels - 1], disparity).astype(np.float32)


def disparity_range(disparity: np.ndarray) -> float:
    lo, hi = np.percentile(disparity, RANGE_PERCENTILES)
    return float(hi - lo)


def equivalent_blur_strength(record: CaptureRecord, f_number: float, width: int) -> float:
    """K for a 35 mm-equivalent f-number (what phone portrait modes show) at a render width.

    Equivalence is by the diagonal, as EXIF's FocalLengthIn35mmFilm defines it (and the same in
    either orientation): the equivalent lens has focal length f · 43.27 mm / sensor diagonal and
    pixel pitch 43.27 mm / image diagonal, the sensor diagonal being the pixel pitch times the
    full image's diagonal.
    """
    if record.focal_length_mm is None or record.pixel_pitch_mm is None:
        raise CaptureError(
            record.path,
            "--fnumber needs the capture's focal length and pixel pitch, which it lacks; "
            "use --blur-strength",
        )
    full_width, full_height = record.image_size
    full_diagonal = math.hypot(full_width, full_height)
    focal_eq = (
        record.focal_length_mm * FULL_FRAME_DIAGONAL_MM / (record.pixel_pitch_mm * full_diagonal)
    )
    pitch_eq = FULL_FRAME_DIAGONAL_MM / full_diagonal * full_width / width
    return lens_blur_strength(focal_eq, f_number, pitch_eq)


def _resolve_focus(
    record: CaptureRecord,
    native: np.ndarray,
    point: tuple[float, float] | None,
    disparity: float | None,
    what: str,
) -> float:
    """A focus disparity from a point (x, y) of the colour image or a disparity value."""
    if (point is None) == (disparity is None):
        raise CaptureError(record.path, f"give exactly one of a {what} point or a {what} disparity")
    if point is None:
        return float(disparity)
    x, y = point
    image_w, image_h = record.image_size
    if not (0 <= x < image_w and 0 <= y < image_h):
        raise CaptureError(record.path, f"{what} point ({x}, {y}) is outside the image")
    depth_w, depth_h = record.depth_size
    try:
        return focus_disparity_at(
            torch.from_numpy(native), x * depth_w / image_w, y * depth_h / image_h
        )
    except DefocusError as error:  # e.g. only holes around the point: name the file
        raise CaptureError(record.path, f"{what} point ({x}, {y}): {error}") from None


def _resolve_strength(
    record: CaptureRecord,
    disparity: np.ndarray,
    f_number: float | None,
    blur_strength: float | None,
    width: int,
    flags: str,
) -> tuple[float, str]:
    """K (px per disparity unit) from a 35 mm-equivalent f-number or a blur strength, and a note."""
    if (f_number is None) == (blur_strength is None):
        raise CaptureError(record.path, f"give exactly one of {flags}")
    if f_number is not None:
        strength = equivalent_blur_strength(record, f_number, width)
        return strength, f"f/{f_number:g} (35 mm equivalent) gives K = {strength:.2f} px per 1/m"
    spread = disparity_range(disparity)
    strength = float(blur_strength) / spread if spread > 0 else 0.0
    return strength, f"blur strength {blur_strength:g} px across the disparity range {spread:.4g}"


def prepare_render(
    record: CaptureRecord,
    *,
    focus_point: tuple[float, float] | None = None,
    focus_disparity: float | None = None,
    f_number: float | None = None,
    blur_strength: float | None = None,
    w_focus_point: tuple[float, float] | None = None,
    w_focus_disparity: float | None = None,
    w_f_number: float | None = None,
    w_blur_strength: float | None = None,
    max_side: int = 1024,
) -> RenderInputs:
    """Image, hole-filled disparity and signed defocus at the render size.

    Focus: a point (x, y) in the colour image's pixels (median disparity around it) or a
    disparity value. Aperture: a 35 mm-equivalent f-number (needs lens data) or a blur strength,
    the blur radius in render pixels across the map's disparity range (1st–99th percentile).
    The `w_` options say how the input W itself is defocused, in the same units; without them
    W's blur comes from the capture's own metadata (`own_focus.own_blur`), and where that says
    nothing W is taken as all in focus (`defocus_w` zero); the notes say which.
    """
    if (f_number is None) == (blur_strength is None):
        raise CaptureError(record.path, "give exactly one of an f-number or a blur strength")
    image, note = sharp_image(record)
    notes = [*record.notes, *([note] if note else [])]
    size = render_size(*record.image_size, max_side)
    native = record.disparity()
    focus = _resolve_focus(record, native, focus_point, focus_disparity, "focus")
    disparity = _resize_and_crop(fill_holes(record.disparity_at_image_size(), record.path), size)
    strength, strength_note = _resolve_strength(
        record, disparity, f_number, blur_strength, size[0], "an f-number or a blur strength"
    )
    notes.append(strength_note)
    if f_number is not None and record.accuracy is Accuracy.RELATIVE:
        notes.append("disparity accuracy is relative: blur sizes from --fnumber are approximate")
    w_given = (w_focus_point, w_focus_disparity, w_f_number, w_blur_strength) != (None,) * 4
    defocus_w = np.zeros_like(disparity)
    if w_given:
        w_focus = _resolve_focus(record, native, w_focus_point, w_focus_disparity, "W focus")
        w_strength, w_note = _resolve_strength(
            record,
            disparity,
            w_f_number,
            w_blur_strength,
            size[0],
            "--w-fnumber or --w-blur-strength",
        )
        defocus_w = defocus_map(torch.from_numpy(disparity), w_focus, w_strength).numpy()
        notes.append(f"input W defocus: focus disparity {w_focus:.4g}, {w_note}")
    else:
        own, own_note = own_blur(record, renders_original=note is not None, render_width=size[0])
        if own is not None:
            w_focus = _resolve_focus(
                record, native, own.focus_point, own.focus_disparity, "W focus"
            )
            defocus_w = defocus_map(torch.from_numpy(disparity), w_focus, own.strength).numpy()
        notes.append(own_note)
    image = _resize_and_crop(image, size)
    unfocused = RenderInputs(
        image, disparity, np.zeros_like(disparity), 0.0, 0.0, tuple(notes), defocus_w=defocus_w
    )
    return unfocused.refocused(focus, strength)
