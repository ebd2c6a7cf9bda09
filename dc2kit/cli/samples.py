"""`dc2kit samples`: the real captures shipped with dc2kit, their paths and licences."""

from __future__ import annotations

import argparse

from dc2kit.cli.common import add_command, add_json, console, emit_json


def cmd_samples(args: argparse.Namespace) -> int:
    from dc2kit.samples import NOTICE, SAMPLE_PREFIX, SAMPLES

    rows = [sample.to_dict() for sample in SAMPLES.values()]
    if args.json:
        emit_json({"samples": rows, "notice": str(NOTICE)})
        return 0
    for row in rows:
        console.print(
            f"[bold]{SAMPLE_PREFIX}{row['name']}[/bold]  {row['format']}  "
            f"{row['width']}x{row['height']}  {row['bytes'] / 1e6:.2f} MB  {row['licence']}",
            highlight=False,
        )
        console.print(f"  {row['description']}", highlight=False)
        console.print(f"  path: {row['path']}", highlight=False)
        console.print(f"  source: {row['source']}; {row['copyright']}", highlight=False)
    console.print(f"licence texts and sources: {NOTICE}", highlight=False)
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    samples = add_command(commands, "samples", help="list the real captures shipped with dc2kit")
    add_json(samples)
    samples.set_defaults(run=cmd_samples)
