"""The one error type every capture reader raises for malformed or unusable input."""

from __future__ import annotations

from pathlib import Path

from dc2kit.errors import Dc2kitError


class CaptureError(Dc2kitError):
    """A capture file cannot be used; the message is one line naming the file and the problem."""

    def __init__(self, path: str | Path | None, problem: str) -> None:
        self.path = None if path is None else Path(path)
        self.problem = problem
        where = f"{self.path}: " if self.path is not None else ""
        super().__init__(f"{where}{problem}")


class NoDepthError(CaptureError):
    """The file is a readable photo but carries no depth or disparity map."""


class UnsupportedCaptureError(CaptureError):
    """A well-formed file in a variant dc2kit cannot decode (said plainly, never guessed)."""
