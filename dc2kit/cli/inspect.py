"""`dc2kit inspect`: one labelled panel of what DC² computes inside, for any capture."""

from __future__ import annotations

import argparse

from dc2kit.cli.common import add_command, console, emit_json, output_file
from dc2kit.cli.render import IMAGE_SUFFIXES, _render_arguments, _render_inputs
from dc2kit.cli.weights import resolved_weights


def cmd_inspect(args: argparse.Namespace) -> int:
    from dc2kit.cli.capture import open_record
    from dc2kit.model.builder import build_dc2
    from dc2kit.readers import open_capture_image
    from dc2kit.render.inspect import inspect_capture
    from dc2kit.render.pipeline import ModelEngine
    from dc2kit.render.tiles import tile_size

    record = open_record(args)
    inputs = _render_inputs(args, record)
    choice, _ = resolved_weights(args)
    size = tile_size(inputs.image.shape[:2], args.tile, full_resolution=args.max_side == 0)
    model, origin = build_dc2(None, size, weights=choice)
    uw = open_capture_image(args.uw) if args.uw else None
    engine = ModelEngine.around(model, inputs, uw)
    title = f"{args.file} — weights: {origin.label}"
    scales = inspect_capture(model, inputs, engine.uw, args.out, title)
    notes = (f"weights: {origin.label}", *inputs.notes, *engine.notes)
    if args.json:
        emit_json(
            {
                "panel": str(args.out),
                "weights": origin.to_dict(),
                "scales": scales,
                "notes": list(notes),
            }
        )
        return 0
    for note in notes:
        console.print(f"  note: {note}", highlight=False)
    for row in scales:
        cells = ", ".join(
            f"{key.removeprefix('uw_weight_').replace('_', ' ')} "
            + ("—" if value is None else f"{value:.3f}")
            for key, value in row.items()
            if key != "factor"
        )
        console.print(f"  1/{row['factor']} UW weight: {cells}", highlight=False)
    console.print(f"panel: {args.out}", highlight=False)
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    inspect = add_command(commands, "inspect", "panel of DC²'s scales, masks and refined images")
    _render_arguments(inspect, sweep=False, engine=False)
    inspect.add_argument("--out", type=output_file(*IMAGE_SUFFIXES), required=True, help="PNG")
    inspect.set_defaults(run=cmd_inspect)
