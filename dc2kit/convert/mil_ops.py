"""numpy kernels for the Core ML MIL ops our exported programs use (see `mil_executor`).

Each kernel takes the op's resolved arguments by MIL input name (arrays, numpy scalars, strings,
or lists of arrays for tuple inputs; optional inputs may be absent) and returns one array. Float
arrays arrive as float32 and kernels compute in float32; the executor applies fp16 rounding.
A kernel raises `NotImplementedError` for a parameter variant it does not implement (the executor
turns that into `UnsupportedOpError` naming the op) and `ValueError` for arguments outside the op's
definition (`InvalidProgramError`). Integer ops return the integer type MIL declares. Semantics
follow the op definitions in `coremltools/converters/mil/mil/ops/defs/iOS15` and `iOS16`. The
spatial kernels (convolution, pooling, resizing; 2-D, NCHW) live in `mil_spatial`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from dc2kit.convert.mil_spatial import (
    Args,
    Kernel,
    avg_pool,
    conv,
    conv_transpose,
    ints,
    max_pool,
    upsample_bilinear,
    upsample_nearest_neighbor,
)

NUMPY_DTYPES: dict[str, type] = {
    "fp16": np.float32,  # fp16 values are held in float32; the executor rounds them
    "fp32": np.float32,
    "int8": np.int8,
    "uint8": np.uint8,
    "int16": np.int16,
    "uint16": np.uint16,
    "int32": np.int32,
    "bool": np.bool_,
}


def _bools(value: Any, rank: int) -> tuple[bool, ...]:
    return (False,) * rank if value is None else tuple(bool(v) for v in np.atleast_1d(value))


# --- elementwise ---------------------------------------------------------------------------


def _binary(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Kernel:
    return lambda args: np.asarray(fn(args["x"], args["y"]))


def _real_div(args: Args) -> np.ndarray:
    """int32 / int32 is int32 in MIL: the quotient rounded toward zero, as a cast rounds (MIL
    documents no rounding for it; coremltools folds integer reductions the same way)."""
    x, y = args["x"], args["y"]
    if not (np.issubdtype(x.dtype, np.integer) and np.issubdtype(y.dtype, np.integer)):
        return np.asarray(np.divide(x, y))
    if np.any(y == 0):
        raise ValueError("integer division by zero")
    return np.asarray(np.true_divide(x, y)).astype(np.result_type(x, y))


def _sigmoid(args: Args) -> np.ndarray:
    """Written with tanh so that large |x| neither overflows exp nor loses precision."""
    return 0.5 * (1.0 + np.tanh(0.5 * args["x"]))


def _leaky_relu(args: Args) -> np.ndarray:
    x = args["x"]
    return np.where(x >= 0, x, x * np.float32(args.get("alpha", 0.01)))


def _clip(args: Args) -> np.ndarray:
    return np.minimum(np.maximum(args["x"], np.float32(args["alpha"])), np.float32(args["beta"]))


def _cast(args: Args) -> np.ndarray:
    dtype = str(args["dtype"])
    if dtype not in NUMPY_DTYPES:
        raise NotImplementedError(f"cast to {dtype}")
    return np.asarray(args["x"]).astype(NUMPY_DTYPES[dtype])


# --- tensor layout -------------------------------------------------------------------------


def _concat(args: Args) -> np.ndarray:
    values, axis = args["values"], int(args["axis"])
    if not bool(args.get("interleave", False)):
        return np.concatenate(values, axis=axis)
    axis %= values[0].ndim
    stacked = np.stack(values, axis=axis + 1)
    shape = list(values[0].shape)
    shape[axis] *= len(values)
    return stacked.reshape(shape)


def _slice_by_index(args: Args) -> np.ndarray:
    x = args["x"]
    rank = x.ndim
    begin, end = ints(args["begin"]), ints(args["end"])
    stride = ints(args["stride"]) if args.get("stride") is not None else (1,) * rank
    begin_mask = _bools(args.get("begin_mask"), rank)
    end_mask = _bools(args.get("end_mask"), rank)
    squeeze_mask = _bools(args.get("squeeze_mask"), rank)
    index: list[slice | int] = []
    for d in range(rank):
        if squeeze_mask[d]:
            index.append(begin[d])
        else:
            start = None if begin_mask[d] else begin[d]
            stop = None if end_mask[d] else end[d]
            index.append(slice(start, stop, stride[d]))
    return np.asarray(x[tuple(index)])


def _reshape(args: Args) -> np.ndarray:
    x, shape = args["x"], list(ints(args["shape"]))
    if len(shape) == x.ndim:  # 0 copies the input's dimension at the same position
        shape = [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]
    return x.reshape(shape)


def _squeeze(args: Args) -> np.ndarray:
    """Named axes whose size is not 1 are ignored, as MIL (and PyTorch) define it."""
    x, axes = args["x"], args.get("axes")
    if axes is None:
        return np.squeeze(x)
    ones = tuple(a % x.ndim for a in ints(axes) if x.shape[a] == 1)
    return np.squeeze(x, axis=ones)


def _pad(args: Args) -> np.ndarray:
    x, pad = args["x"], ints(args["pad"])
    modes = {"constant": "constant", "reflect": "reflect", "replicate": "edge"}
    mode = str(args.get("mode", "constant"))
    if mode not in modes:
        raise NotImplementedError(f"pad mode {mode!r}")
    padded_dims = len(pad) // 2
    widths = [(0, 0)] * (x.ndim - padded_dims)
    widths += [(pad[2 * i], pad[2 * i + 1]) for i in range(padded_dims)]
    reach = {"reflect": 1, "replicate": 0}.get(mode)  # MIL: at most D - 1, resp. D per side
    for size, (before, after) in zip(x.shape, widths, strict=True):
        if reach is not None and max(before, after) > size - reach:
            raise ValueError(f"{mode} padding of {max(before, after)} on a dimension of {size}")
    if mode == "constant":
        return np.pad(x, widths, constant_values=np.float32(args.get("constant_val", 0.0)))
    return np.pad(x, widths, mode=modes[mode])


def _reduction(fn: Callable[..., np.ndarray]) -> Kernel:
    """The result keeps the input's type: an int32 mean is truncated, as coremltools folds it."""

    def kernel(args: Args) -> np.ndarray:
        x, axes = args["x"], args.get("axes")
        reduced = fn(
            x,
            axis=None if axes is None else ints(axes),
            keepdims=bool(args.get("keep_dims", False)),
        )
        return np.asarray(reduced).astype(x.dtype, copy=False)

    return kernel


