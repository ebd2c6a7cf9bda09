"""numpy kernels for the Core ML MIL ops our exported programs use (see `mil_executor`).

Each kernel takes the op's resolved arguments by MIL input name (arrays, numpy scalars, strings,
or lists of arrays for tuple inputs; optional inputs may be absent) and returns one array. Float
arrays arrive as float32 and kernels compute in float32; the executor applies fp16 rounding.
A kernel raises `NotImplementedError` for a parameter variant it does not implement (the executor
turns that into `UnsupportedOpError` naming the op). Semantics follow the op definitions in
`coremltools/converters/mil/mil/ops/defs/iOS15` and `iOS16`. Convolutions and pooling are 2-D.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

Args = Mapping[str, Any]
Kernel = Callable[[Args], np.ndarray]

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


def _ints(value: Any) -> tuple[int, ...]:
    return tuple(int(v) for v in np.atleast_1d(value))


def _bools(value: Any, rank: int) -> tuple[bool, ...]:
    return (False,) * rank if value is None else tuple(bool(v) for v in np.atleast_1d(value))


def _spatial_2d(x: np.ndarray, op: str) -> None:
    if x.ndim != 4:
        raise NotImplementedError(f"{op} on a rank-{x.ndim} tensor (only 2-D spatial, NCHW)")


# --- elementwise ---------------------------------------------------------------------------


def _binary(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Kernel:
    return lambda args: np.asarray(fn(args["x"], args["y"]))


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


# --- convolution ---------------------------------------------------------------------------


def conv_padding(
    pad_type: str,
    pad: Sequence[int],
    size: Sequence[int],
    kernel: Sequence[int],
    strides: Sequence[int],
    dilations: Sequence[int],
) -> tuple[tuple[int, int], ...]:
    """(before, after) padding per spatial dim for MIL's valid / custom / same / same_lower."""
    if pad_type == "valid":
        return tuple((0, 0) for _ in size)
    if pad_type == "custom":
        return tuple((int(pad[2 * i]), int(pad[2 * i + 1])) for i in range(len(size)))
    if pad_type not in ("same", "same_lower"):
        raise NotImplementedError(f"pad_type {pad_type!r}")
    result = []
    for n, k, s, d in zip(size, kernel, strides, dilations, strict=True):
        total = max(0, (math.ceil(n / s) - 1) * s + (k - 1) * d + 1 - n)
        small, large = total // 2, total - total // 2
        result.append((small, large) if pad_type == "same" else (large, small))
    return tuple(result)


def _tap_window(offset: int, stride: int, count: int) -> slice:
    """The input positions one kernel tap reads for `count` strided outputs."""
    return slice(offset, offset + stride * (count - 1) + 1, stride)


