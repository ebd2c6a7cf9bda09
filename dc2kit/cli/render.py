"""`dc2kit render` (refocus a capture into a PNG) and `dc2kit sweep` (a focus or aperture video)."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from dc2kit.cli.capture import capture_arguments, open_record
from dc2kit.cli.common import (
    MAX_BLUR_STRENGTH,
    MAX_IMAGE_SIDE,
    add_command,
    add_json,
    finite_float,
    float_range,
    int_range,
    keywords_for,
    model_size,
    output_file,
    parse_point,
    print_result,
)
from dc2kit.cli.quiet import progress_bar
from dc2kit.cli.weights import add_weights_arguments, resolved_weights
from dc2kit.render.video import AUTO, CODEC_CHOICES

if TYPE_CHECKING:
    from dc2kit.capture.inputs import RenderInputs
    from dc2kit.capture.record import CaptureRecord

IMAGE_SUFFIXES = (".png",)  # what render.pipeline.save_png writes
VIDEO_SUFFIXES = (".mp4",)  # what render.video.write_video writes


def _render_inputs(args: argparse.Namespace, record: CaptureRecord) -> RenderInputs:
    import numpy as np

    from dc2kit.capture.inputs import prepare_render

    focus_disparity = args.focus_disparity
    if args.focus_point is None and focus_disparity is None:  # only sweeps may omit focus
        focus_disparity = float(np.nanmedian(record.disparity()))
    return prepare_render(
        record, **keywords_for(prepare_render, args, focus_disparity=focus_disparity)
    )


def _engine(args: argparse.Namespace, inputs: RenderInputs) -> tuple[Callable, dict[str, Any]]:
    """The renderer and what to report about it: notes and, for the model, its weights."""
    from dc2kit.render.pipeline import ModelEngine, RenderError, classical_engine

    if args.engine == "classical":
        model_only = {
            "--uw": args.uw,
            "--checkpoint": args.checkpoint,
            "--random-weights": args.random_weights,
            "--seed": args.seed is not None,
            "--tile": args.tile is not None,
        }
        given = [flag for flag, value in model_only.items() if value]
        if given:
            raise RenderError(f"{', '.join(given)}: used by --engine model only")
        return classical_engine, {"notes": ()}
    from dc2kit.model.builder import build_dc2
    from dc2kit.readers import open_capture_image
    from dc2kit.render.tiles import tile_size

    choice, _ = resolved_weights(args)
    size = tile_size(inputs.image.shape[:2], args.tile, full_resolution=args.max_side == 0)
    uw = open_capture_image(args.uw) if args.uw else None
    model, origin = build_dc2(None, size, weights=choice)
    engine = ModelEngine.around(model, inputs, uw)
    notes = (f"weights: {origin.label}", *engine.notes)
    return engine, {"weights": origin.to_dict(), "notes": notes}


def _report(
    args: argparse.Namespace, payload: dict[str, Any], notes: Sequence[str], about: dict[str, Any]
) -> None:
    notes = (*notes, *about["notes"])
    lines = (*(f"  note: {note}" for note in notes), f"wrote {payload['out']}")
    print_result(args, {**payload, **about, "notes": list(notes)}, lines)


def cmd_render(args: argparse.Namespace) -> int:
    from dc2kit.render.pipeline import save_png

    record = open_record(args)
    inputs = _render_inputs(args, record)
    engine, about = _engine(args, inputs)
    with progress_bar() as progress:
        progress.add_task(f"rendering with the {args.engine} engine", total=None)
        start = time.perf_counter()
        image = engine(inputs)
        seconds = time.perf_counter() - start
    save_png(image, args.out)
    payload = {
        "out": str(args.out),
        "engine": args.engine,
        "size": {"width": image.shape[1], "height": image.shape[0]},
        "focus_disparity": inputs.focus_disparity,
        "blur_strength": inputs.blur_strength,
        "defocus_range_px": [float(inputs.defocus.min()), float(inputs.defocus.max())],
        "seconds": round(seconds, 3),
    }
    _report(args, payload, inputs.notes, about)
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    import numpy as np

    from dc2kit.render.pipeline import sweep_frames
    from dc2kit.render.video import write_video

    record = open_record(args)
    inputs = _render_inputs(args, record)
    engine, about = _engine(args, inputs)
    near, far = (float(v) for v in np.percentile(inputs.disparity, (99.0, 1.0)))
    frames = sweep_frames(inputs, engine, args.sweep, args.frames, (near, far))
    with progress_bar() as progress:
        task = progress.add_task(f"{args.sweep} sweep", total=args.frames)
        video = write_video(
            (progress.advance(task) or frame for frame in frames), args.out, args.fps, args.codec
        )
    payload = {
        "out": str(args.out),
        "engine": args.engine,
        "sweep": args.sweep,
        "frames": video.frames,
        "fps": args.fps,
        "codec": video.codec,
        "size": {"width": video.width, "height": video.height},
        "focus_disparity_span": [near, far] if args.sweep == "focus" else None,
        "blur_strength": inputs.blur_strength,
    }
    _report(args, payload, (*inputs.notes, *video.notes), about)
    return 0


def _defocus_arguments(
    parser: argparse.ArgumentParser,
    flag: str,
    helps: tuple[str, ...],
    focus_required: bool = False,
    aperture_required: bool = False,
) -> None:
    """A focus (point or disparity) and an aperture (f-number or blur strength), each one of two;
    `flag` prefixes the options: "" for the render's defocus, "w-" for W's own."""
    dest = flag.replace("-", "_")
    focus = parser.add_mutually_exclusive_group(required=focus_required)
    focus.add_argument(
        f"--{flag}focus",
        dest=f"{dest}focus_point",
        metavar=f"{dest}focus".upper(),
        type=parse_point,
        help=helps[0],
    )
    focus.add_argument(f"--{flag}focus-disparity", type=finite_float, help=helps[1])
    aperture = parser.add_mutually_exclusive_group(required=aperture_required)
    aperture.add_argument(
        f"--{flag}fnumber",
        dest=f"{dest}f_number",
        metavar=f"{dest}fnumber".upper(),
        type=float_range(0, 1e6, low_open=True),
        help=helps[2],
    )
    aperture.add_argument(
        f"--{flag}blur-strength", type=float_range(0, MAX_BLUR_STRENGTH), help=helps[3]
    )


RENDER_DEFOCUS_HELP = (
    "focus point X,Y in displayed image pixels",
    "focus plane disparity",
    "35 mm-equivalent f-number",
    f"blur radius in px across the disparity range, 0 … {MAX_BLUR_STRENGTH:g}",
)
W_DEFOCUS_HELP = (  # how the input W is itself defocused (DC²'s W has a shallow depth of field)
    "W's own focus point X,Y (without --w-* flags: W's blur from the capture metadata)",
    "W's focus disparity",
    "W's 35 mm-eq. f-number",
    "W's own blur radius in px across the disparity range",
)


def _render_arguments(parser: argparse.ArgumentParser, sweep: bool, engine: bool = True) -> None:
    capture_arguments(parser)
    _defocus_arguments(
        parser, "", RENDER_DEFOCUS_HELP, focus_required=not sweep, aperture_required=True
    )
    _defocus_arguments(parser, "w-", W_DEFOCUS_HELP)
    if engine:
        parser.add_argument("--engine", choices=("classical", "model"), default="classical")
    parser.add_argument(
        "--tile",
        type=model_size,
        help="run the network in overlapping WxH tiles (multiples of 8; default 512x384 at "
        "--max-side 0, else none)" + ("; model engine only" if engine else ""),
    )
    add_weights_arguments(parser, preset=False)
    parser.add_argument("--uw", help="ultra-wide photo to align onto W (model engine)")
    parser.add_argument(
        "--max-side",
        type=int_range(0, MAX_IMAGE_SIDE),
        default=1024,
        help="long side of the render (0: full size)",
    )
    add_json(parser)


def register(commands: argparse._SubParsersAction) -> None:
    render = add_command(commands, "render", help="refocus a capture into a PNG")
    _render_arguments(render, sweep=False)
    render.add_argument("--out", type=output_file(*IMAGE_SUFFIXES), required=True, help="PNG")
    render.set_defaults(run=cmd_render)

    sweep = add_command(commands, "sweep", help="render a focus pull or aperture ramp as an MP4")
    _render_arguments(sweep, sweep=True)
    sweep.add_argument("--sweep", choices=("focus", "aperture"), default="focus")
    sweep.add_argument("--frames", type=int_range(2, 10_000), default=24, help="2 … 10000")
    sweep.add_argument("--fps", type=float_range(0, 240, low_open=True), default=12.0)
    sweep.add_argument(
        "--codec",
        choices=CODEC_CHOICES,
        default=AUTO,
        help="h264 (browsers play it; PyAV's libx264), mp4v (MPEG-4 Part 2, OpenCV); "
        "auto: h264 where its encoder is here, else mp4v with a note",
    )
    sweep.add_argument("--out", type=output_file(*VIDEO_SUFFIXES), required=True, help="MP4")
    sweep.set_defaults(run=cmd_sweep)
