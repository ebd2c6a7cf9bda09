"""`dc2kit capture info` (what a capture file holds), `capture synth` (a file of known depth)."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dc2kit.cli.common import (
    UsageError,
    add_command,
    add_json,
    finite_float,
    float_range,
    image_size,
    output_file,
    print_result,
)
from dc2kit.cli.raw_depth import (
    RAW_DEPTH_FLAGS,
    add_raw_depth_arguments,
    given_raw_depth,
    open_raw_depth,
    stray_raw_depth_options,
)
from dc2kit.errors import Dc2kitError

if TYPE_CHECKING:
    from dc2kit.capture.record import CaptureRecord


def capture_file(text: str) -> Path:
    """An argparse type: a capture path, or `sample:<name>` for a shipped sample."""
    from dc2kit.samples import SampleError, resolve_capture

    try:
        return resolve_capture(text)
    except SampleError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def capture_arguments(parser: argparse.ArgumentParser, *, photo_optional: bool = False) -> None:
    """The capture file and the flags that describe a separate depth map; with `photo_optional`
    a raw depth dump (DEPTH16, ARCore) may come without its photo."""
    from dc2kit.capture.record import Accuracy, DepthKind, DepthUnits

    parser.add_argument(
        "file",
        type=capture_file,
        nargs="?" if photo_optional else None,
        help="HEIC, portrait JPEG, Dynamic Depth or GDepth JPEG, image (with --depth, "
        "--depth16 or --arcore-depth), or sample:NAME"
        + ("; may be left out with a raw dump (the dump alone)" if photo_optional else ""),
    )
    pair = parser.add_argument_group("a separate depth map (image + --depth)")
    pair.add_argument("--depth", help="a separate depth/disparity map (PNG, 16-bit PNG, NPY)")
    pair.add_argument("--depth-kind", choices=[k.value for k in DepthKind], default="disparity")
    pair.add_argument("--depth-units", choices=[u.value for u in DepthUnits], default="relative")
    pair.add_argument("--depth-accuracy", choices=[a.value for a in Accuracy], default="relative")
    pair.add_argument(
        "--depth-scale",
        type=finite_float,
        default=1.0,
        help="multiply stored values by this (e.g. 0.001 for millimetres as metres)",
    )
    pair.add_argument(
        "--depth-missing", type=finite_float, help="stored value meaning no estimate (e.g. 0)"
    )
    pair.add_argument(
        "--focal-length-px",
        type=float_range(0, 1e6, low_open=True),
        help="focal length in pixels of the (displayed) image (also with a raw dump)",
    )
    pair.add_argument(
        "--pixel-pitch-mm",
        type=float_range(0, 1, low_open=True),
        help="sensor pixel pitch in mm at the image's size (with --focal-length-px: --fnumber; "
        "also with a raw dump)",
    )
    add_raw_depth_arguments(parser)


# A separate map's option → the flags that give a separate map it describes.
SEPARATE_MAP_OPTIONS = {
    "depth_scale": ("--depth",),
    "depth_missing": ("--depth",),
    "focal_length_px": ("--depth", *RAW_DEPTH_FLAGS),
    "pixel_pitch_mm": ("--depth", *RAW_DEPTH_FLAGS),
}


class PairOptionError(Dc2kitError):
    """A separate depth map's option given without a separate depth map."""


def _check_separate_map_options(args: argparse.Namespace) -> None:
    """Refuse options that describe a separate map when no such map is given."""
    given = ["--depth"] * (args.depth is not None) + [f.flag for f in given_raw_depth(args)]
    if len(given) > 1:
        raise PairOptionError(f"{' and '.join(given)}: give one separate depth map, not several")
    defaults = {"depth_scale": 1.0}
    stray: dict[str, list[str]] = {}
    for name, owners in SEPARATE_MAP_OPTIONS.items():
        if getattr(args, name) != defaults.get(name) and not set(owners) & set(given):
            stray.setdefault(" or ".join(owners), []).append("--" + name.replace("_", "-"))
    for owners, flags in stray_raw_depth_options(args).items():
        stray.setdefault(owners, []).extend(flags)
    if stray:
        raise PairOptionError(
            "; ".join(
                f"{', '.join(flags)}: used with {owners} only" for owners, flags in stray.items()
            )
        )


def open_record(args: argparse.Namespace) -> CaptureRecord:
    from dc2kit.capture.pair import PairCalibration
    from dc2kit.readers import open_capture

    _check_separate_map_options(args)
    raw = given_raw_depth(args)
    if raw:
        return open_raw_depth(args, raw[0])
    return open_capture(
        args.file,
        depth=args.depth,
        kind=args.depth_kind,
        units=args.depth_units,
        accuracy=args.depth_accuracy,
        calibration=PairCalibration(
            scale=args.depth_scale,
            missing_value=args.depth_missing,
            focal_length_px=args.focal_length_px,
            pixel_pitch_mm=args.pixel_pitch_mm,
        ),
    )


