"""Typed errors of the export layer: one line each, naming the artifact and the problem."""


class ExportError(RuntimeError):
    """An export that cannot be produced: a converter failure, an unwritable destination."""


class ParityError(ExportError):
    """An artifact whose outputs differ from PyTorch's beyond its precision's gate."""


class UnsupportedOpError(ExportError):
    """A Core ML program op type the Linux executor does not implement (named in the message)."""


class Fp16OverflowError(ExportError):
    """An activation exceeds the float16 range, so an fp16 program would produce inf/NaN."""
