"""W's own blur from what the capture file says, for `defocus_w` when no `--w-*` flag is given.

Two kinds of facts describe blur already in an image (`CaptureRecord.camera_focus` and
`render_focus`, see `FocusFacts`):

- the camera's: the photo as taken, blurred by its lens. K = f² / (2 · N · p) from the physical
  focal length, f-number and pixel pitch (scaled to the render size), focused at the EXIF
  SubjectArea centre, or at SubjectDistance when the disparity is metric.
- a blur render's (GDepth GFocus, the Dynamic Depth focal table): the primary image is itself
  a synthetic bokeh, focused at a distance with a given blur radius at infinity. Since
  r = K · (d − d_f) is r_inf = K · d_f at d = 0, K = r_inf / d_f.

A render's facts describe the primary only, so they apply when the primary is what is rendered
from; an embedded original is the camera's photo. Every outcome comes with a note saying where
W's blur came from, or why W is taken as sharp.
"""

from __future__ import annotations

from dataclasses import dataclass

from dc2kit.capture.record import Accuracy, CaptureRecord, DepthUnits
from dc2kit.model.defocus import lens_blur_strength

HOW_TO_SET = "give --w-focus and --w-fnumber or --w-blur-strength for W's own depth of field"


@dataclass(frozen=True)
class OwnBlur:
    """W's focus (a point of the image or a disparity) and K in px per disparity unit at the
    render size, with a note naming the capture fields it came from."""

    focus_point: tuple[float, float] | None
    focus_disparity: float | None
    strength: float
    note: str


def own_blur(
    record: CaptureRecord, renders_original: bool, render_width: int
) -> tuple[OwnBlur | None, str]:
    """W's blur from the capture's metadata, or None and the note saying why W counts as sharp."""
    if record.render_focus is not None and not renders_original:
        return _render_blur(record, render_width)
    blur, reason = _camera_blur(record, render_width)
    if blur is not None:
        return blur, blur.note
    if record.render_focus is not None:
        reason += (
            f"; {record.render_focus.source} describes the blurred primary, not the embedded "
            "original rendered from"
        )
    return None, f"input W taken as all in focus (defocus_w = 0): {reason}; {HOW_TO_SET}"


def _render_blur(record: CaptureRecord, render_width: int) -> tuple[OwnBlur | None, str]:
    facts = record.render_focus
    focus = facts.distance if record.units is DepthUnits.DIOPTERS else 1.0 / facts.distance
    radius_at_infinity = facts.blur_at_infinity * render_width
    strength = radius_at_infinity / focus
    note = (
        f"input W is the primary, a blur render ({facts.source}): focus disparity {focus:.4g}, "
        f"{radius_at_infinity:.3g} px blur at infinity at this size, K = {strength:.4g} px per "
        "unit of disparity"
    )
    return OwnBlur(None, focus, strength, note), note


def _camera_blur(record: CaptureRecord, render_width: int) -> tuple[OwnBlur | None, str]:
    """The lens blur of the photo as taken, or None and the reason it cannot be known."""
    lens = {
        "f-number": record.f_number,
        "focal length": record.focal_length_mm,
        "pixel pitch": record.pixel_pitch_mm,
    }
    lacking = [name for name, value in lens.items() if value is None]
    if lacking:
        return None, f"the capture lacks the camera's {', '.join(lacking)}"
    facts = record.camera_focus
    point, disparity, where = None, None, ""
    if facts is not None and facts.point is not None:
        point, where = facts.point, f"focus point ({facts.point[0]:g}, {facts.point[1]:g})"
    elif facts is not None and facts.distance is not None:
        if record.units is DepthUnits.RELATIVE or record.accuracy is not Accuracy.ABSOLUTE:
            return None, (
                f"the camera focused at {facts.distance:g} m ({facts.source}), which a "
                "relative disparity map cannot place"
            )
        disparity, where = 1.0 / facts.distance, f"focus distance {facts.distance:g} m"
    else:
        return None, (
            "the capture says nowhere where the camera focused (no EXIF SubjectArea, "
            "SubjectLocation or SubjectDistance)"
        )
    pitch = record.pixel_pitch_mm * record.image_size[0] / render_width
    strength = lens_blur_strength(record.focal_length_mm, record.f_number, pitch)
    sources = record.extras.get("lens_sources", {})
    lens_from = ", ".join(sorted(set(sources.values()))) or "the capture"
    note = (
        f"input W defocus from the camera: f/{record.f_number:g}, {record.focal_length_mm:g} mm, "
        f"pixel pitch {record.pixel_pitch_mm:.4g} mm ({lens_from}), {where} ({facts.source}): "
        f"K = {strength:.4g} px per 1/m at this size"
    )
    if record.accuracy is Accuracy.RELATIVE:
        note += "; the disparity is relative, so W's blur is approximate"
    return OwnBlur(point, disparity, strength, note), note