def capture_summary(record: CaptureRecord) -> dict[str, Any]:
    """What `capture info` reports: format, sizes, depth range, units, accuracy, lens, focus,
    gaps."""
    import numpy as np

    from dc2kit.capture.metadata_json import focus_json, json_extras

    valid = record.depth[np.isfinite(record.depth)]
    intrinsics = record.intrinsics
    extras = json_extras(record.extras)
    return {
        "file": str(record.path),
        "format": record.source_format,
        "image": {"width": record.image_size[0], "height": record.image_size[1]},
        "orientation": record.orientation,
        "depth": {
            "width": record.depth_size[0],
            "height": record.depth_size[1],
            "kind": record.kind.value,
            "units": record.units.value,
            "accuracy": record.accuracy.value,
            "min": float(valid.min()) if valid.size else None,
            "max": float(valid.max()) if valid.size else None,
            "holes": int(record.depth.size - valid.size),
            "confidence": record.confidence is not None,
        },
        "intrinsics": None if intrinsics is None else asdict(intrinsics),
        "focal_length_mm": record.focal_length_mm,
        "f_number": record.f_number,
        "pixel_pitch_mm": record.pixel_pitch_mm,
        "original_image": "original_image" in record.extras,
        "extras": extras,
        "camera_focus": focus_json(record.camera_focus),
        "render_focus": focus_json(record.render_focus),
        "missing": record.missing(),
        "notes": list(record.notes),
    }


def _range(depth: dict[str, Any]) -> str:
    """The depth range, or that there is none (every value a hole: NaN, inf)."""
    if depth["min"] is None:
        return "none (no finite value)"
    return f"{depth['min']:.4g} … {depth['max']:.4g}"


def cmd_capture_info(args: argparse.Namespace) -> int:
    if args.file is None and not given_raw_depth(args):
        raise UsageError(
            f"FILE is required; only a raw dump ({', '.join(RAW_DEPTH_FLAGS)}) may come without it",
            args.json,
        )
    summary = capture_summary(open_record(args))
    if args.file is None:
        summary["image"] = None
    return print_result(args, summary, _info_lines(summary))


def _info_lines(summary: dict[str, Any]) -> Iterator[str]:
    """`capture info` for a person: sizes, depth, intrinsics, lens, extras, focus, gaps."""
    depth = summary["depth"]
    yield f"[bold]{summary['file']}[/bold]: {summary['format']}"
    image = summary["image"]
    # The orientation code (1–8) may come from EXIF or a flag such as --rotation: notes say which.
    where = f"(orientation {summary['orientation']})"
    if image is None:
        yield f"  no photo: the depth alone, as displayed {where}"
    else:
        yield f"  image {image['width']}x{image['height']} as displayed {where}"
    yield (
        f"  {depth['kind']} {depth['width']}x{depth['height']} in {depth['units']} "
        f"({depth['accuracy']}), range {_range(depth)}, "
        f"{depth['holes']} holes, confidence {'yes' if depth['confidence'] else 'no'}"
    )
    if summary["intrinsics"]:
        k = summary["intrinsics"]
        yield (
            f"  intrinsics fx {k['fx']:.3f} fy {k['fy']:.3f} cx {k['cx']:.3f} cy {k['cy']:.3f} "
            f"at {k['reference_width']}x{k['reference_height']}"
        )
    lens = [
        f"{name} {summary[key]}"
        for name, key in (
            ("focal length mm", "focal_length_mm"),
            ("f-number", "f_number"),
            ("pixel pitch mm", "pixel_pitch_mm"),
        )
        if summary[key] is not None
    ]
    if lens:
        yield "  " + ", ".join(lens)
    for key, value in summary["extras"].items():
        yield f"  {key}: {value}"
    for key in ("camera_focus", "render_focus"):
        if summary[key]:
            yield f"  {key.replace('_', ' ')}: {summary[key]}"
    if summary["original_image"]:
        yield "  embedded original (un-blurred) image: yes"
    yield f"  missing: {', '.join(summary['missing']) or 'nothing'}"
    for note in summary["notes"]:
        yield f"  note: {note}"


def cmd_capture_synth(args: argparse.Namespace) -> int:
    """Write the built-in synthetic scene as a Dynamic Depth JPEG with known metric depth."""
    import numpy as np

    from dc2kit.android_bridge import write_dynamic_depth
    from dc2kit.model.synthetic import synthetic_view

    height, width = args.size
    rgb, disparity = synthetic_view(height, width)
    image = (rgb.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    depth_m = (1.0 / disparity).numpy()
    write_dynamic_depth(args.out, image, depth_m, format=args.format, bit_depth=16)
    payload = {
        "out": str(args.out),
        "size": {"width": width, "height": height},
        "format": args.format,
        "depth_m": [float(depth_m.min()), float(depth_m.max())],
    }
    low, high = payload["depth_m"]
    line = (
        f"wrote {args.out}: synthetic {width}x{height} Dynamic Depth JPEG, {args.format}, "
        f"depth {low:.2f} … {high:.2f} m"
    )
    return print_result(args, payload, [line])


def register(commands: argparse._SubParsersAction) -> None:
    capture = add_command(commands, "capture", help="inspect capture files")
    capture_commands = capture.add_subparsers(dest="capture_command", required=True)
    info = add_command(capture_commands, "info", help="format, sizes, depth, lens data")
    capture_arguments(info, photo_optional=True)
    add_json(info)
    info.set_defaults(run=cmd_capture_info)
    synth = add_command(
        capture_commands, "synth", help="write the built-in synthetic scene as a Dynamic Depth JPEG"
    )
    synth.add_argument("--out", type=output_file(".jpg", ".jpeg"), required=True, help="JPEG")
    synth.add_argument("--size", type=image_size, default=(480, 640), help="WxH (default 640x480)")
    synth.add_argument("--format", choices=("RangeInverse", "RangeLinear"), default="RangeInverse")
    add_json(synth)
    synth.set_defaults(run=cmd_capture_synth)
