"""Third-party decoders behind one guard: formats restricted, sizes bounded, failures typed.

Pillow registers ~44 formats and opens whichever one the bytes resemble; each reader therefore
names the formats it expects. Image sizes are checked from the header, before any pixel is
decoded, against an absolute bound and one relative to the capture file's size. Whatever a
decoder raises on bad content (Pillow's plugins raise OSError, ValueError, RuntimeError,
TypeError, struct.error, …) becomes a `CaptureError`, and its warnings stay off the console.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image

from dc2kit.capture.errors import CaptureError, UnsupportedCaptureError
from dc2kit.capture.files import read_file_bytes
from dc2kit.capture.limits import check_pixels
from dc2kit.errors import one_line

JPEG_ONLY = ("JPEG",)
PNG_ONLY = ("PNG",)
PNG_OR_JPEG = ("PNG", "JPEG")  # embedded depth, confidence and original images
COLOUR_FORMATS = ("JPEG", "PNG", "TIFF")  # a colour photo given as a file of its own
SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I"})


@contextmanager
def decoder_guard(path: str | Path | None, what: str) -> Iterator[None]:
    """Run a decoder on file content: warnings silenced, any failure a CaptureError.

    A CaptureError raised inside (e.g. by a size check) passes unchanged. Keep the guarded
    block to decoder calls, so that a bug of dc2kit's own is not reported as bad input.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    except CaptureError:
        raise
    except Exception as error:  # every decoder failure on file content is bad input
        raise CaptureError(path, f"cannot decode {what} ({one_line(error)})") from error


def decode_image(
    source: bytes | str | Path,
    path: str | Path | None,
    what: str,
    max_pixels: int,
    *,
    formats: Sequence[str],
    file_bytes: int | None = None,
) -> Image.Image:
    """Decode an image in one of `formats` after checking its header size.

    `file_bytes` is the size of the capture file the bytes came from (default: the bytes
    themselves), which bounds the pixels relative to it as well as by `max_pixels`.
    """
    data = source if isinstance(source, bytes) else read_file_bytes(source)
    with decoder_guard(path, what):
        try:
            image = Image.open(io.BytesIO(data), formats=list(formats))
        except Image.UnidentifiedImageError:
            expected = " or ".join(formats)
            raise CaptureError(
                path, f"cannot decode {what}: not a readable {expected} file"
            ) from None
        width, height = image.size
        check_pixels(width, height, max_pixels, file_bytes or len(data), what, path)
        image.load()
    return image


def rgb_array(image: Image.Image, path: str | Path | None, what: str) -> np.ndarray:
    """H×W×3 uint8 RGB (alpha dropped, grey replicated)."""
    with decoder_guard(path, what):
        return np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))


def grey_codes(image: Image.Image, path: str | Path | None, what: str) -> tuple[np.ndarray, int]:
    """Integer codes of a single-channel map and the largest code its bit depth allows.

    Colour-typed maps (RGB/RGBA PNGs written by some phones) carry the value in every channel;
    the first channel is used.
    """
    with decoder_guard(path, what):
        if image.mode in SIXTEEN_BIT_MODES:
            codes = np.asarray(image)
            if codes.size and (codes.min() < 0 or codes.max() > 0xFFFF):
                raise UnsupportedCaptureError(path, f"{what} has values outside 16 bits")
            return codes.astype(np.uint16), 0xFFFF
        if image.mode in {"L", "LA", "RGB", "RGBA"}:
            codes = np.asarray(image, dtype=np.uint8)
            return (codes if codes.ndim == 2 else codes[..., 0]).copy(), 0xFF
        if image.mode == "P":
            return np.asarray(image.convert("L"), dtype=np.uint8), 0xFF
    raise UnsupportedCaptureError(path, f"{what} has unsupported pixel mode {image.mode}")
