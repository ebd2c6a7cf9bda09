"""A console that tells dc2kit's story: other libraries' output goes to a log, ours stays.

coremltools, LiteRT/TensorFlow (absl, XNNPACK), torch and tqdm write through Python's streams
and, from native code, straight to file descriptors 1 and 2. While a command runs, both
descriptors and `sys.stdout`/`sys.stderr` point at an anonymous scratch file (nothing to clean
up after a kill); dc2kit's own consoles keep the real streams, so `--json` stays pure JSON.
Afterwards anything captured is appended to `dc2kit.log` in the command's output folder, or in
the system temp folder when the command writes nothing or fails (a failure leaves no output).
`--verbose` captures nothing (and leaves litert-torch's progress lines on). Long work reports
its phases with `phases()`: a spinner on the running phase and one line with its time when it
ends.
"""

from __future__ import annotations

import argparse
import ctypes
import io
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING

from dc2kit.cli.common import console, errors

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, ProgressColumn

LOG_NAME = "dc2kit.log"
FALLBACK_FOLDER = Path(tempfile.gettempdir())
# The folder of each command's result, where its log goes; other commands log beside `--out`.
LOG_FOLDERS: dict[str, Callable[[argparse.Namespace], Path]] = {
    "export": lambda args: Path(args.out),
    "verify": lambda args: Path(args.artifact).parent,
    "evaluate": lambda args: Path(args.report),
    "bench": lambda args: Path(args.work_dir),
    "bench-suite": lambda args: Path(args.work_dir),
    "bench-report": lambda args: Path(args.report).parent,
}


def log_folder(args: argparse.Namespace) -> Path:
    """Where a successful run of `args`'s command puts its log."""
    choose = LOG_FOLDERS.get(getattr(args, "command", ""))
    if choose is not None:
        return choose(args)
    out = getattr(args, "out", None)
    return FALLBACK_FOLDER if out is None else Path(out).parent


class _Redirected(io.TextIOBase):
    """`sys.stdout`/`sys.stderr` for other libraries during a command. A stream some library
    kept (a logging handler made meanwhile) writes to the real stderr once the command ends."""

    def __init__(self, target: IO[str]) -> None:
        self.target = target

    def write(self, text: str) -> int:
        return self.target.write(text)

    def flush(self) -> None:
        self.target.flush()

    def fileno(self) -> int:
        return self.target.fileno()

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:
        return "utf-8"


def _own_stream(entry: IO[str], fd: int, saved: int) -> IO[str]:
    """The stream our console writes to: `entry` itself unless it writes to `fd`, which is
    about to be redirected, in which case a stream on `saved` (the old `fd`)."""
    try:
        writes_to_fd = entry.fileno() == fd
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError
        writes_to_fd = False
    if not writes_to_fd:
        return entry
    encoding = getattr(entry, "encoding", None) or "utf-8"
    return open(saved, "w", encoding=encoding, buffering=1, closefd=False)


def _flush_c_streams() -> None:
    """Native `printf` output still in libc's buffers belongs to the log, not the terminal."""
    with suppress(OSError, AttributeError):  # no libc to ask (not Linux or macOS)
        ctypes.CDLL(None).fflush(None)


@contextmanager
def _captured(scratch: IO[bytes]) -> Iterator[None]:
    """Descriptors 1, 2 and Python's streams to `scratch`; our consoles to the old streams."""
    entry_out, entry_err = sys.stdout, sys.stderr
    for stream in (entry_out, entry_err):
        stream.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    ours = (_own_stream(entry_out, 1, saved[1]), _own_stream(entry_err, 2, saved[2]))
    log_text = open(  # noqa: SIM115 (closed on the way out, after the descriptors)
        scratch.fileno(),
        "w",
        encoding="utf-8",
        errors="backslashreplace",
        buffering=1,
        closefd=False,
    )
    redirected = _Redirected(log_text)
    console.file, errors.file = ours
    sys.stdout = sys.stderr = redirected
    for fd in saved:
        os.dup2(scratch.fileno(), fd)
    try:
        yield
    finally:
        log_text.flush()
        _flush_c_streams()
        for fd, old in saved.items():
            os.dup2(old, fd)
        sys.stdout, sys.stderr = entry_out, entry_err
        redirected.target = sys.__stderr__ or entry_err
        console.file = errors.file = None  # back to following sys.stdout / sys.stderr
        for stream in (*ours, log_text):
            if stream not in (entry_out, entry_err):
                stream.close()
        for old in saved.values():
            os.close(old)


def _append_log(folder: Path, header: str, text: bytes) -> Path:
    folder = folder if folder.is_dir() else FALLBACK_FOLDER
    path = folder / LOG_NAME
    with path.open("ab") as log:
        log.write(header.encode())
        log.write(text if text.endswith(b"\n") else text + b"\n")
    return path


@contextmanager
def other_libraries_logged(args: argparse.Namespace, command_line: str) -> Iterator[None]:
    """Run a command with other libraries' output in the log (nothing captured if --verbose)."""
    if getattr(args, "verbose", False):
        yield
        return
    # litert-torch's [START]/[DONE] progress (in-process and in bench children): our phase lines
    # say the same, and --verbose keeps it.
    os.environ.setdefault("LITERT_TORCH_SHOW_PROGRESS", "n")
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    header = f"==== dc2kit {command_line} (started {started})\n"
    with tempfile.TemporaryFile() as scratch:
        succeeded = False
        try:
            with _captured(scratch):
                yield
            succeeded = True
        finally:
            scratch.seek(0)
            text = scratch.read()
            if text.strip():
                folder = log_folder(args) if succeeded else FALLBACK_FOLDER
                path = _append_log(folder, header, text)
                if succeeded:
                    errors.print(f"other libraries' output: {path}", highlight=False)


def progress_bar(*columns: str | ProgressColumn) -> Progress:
    """Our spinner on a terminal's stderr; it leaves `sys.stdout`/`sys.stderr` where they point
    (the log) instead of printing other libraries' lines above itself."""
    from rich.progress import Progress

    return Progress(
        *columns,
        console=errors,
        transient=True,
        redirect_stdout=False,
        redirect_stderr=False,
        disable=not errors.is_terminal,  # a log or a pipe gets the phase lines, not a blank line
    )


class PhaseTimer:
    """`step(text)` starts a phase, ending the one before with a line naming it and its time."""

    def __init__(self, progress: Progress, report: Console) -> None:
        self._progress = progress
        self._report = report
        self._task = progress.add_task("", total=None)
        self._phase: str | None = None
        self._started = 0.0

    def step(self, text: str) -> None:
        self.done()
        self._phase, self._started = text, time.perf_counter()
        self._progress.update(self._task, description=text)

    def done(self) -> None:
        if self._phase is not None:
            seconds = time.perf_counter() - self._started
            self._report.print(
                f"  {self._phase:<44} {seconds:7.1f} s", highlight=False, markup=False
            )
            self._phase = None


@contextmanager
def phases(json_output: bool = False) -> Iterator[PhaseTimer]:
    """A phase timer under a spinner; the last phase gets its line only if the work succeeds.

    Phase lines are part of the report (stdout; stderr when stdout carries JSON), so a refusal
    is still one line on stderr; on a terminal they print above the spinner.
    """
    from rich.progress import SpinnerColumn, TextColumn, TimeElapsedColumn

    with progress_bar(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn()
    ) as progress:
        live = errors.is_terminal
        timer = PhaseTimer(progress, errors if live or json_output else console)
        yield timer
        timer.done()
