"""Core ML translation of `dc2kit::kernel_predict`: the operator as plain 4-D MIL ops.

coremltools names an EXIR node by `node.target.name()` sanitised (lower case, `aten`/`prim`
namespace and `.default` suffix dropped), so the custom op arrives as `dc2kit::kernel_predict`.
That is not a Python identifier, so the translation registers under it as an alias. Importing this
module registers it; re-importing (or reloading) overrides the same entry, so it is idempotent.

The node's string argument picks the formulation, mirroring `dc2kit.model.kernel_predict`:

- `shift`: k² static slices of the edge-padded image, each times one kernel channel, summed.
- `im2col`: per colour channel, a one-hot conv gathers the neighbourhood, a multiply by the
  kernels applies them and a 1×1 conv of ones sums the taps; the channels are concatenated.

`reference` has no lowering: `export_coreml` refuses it as `export_tflite` does
(`dc2kit.convert.wrap.refuse_unexportable`), and a node naming it fails here.

Both use only slice_by_index, concat, mul, add and conv: no gather, scatter or pad op.
"""

from __future__ import annotations

import numpy as np
from coremltools.converters.mil import Builder as mb
from coremltools.converters.mil.frontend.torch.torch_op_registry import register_torch_op
from coremltools.converters.mil.mil import Var

TORCH_OP_KIND = "dc2kit::kernel_predict"


def _edge_rows(x: Var, axis: int, pad: int, prefix: str) -> Var:
    """Replicate the first and last row (or column) `pad` times along `axis` by slice + concat."""
    shape = list(x.shape)
    begin_first, end_first = [0] * 4, list(shape)
    end_first[axis] = 1
    begin_last, end_last = [0] * 4, list(shape)
    begin_last[axis] = shape[axis] - 1
    first = mb.slice_by_index(x=x, begin=begin_first, end=end_first, name=f"{prefix}_first")
    last = mb.slice_by_index(x=x, begin=begin_last, end=end_last, name=f"{prefix}_last")
    return mb.concat(values=[first] * pad + [x] + [last] * pad, axis=axis, name=prefix)


def edge_pad(x: Var, pad: int, name: str) -> Var:
    """Replicate padding of H and W (the MIL `pad` op is avoided so every backend sees slices)."""
    if pad == 0:
        return x
    rows = _edge_rows(x, axis=2, pad=pad, prefix=f"{name}_pad_h")
    return _edge_rows(rows, axis=3, pad=pad, prefix=f"{name}_pad_w")


def shift_formulation(image: Var, kernels: Var, k: int, name: str) -> Var:
    """Σ_t kernels[:, t] · window_t(padded image): k² slices, multiplies and adds."""
    n, c, h, w = image.shape
    padded = edge_pad(image, k // 2, name)
    out = None
    for tap in range(k * k):
        a, b = divmod(tap, k)
        window = mb.slice_by_index(
            x=padded, begin=[0, 0, a, b], end=[n, c, a + h, b + w], name=f"{name}_window_{tap}"
        )
        weight = mb.slice_by_index(
            x=kernels, begin=[0, tap, 0, 0], end=[n, tap + 1, h, w], name=f"{name}_tap_{tap}"
        )
        term = mb.mul(x=window, y=weight, name=f"{name}_term_{tap}")
        out = term if out is None else mb.add(x=out, y=term, name=f"{name}_sum_{tap}")
    return out


def im2col_formulation(image: Var, kernels: Var, k: int, name: str) -> Var:
    """Per channel: one-hot conv → multiply by the kernels → 1×1 conv of ones; then concat."""
    n, c, h, w = image.shape
    taps = k * k
    padded = edge_pad(image, k // 2, name)
    one_hot = np.eye(taps, dtype=np.float32).reshape(taps, 1, k, k)
    ones = np.ones((1, taps, 1, 1), np.float32)
    channels = []
    for channel in range(c):
        plane = mb.slice_by_index(
            x=padded,
            begin=[0, channel, 0, 0],
            end=[n, channel + 1, h + k - 1, w + k - 1],
            name=f"{name}_plane_{channel}",
        )
        patches = mb.conv(
            x=plane, weight=one_hot, pad_type="valid", name=f"{name}_patches_{channel}"
        )
        weighted = mb.mul(x=patches, y=kernels, name=f"{name}_weighted_{channel}")
        channels.append(
            mb.conv(x=weighted, weight=ones, pad_type="valid", name=f"{name}_sum_{channel}")
        )
    return mb.concat(values=channels, axis=1, name=name)


def kernel_size_of_var(kernels: Var) -> int:
    """The odd k with k² kernel channels (shapes are static in every dc2kit export)."""
    taps = kernels.shape[1]
    k = round(taps**0.5) if isinstance(taps, int) else 0
    if k * k != taps or k % 2 == 0:
        raise ValueError(f"{TORCH_OP_KIND}: kernels have {taps} channels; expected k² for odd k")
    return k


def _formulation_of(node) -> str:
    """The node's string argument, read raw (context lookup would warn about a non-var string)."""
    if len(node.inputs) > 2:
        formulation = node.inputs[2]
    else:
        formulation = (node.kwinputs or {}).get("formulation", ("shift",))[0]
    if formulation not in LOWERINGS:
        raise ValueError(
            f"{TORCH_OP_KIND}: formulation {formulation!r} has no Core ML lowering; "
            f"choose one of {sorted(LOWERINGS)}"
        )
    return formulation


LOWERINGS = {"shift": shift_formulation, "im2col": im2col_formulation}


@register_torch_op(torch_alias=[TORCH_OP_KIND], override=True)
def dc2kit_kernel_predict(context, node) -> None:
    """Lower one `dc2kit::kernel_predict(image, kernels, formulation)` node to MIL."""
    image, kernels = context[node.inputs[0]], context[node.inputs[1]]
    lower = LOWERINGS[_formulation_of(node)]
    result = lower(image, kernels, kernel_size_of_var(kernels), node.name)
    context.add(result, torch_name=node.name)
