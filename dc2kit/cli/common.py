"""What every command shares: consoles, JSON output, one-line parse errors, checked option types.

Option types check their range when the command line is parsed, so a bad number or an output
path that cannot be written fails before any work starts and before anything is written.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NoReturn

from rich.console import Console

from dc2kit.errors import Dc2kitError

# Tables keep their width when output is piped (rich would assume 80 columns).
console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)
errors = Console(stderr=True, soft_wrap=True)

MAX_MODEL_SIDE = 8192  # a larger network input exhausts a workstation's memory
MAX_IMAGE_SIDE = 16384
VERBOSE_HELP = "show tracebacks and other libraries' output"
MAX_BLUR_STRENGTH = 256.0  # px; larger radii only grow the renderer's kernels past memory


class UsageError(Dc2kitError):
    """A command line argparse refuses (unknown option, value out of range)."""

    def __init__(self, message: str, json_flag: bool) -> None:
        super().__init__(message)
        self.json_flag = json_flag  # the refusing (sub)command has a `--json` output switch


class OutputFolderError(Dc2kitError):
    """An output folder that cannot be made (a file in its path, no permission)."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse with a one-line error (no usage block) that `main` reports like any other."""

    def error(self, message: str) -> NoReturn:
        json_flag = any(
            "--json" in action.option_strings and action.nargs == 0 for action in self._actions
        )
        raise UsageError(f"{message} (see {self.prog} --help)", json_flag)


def emit_json(payload: dict[str, Any]) -> None:
    console.file.write(json.dumps(payload, indent=2) + "\n")


def print_result(args: argparse.Namespace, payload: dict[str, Any], lines: Iterable[str]) -> int:
    """A command's result: `payload` as JSON with `--json`, else `lines`; exit status 0."""
    if args.json:
        emit_json(payload)
        return 0
    for line in lines:
        console.print(line, highlight=False)
    return 0


def keywords_for(
    target: Callable[..., Any], args: argparse.Namespace, **given: Any
) -> dict[str, Any]:
    """`target`'s keyword arguments from the options of the same name (their argparse `dest`),
    then `given`: so a command's flags become a call or a config in one place."""
    from inspect import signature

    names = signature(target).parameters
    return {name: getattr(args, name) for name in names if hasattr(args, name)} | given


def int_range(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: an integer in [low, high]."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be in [{low}, {high}], got {value}")
        return value

    return parse


def float_range(low: float, high: float, *, low_open: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite number in [low, high] (or (low, high] with `low_open`)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        above = value > low if low_open else value >= low
        if not (math.isfinite(value) and above and value <= high):
            interval = f"{'(' if low_open else '['}{low:g}, {high:g}]"
            raise argparse.ArgumentTypeError(f"must be a finite number in {interval}, got {text}")
        return value

    return parse


def finite_float(text: str) -> float:
    """An argparse type: any finite number."""
    return float_range(-math.inf, math.inf)(text)


def _size(text: str, multiple: int, max_side: int) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"size must look like 512x384 (WxH), got {text!r}"
        ) from None
    for name, value in (("width", width), ("height", height)):
        if value <= 0 or value % multiple or value > max_side:
            kind = "a positive multiple of 8" if multiple == 8 else "positive"
            raise argparse.ArgumentTypeError(
                f"{name} must be {kind} and at most {max_side}, got {value}"
            )
    return height, width


def model_size(text: str) -> tuple[int, int]:
    """'WxH' → (height, width) of a network input: positive multiples of 8 (three 2x poolings)."""
    return _size(text, 8, MAX_MODEL_SIDE)


def image_size(text: str) -> tuple[int, int]:
    """'WxH' → (height, width) of an image: positive sides."""
    return _size(text, 1, MAX_IMAGE_SIDE)


def parse_point(text: str) -> tuple[float, float]:
    """'X,Y' → (x, y) in image pixels."""
    try:
        x, y = (float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected X,Y in image pixels, got {text!r}") from None
    if not (math.isfinite(x) and math.isfinite(y)):
        raise argparse.ArgumentTypeError(f"expected finite X,Y, got {text!r}")
    return x, y


def output_file(*suffixes: str) -> Callable[[str], Path]:
    """An argparse type: a file to write, with one of `suffixes` (any when none), in a folder
    that exists."""

    def parse(text: str) -> Path:
        path = Path(text)
        if path.is_dir():
            raise argparse.ArgumentTypeError(f"{text}: is a folder, expected a file")
        if suffixes and path.suffix.lower() not in suffixes:
            raise argparse.ArgumentTypeError(
                f"{text}: cannot write a {path.suffix or 'suffix-less'} file; "
                f"use {' or '.join(suffixes)}"
            )
        if not path.parent.is_dir():
            raise argparse.ArgumentTypeError(
                f"cannot write {text}: folder {path.parent} does not exist"
            )
        return path

    return parse


def output_folder(text: str) -> Path:
    """The folder `text`, made if missing; one that cannot be made is a one-line refusal."""
    folder = Path(text)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        reason = error.strerror or str(error)
        raise OutputFolderError(f"{folder}: cannot create output folder ({reason})") from error
    return folder


def add_command(
    commands: argparse._SubParsersAction, name: str, help: str
) -> argparse.ArgumentParser:
    """A sub-command's parser; it accepts `--verbose` after the command as well as before it."""
    parser = commands.add_parser(name, help=help)
    # SUPPRESS: an absent flag after the command must not reset one given before it.
    parser.add_argument(
        "--verbose", action="store_true", default=argparse.SUPPRESS, help=VERBOSE_HELP
    )
    return parser


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")
