"""Typed errors of the export layer: one line each, naming the artifact and the problem."""

from dc2kit.errors import Dc2kitError


class ExportError(Dc2kitError, RuntimeError):
    """An export that cannot be produced: a converter failure, an unwritable destination."""


class ParityError(ExportError):
    """An artifact whose outputs differ from PyTorch's beyond its precision's gate."""


class UnsupportedOpError(ExportError):
    """A Core ML program op type the Linux executor does not implement (named in the message)."""


class InvalidProgramError(ExportError):
    """A Core ML program outside its ops' definitions, or an op result of the wrong shape/dtype."""


class Fp16OverflowError(ExportError):
    """An activation exceeds the float16 range, so an fp16 program would produce inf/NaN."""


def first_line(error: BaseException, limit: int = 300) -> str:
    """A converter's message cut to its first line (MLIR errors run to pages), bounded."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