def _conv(args: Args) -> np.ndarray:
    """Sum over kernel taps of (grouped) matmuls with strided views: no k²-sized im2col copy."""
    x, weight = args["x"], args["weight"]
    _spatial_2d(x, "conv")
    n, _, h, w = x.shape
    c_out, c_in_group, kh, kw = weight.shape
    groups = int(args.get("groups", 1))
    strides = _ints(args.get("strides", (1, 1)))
    dilations = _ints(args.get("dilations", (1, 1)))
    pads = conv_padding(
        str(args.get("pad_type", "valid")),
        _ints(args.get("pad", (0, 0, 0, 0))),
        (h, w),
        (kh, kw),
        strides,
        dilations,
    )
    padded = np.pad(x, ((0, 0), (0, 0), *pads))
    out_h = (padded.shape[2] - (kh - 1) * dilations[0] - 1) // strides[0] + 1
    out_w = (padded.shape[3] - (kw - 1) * dilations[1] - 1) // strides[1] + 1
    grouped = padded.reshape(n, groups, c_in_group, *padded.shape[2:])
    taps = weight.reshape(groups, c_out // groups, c_in_group, kh, kw)
    out = np.zeros((n, groups, c_out // groups, out_h * out_w), np.float32)
    for i in range(kh):
        rows = _tap_window(i * dilations[0], strides[0], out_h)
        for j in range(kw):
            cols = _tap_window(j * dilations[1], strides[1], out_w)
            patch = grouped[:, :, :, rows, cols].reshape(n, groups, c_in_group, -1)
            if c_in_group == 1:  # depthwise: a broadcast multiply beats G tiny matmuls
                out += taps[:, :, :, i, j][None] * patch
            else:
                out += taps[:, :, :, i, j] @ patch
    out = out.reshape(n, c_out, out_h, out_w)
    return out if args.get("bias") is None else out + args["bias"].reshape(1, -1, 1, 1)


def _conv_transpose(args: Args) -> np.ndarray:
    """Scatter each tap's matmul into the full (valid) output, then crop `pad` / `output_shape`."""
    x, weight = args["x"], args["weight"]
    _spatial_2d(x, "conv_transpose")
    pad_type = str(args.get("pad_type", "valid"))
    if pad_type not in ("valid", "custom"):
        raise NotImplementedError(f"conv_transpose pad_type {pad_type!r}")
    n, c_in, h, w = x.shape
    _, c_out_group, kh, kw = weight.shape
    groups = int(args.get("groups", 1))
    strides = _ints(args.get("strides", (1, 1)))
    dilations = _ints(args.get("dilations", (1, 1)))
    pad = _ints(args.get("pad", (0, 0, 0, 0))) if pad_type == "custom" else (0, 0, 0, 0)
    full_h = (h - 1) * strides[0] + (kh - 1) * dilations[0] + 1
    full_w = (w - 1) * strides[1] + (kw - 1) * dilations[1] + 1
    grouped = x.reshape(n, groups, c_in // groups, h * w)
    taps = weight.reshape(groups, c_in // groups, c_out_group, kh, kw).swapaxes(1, 2)
    full = np.zeros((n, groups, c_out_group, full_h, full_w), np.float32)
    for i in range(kh):
        rows = _tap_window(i * dilations[0], strides[0], h)
        for j in range(kw):
            cols = _tap_window(j * dilations[1], strides[1], w)
            full[:, :, :, rows, cols] += (taps[:, :, :, i, j] @ grouped).reshape(
                n, groups, c_out_group, h, w
            )
    full = full.reshape(n, groups * c_out_group, full_h, full_w)
    if args.get("output_shape") is not None:
        out_h, out_w = _ints(args["output_shape"])[2:]
    else:
        out_h, out_w = full_h - pad[0] - pad[1], full_w - pad[2] - pad[3]
    # output_shape may reach past the scattered rows/cols (torch's output_padding): zeros there
    extra_h, extra_w = max(0, pad[0] + out_h - full_h), max(0, pad[2] + out_w - full_w)
    full = np.pad(full, ((0, 0), (0, 0), (0, extra_h), (0, extra_w)))
    out = full[:, :, pad[0] : pad[0] + out_h, pad[2] : pad[2] + out_w]
    return out if args.get("bias") is None else out + args["bias"].reshape(1, -1, 1, 1)


# --- pooling -------------------------------------------------------------------------------


def _pool_windows(args: Args, fill: float) -> tuple[list[np.ndarray], np.ndarray]:
    """Every tap's strided view of the padded input, and the count of real (unpadded) inputs."""
    x = args["x"]
    _spatial_2d(x, "pooling")
    if bool(args.get("ceil_mode", False)):
        raise NotImplementedError("pooling with ceil_mode=True")
    kernel = _ints(args["kernel_sizes"])
    strides = _ints(args.get("strides", (1, 1)))
    pads = conv_padding(
        str(args.get("pad_type", "valid")),
        _ints(args.get("pad", (0, 0, 0, 0))),
        x.shape[2:],
        kernel,
        strides,
        (1, 1),
    )
    padded = np.pad(x, ((0, 0), (0, 0), *pads), constant_values=fill)
    real = np.pad(np.ones(x.shape[2:], np.float32), pads)
    out_h = (padded.shape[2] - kernel[0]) // strides[0] + 1
    out_w = (padded.shape[3] - kernel[1]) // strides[1] + 1
    windows, count = [], np.zeros((out_h, out_w), np.float32)
    for i in range(kernel[0]):
        rows = _tap_window(i, strides[0], out_h)
        for j in range(kernel[1]):
            cols = _tap_window(j, strides[1], out_w)
            windows.append(padded[:, :, rows, cols])
            count += real[rows, cols]
    return windows, count


def _avg_pool(args: Args) -> np.ndarray:
    windows, count = _pool_windows(args, 0.0)
    total = np.sum(windows, axis=0, dtype=np.float32)
    if bool(args.get("exclude_padding_from_average", False)):
        return total / count
    return total / np.float32(len(windows))


def _max_pool(args: Args) -> np.ndarray:
    windows, _ = _pool_windows(args, -np.inf)
    return np.max(windows, axis=0)


# --- resizing ------------------------------------------------------------------------------


def _upsample_nearest_neighbor(args: Args) -> np.ndarray:
    x = args["x"]
    for axis, name in ((-2, "scale_factor_height"), (-1, "scale_factor_width")):
        scale = float(args.get(name, 1))
        size = x.shape[axis]
        source = np.floor(np.arange(math.floor(size * scale)) / scale).astype(np.int64)
        x = np.take(x, np.minimum(source, size - 1), axis=axis)
    return x


def bilinear_grid(size: int, out_size: int, align_corners: bool, half_pixel: bool) -> np.ndarray:
    """Source coordinate of each output sample along one axis (MIL upsample_bilinear rules)."""
    i = np.arange(out_size, dtype=np.float64)
    if align_corners:
        grid = i * ((size - 1) / (out_size - 1)) if out_size > 1 else np.zeros_like(i)
    elif half_pixel:
        grid = (i + 0.5) * (size / out_size) - 0.5
    else:
        grid = i * (size / out_size)
    return np.clip(grid, 0, size - 1)


def _lerp_axis(x: np.ndarray, grid: np.ndarray, axis: int) -> np.ndarray:
    low = np.floor(grid).astype(np.int64)
    high = np.minimum(low + 1, x.shape[axis] - 1)
    shape = [1] * x.ndim
    shape[axis] = -1
    frac = (grid - low).astype(np.float32).reshape(shape)
    return np.take(x, low, axis=axis) * (1 - frac) + np.take(x, high, axis=axis) * frac


def _upsample_bilinear(args: Args) -> np.ndarray:
    x = args["x"]
    align_corners = bool(args.get("align_corners", True))
    half_pixel = bool(args.get("half_pixel_centers", not align_corners))
    for axis, name in ((-2, "scale_factor_height"), (-1, "scale_factor_width")):
        size = x.shape[axis]
        out_size = math.floor(size * float(args.get(name, 1)))
        x = _lerp_axis(x, bilinear_grid(size, out_size, align_corners, half_pixel), axis)
    return x


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
    begin, end = _ints(args["begin"]), _ints(args["end"])
    stride = _ints(args["stride"]) if args.get("stride") is not None else (1,) * rank
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
    x, shape = args["x"], list(_ints(args["shape"]))
    if len(shape) == x.ndim:  # 0 copies the input's dimension at the same position
        shape = [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]
    return x.reshape(shape)


def _squeeze(args: Args) -> np.ndarray:
    axes = args.get("axes")
    return np.squeeze(args["x"], axis=None if axes is None else _ints(axes))


def _pad(args: Args) -> np.ndarray:
    x, pad = args["x"], _ints(args["pad"])
    modes = {"constant": "constant", "reflect": "reflect", "replicate": "edge"}
    mode = str(args.get("mode", "constant"))
    if mode not in modes:
        raise NotImplementedError(f"pad mode {mode!r}")
    padded_dims = len(pad) // 2
    widths = [(0, 0)] * (x.ndim - padded_dims)
    widths += [(pad[2 * i], pad[2 * i + 1]) for i in range(padded_dims)]
    if mode == "constant":
        return np.pad(x, widths, constant_values=np.float32(args.get("constant_val", 0.0)))
    return np.pad(x, widths, mode=modes[mode])


def _reduction(fn: Callable[..., np.ndarray]) -> Kernel:
    def kernel(args: Args) -> np.ndarray:
        axes = args.get("axes")
        return np.asarray(
            fn(
                args["x"],
                axis=None if axes is None else _ints(axes),
                keepdims=bool(args.get("keep_dims", False)),
            )
        )

    return kernel


KERNELS: dict[str, Kernel] = {
    "add": _binary(np.add),
    "sub": _binary(np.subtract),
    "mul": _binary(np.multiply),
    "real_div": _binary(np.divide),
    "maximum": _binary(np.maximum),
    "minimum": _binary(np.minimum),
    "identity": lambda args: np.asarray(args["x"]),
    "cast": _cast,
    "relu": lambda args: np.maximum(args["x"], np.float32(0)),
    "leaky_relu": _leaky_relu,
    "sigmoid": _sigmoid,
    "tanh": lambda args: np.tanh(args["x"]),
    "clip": _clip,
    "conv": _conv,
    "conv_transpose": _conv_transpose,
    "avg_pool": _avg_pool,
    "max_pool": _max_pool,
    "upsample_nearest_neighbor": _upsample_nearest_neighbor,
    "upsample_bilinear": _upsample_bilinear,
    "concat": _concat,
    "stack": lambda args: np.stack(args["values"], axis=int(args["axis"])),
    "slice_by_index": _slice_by_index,
    "reshape": _reshape,
    "transpose": lambda args: np.transpose(args["x"], _ints(args["perm"])),
    "tile": lambda args: np.tile(args["x"], _ints(args["reps"])),
    "expand_dims": lambda args: np.expand_dims(args["x"], _ints(args["axes"])),
    "squeeze": _squeeze,
    "pad": _pad,
    "reduce_sum": _reduction(np.sum),
    "reduce_mean": _reduction(np.mean),
    "reduce_max": _reduction(np.max),
}
