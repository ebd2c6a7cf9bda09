"""numpy kernels of the spatial MIL ops (convolution, pooling, resizing), 2-D and NCHW.

Part of `mil_ops`, which registers them; the same conventions hold (arguments by MIL input name,
float32 compute, `NotImplementedError` for an unimplemented variant, `ValueError` for arguments
outside the op's definition).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

Args = Mapping[str, Any]
Kernel = Callable[[Args], np.ndarray]


def ints(value: Any) -> tuple[int, ...]:
    return tuple(int(v) for v in np.atleast_1d(value))


def _spatial_2d(x: np.ndarray, op: str) -> None:
    if x.ndim != 4:
        raise NotImplementedError(f"{op} on a rank-{x.ndim} tensor (only 2-D spatial, NCHW)")


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


def conv(args: Args) -> np.ndarray:
    """Sum over kernel taps of (grouped) matmuls with strided views: no k²-sized im2col copy."""
    x, weight = args["x"], args["weight"]
    _spatial_2d(x, "conv")
    n, _, h, w = x.shape
    c_out, c_in_group, kh, kw = weight.shape
    groups = int(args.get("groups", 1))
    strides = ints(args.get("strides", (1, 1)))
    dilations = ints(args.get("dilations", (1, 1)))
    pads = conv_padding(
        str(args.get("pad_type", "valid")),
        ints(args.get("pad", (0, 0, 0, 0))),
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


def conv_transpose(args: Args) -> np.ndarray:
    """Scatter each tap's matmul into the full (valid) output, then crop `pad` / `output_shape`."""
    x, weight = args["x"], args["weight"]
    _spatial_2d(x, "conv_transpose")
    pad_type = str(args.get("pad_type", "valid"))
    if pad_type not in ("valid", "custom"):
        raise NotImplementedError(f"conv_transpose pad_type {pad_type!r}")
    n, c_in, h, w = x.shape
    _, c_out_group, kh, kw = weight.shape
    groups = int(args.get("groups", 1))
    strides = ints(args.get("strides", (1, 1)))
    dilations = ints(args.get("dilations", (1, 1)))
    pad = ints(args.get("pad", (0, 0, 0, 0))) if pad_type == "custom" else (0, 0, 0, 0)
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
        out_h, out_w = ints(args["output_shape"])[2:]
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
    kernel = ints(args["kernel_sizes"])
    strides = ints(args.get("strides", (1, 1)))
    pads = conv_padding(
        str(args.get("pad_type", "valid")),
        ints(args.get("pad", (0, 0, 0, 0))),
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


def avg_pool(args: Args) -> np.ndarray:
    windows, count = _pool_windows(args, 0.0)
    total = np.sum(windows, axis=0, dtype=np.float32)
    if bool(args.get("exclude_padding_from_average", False)):
        return total / count
    return total / np.float32(len(windows))


def max_pool(args: Args) -> np.ndarray:
    windows, _ = _pool_windows(args, -np.inf)
    return np.max(windows, axis=0)


# --- resizing ------------------------------------------------------------------------------


def upsample_nearest_neighbor(args: Args) -> np.ndarray:
    """Integer scales repeat each pixel; Core ML documents no sampling rule for fractional ones."""
    x = args["x"]
    for axis, name in ((-2, "scale_factor_height"), (-1, "scale_factor_width")):
        scale = float(args.get(name, 1))
        if scale != int(scale) or scale < 1:
            raise NotImplementedError(f"nearest-neighbour upsampling by a non-integer {scale:g}")
        x = np.repeat(x, int(scale), axis=axis)
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


def upsample_bilinear(args: Args) -> np.ndarray:
    x = args["x"]
    align_corners = bool(args.get("align_corners", True))
    half_pixel = bool(args.get("half_pixel_centers", not align_corners))
    if align_corners and half_pixel:
        raise ValueError("align_corners and half_pixel_centers cannot both be set")
    for axis, name in ((-2, "scale_factor_height"), (-1, "scale_factor_width")):
        size = x.shape[axis]
        out_size = math.floor(size * float(args.get(name, 1)))
        x = _lerp_axis(x, bilinear_grid(size, out_size, align_corners, half_pixel), axis)
    return x
