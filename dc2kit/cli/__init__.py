"""The `dc2kit` command. Only this package knows the command line.

Each command group is a module with `register(subparsers)`; its command functions import the
heavy libraries (torch, OpenCV, coremltools, LiteRT) when they run, so `--help` stays fast.
Every refusal (a refused command line included) is a `Dc2kitError`, reported as one line with
exit status 1; any other exception is a bug in dc2kit and says so in one line with exit status 2
(`--verbose` adds the traceback). Other libraries' output goes to a log while a command runs
(`dc2kit.cli.quiet`), unless `--verbose`.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import textwrap
import traceback
from collections.abc import Sequence
from types import ModuleType

from dc2kit import __version__
from dc2kit.capture.limits import CAPTURE_LIMITS
from dc2kit.cli import bench, capture, contract, export, info, inspect, render, samples, train
from dc2kit.cli.common import VERBOSE_HELP, ArgumentParser, UsageError
from dc2kit.cli.quiet import other_libraries_logged
from dc2kit.errors import Dc2kitError, one_line

COMMAND_MODULES: tuple[ModuleType, ...] = (
    info,
    capture,
    samples,
    render,
    inspect,
    export,
    contract,
    bench,
    train,
)
ISSUES_HINT = "please report it with the command line (rerun with --verbose for the traceback)"
EXIT_REFUSED, EXIT_BUG, EXIT_INTERRUPTED = 1, 2, 130  # a refused command line is exit 1 too


def _limits_epilog() -> str:
    """The bounds every capture reader enforces (README's Limits table, from the same data)."""
    lines = [
        textwrap.fill(limit.line(), width=78, initial_indent="  ", subsequent_indent="      ")
        for limit in CAPTURE_LIMITS
    ]
    return "capture files (every command that reads one) are refused beyond:\n" + "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="dc2kit",
        description=__doc__.splitlines()[0],
        epilog=_limits_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"dc2kit {__version__}")
    parser.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)
    commands = parser.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        module.register(commands)
    return parser


def _refuse(message: str, as_json: bool) -> None:
    line = one_line(message)
    if as_json:
        sys.stdout.write(json.dumps({"error": line}) + "\n")
    sys.stderr.write(f"dc2kit: error: {line}\n")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
    except UsageError as error:
        _refuse(str(error), error.json_flag and "--json" in argv)
        return EXIT_REFUSED
    except SystemExit as done:  # --help and --version
        return done.code if isinstance(done.code, int) else 0
    as_json = getattr(args, "json", None) is True
    try:
        with other_libraries_logged(args, shlex.join(argv)):
            return args.run(args)
    except Dc2kitError as error:
        if args.verbose:
            traceback.print_exc()
        _refuse(str(error), as_json)
        return EXIT_REFUSED
    except KeyboardInterrupt:
        sys.stderr.write("dc2kit: interrupted\n")
        return EXIT_INTERRUPTED
    except Exception as error:
        if args.verbose:
            traceback.print_exc()
        text = one_line(str(error)) or "(no message)"
        message = f"a bug in dc2kit: {type(error).__name__}: {text}; {ISSUES_HINT}"
        if as_json:
            sys.stdout.write(json.dumps({"error": message, "bug": True}) + "\n")
        sys.stderr.write(f"dc2kit: {message}\n")
        return EXIT_BUG
