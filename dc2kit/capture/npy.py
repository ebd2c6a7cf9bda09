"""Depth maps saved with `numpy.save`: the header is checked before a single value is read.

`numpy.load` trusts the header: a 100-byte file can claim a (100000, 100000) array and have it
allocated, and a malformed header raises tokenize or syntax errors. Here the header's version,
dtype, shape and order are checked against an allow-list and its claimed size against the bytes
actually present; the values are then viewed straight from those bytes (never unpickled).
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
from numpy.lib import format as npy_format

from dc2kit.capture.decoders import decoder_guard
from dc2kit.capture.errors import CaptureError
from dc2kit.capture.files import read_file_bytes
from dc2kit.capture.limits import MAX_DEPTH_PIXELS

NPY_MAGIC = b"\x93NUMPY"
HEADER_READERS = {
    (1, 0): npy_format.read_array_header_1_0,
    (2, 0): npy_format.read_array_header_2_0,
}
MAX_HEADER_BYTES = 10_000  # numpy's own default bound on the header text
DTYPE_KINDS = frozenset("iuf")  # signed, unsigned and floating point: real numbers only
MAX_ITEM_BYTES = 8
MAX_NPY_BYTES = len(NPY_MAGIC) + 6 + MAX_HEADER_BYTES + MAX_DEPTH_PIXELS * MAX_ITEM_BYTES


def read_npy_depth(path: str | Path) -> np.ndarray:
    """A 2-D (or H×W×1) real array from an .npy file, as float32."""
    data = read_file_bytes(path, MAX_NPY_BYTES)
    stream = io.BytesIO(data)
    shape, fortran_order, dtype = _header(stream, path)
    offset = stream.tell()
    if not (dtype.kind in DTYPE_KINDS and dtype.itemsize <= MAX_ITEM_BYTES):
        raise CaptureError(path, f"NPY depth must be a 2-D real array, got dtype {dtype}")
    height, width = _depth_shape(shape, path)
    claimed = height * width * dtype.itemsize
    if len(data) - offset != claimed:
        raise CaptureError(
            path,
            f"NPY header claims {shape} {dtype} ({claimed} bytes) but the file holds "
            f"{len(data) - offset} bytes of data (truncated or padded?)",
        )
    values = np.frombuffer(data, dtype=dtype, count=height * width, offset=offset)
    order = "F" if fortran_order else "C"
    with np.errstate(over="ignore", invalid="ignore"):  # float64 beyond float32 becomes inf
        return values.reshape((height, width), order=order).astype(np.float32)


def _header(stream: io.BytesIO, path: str | Path) -> tuple[tuple, bool, np.dtype]:
    """(shape, fortran_order, dtype) of a version 1.0 or 2.0 header."""
    if stream.getvalue()[: len(NPY_MAGIC)] != NPY_MAGIC:
        raise CaptureError(path, "not an NPY file (no \\x93NUMPY magic)")
    with decoder_guard(path, "NPY header"):
        version = npy_format.read_magic(stream)
        if version not in HEADER_READERS:
            raise CaptureError(path, f"NPY format version {version} is not supported")
        shape, fortran_order, dtype = HEADER_READERS[version](
            stream, max_header_size=MAX_HEADER_BYTES
        )
    return shape, bool(fortran_order), dtype


def _depth_shape(shape: tuple, path: str | Path) -> tuple[int, int]:
    """(height, width) of an H×W or H×W×1 shape within the depth-map pixel bound."""
    if len(shape) == 3 and shape[2] == 1:
        shape = shape[:2]
    if len(shape) != 2:
        raise CaptureError(path, f"NPY depth must be a 2-D real array, got shape {shape}")
    if min(shape) <= 0 or math.prod(shape) > MAX_DEPTH_PIXELS:
        raise CaptureError(
            path, f"NPY depth of {shape} is empty or exceeds {MAX_DEPTH_PIXELS} pixels"
        )
    return shape[0], shape[1]
