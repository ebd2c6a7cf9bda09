"""The root of every error dc2kit raises for bad input: `main` catches this one class.

A leaf module with no imports, so every layer (the model included) can subclass it without
depending on any other part of dc2kit.
"""


class Dc2kitError(Exception):
    """A request dc2kit refuses or cannot carry out; the message is one line naming the problem."""


def one_line(message: object) -> str:
    """A message (or an exception's text) folded onto one line: libheif's, OpenCV's and other
    libraries' messages span lines, and every error dc2kit reports must not."""
    text = " ".join(str(message).split())
    if not text and isinstance(message, BaseException):
        return type(message).__name__
    return text