KERNELS: dict[str, Kernel] = {
    "add": _binary(np.add),
    "sub": _binary(np.subtract),
    "mul": _binary(np.multiply),
    "real_div": _real_div,
    "maximum": _binary(np.maximum),
    "minimum": _binary(np.minimum),
    "identity": lambda args: np.asarray(args["x"]),
    "cast": _cast,
    "relu": lambda args: np.maximum(args["x"], np.float32(0)),
    "leaky_relu": _leaky_relu,
    "sigmoid": _sigmoid,
    "tanh": lambda args: np.tanh(args["x"]),
    "abs": lambda args: np.abs(args["x"]),
    "pow": _binary(np.power),
    "round": lambda args: np.round(args["x"]),  # to nearest, ties to even (as MIL folds it)
    "clip": _clip,
    "conv": conv,
    "conv_transpose": conv_transpose,
    "avg_pool": avg_pool,
    "max_pool": max_pool,
    "upsample_nearest_neighbor": upsample_nearest_neighbor,
    "upsample_bilinear": upsample_bilinear,
    "concat": _concat,
    "stack": lambda args: np.stack(args["values"], axis=int(args["axis"])),
    "slice_by_index": _slice_by_index,
    "reshape": _reshape,
    "transpose": lambda args: np.transpose(args["x"], ints(args["perm"])),
    "tile": lambda args: np.tile(args["x"], ints(args["reps"])),
    "expand_dims": lambda args: np.expand_dims(args["x"], ints(args["axes"])),
    "squeeze": _squeeze,
    "pad": _pad,
    "reduce_sum": _reduction(np.sum),
    "reduce_mean": _reduction(np.mean),
    "reduce_max": _reduction(np.max),
}
