"""Resident memory XNNPACK keeps for DC2Net's convolutions, from the shapes they see.

XNNPACK (LiteRT's CPU delegate) runs a k×k convolution as an indirect GEMM: an indirection buffer
holds one pointer (8 bytes) per kernel tap per output pixel, 8 × kh × kw × output pixels. By
default each convolution builds its own at setup and keeps it for the model's lifetime, so the
buffers add up over the network: at full resolution they outweigh the weights and activations.
With `TFLITE_XNNPACK_DELEGATE_FLAG_TRANSIENT_INDIRECTION_BUFFER` each convolution rebuilds its
buffer at every run in one shared workspace, so only the largest is resident.

1×1 stride-1 convolutions run as plain GEMMs without an indirection buffer, and transposed
convolutions are not counted (XNNPACK gives them another scheme): with these two rules the
estimate met LiteRT 2.3 on the mobile preset at 256×192, 222 MiB predicted against 225 MiB
between the peak RSS of the default and low-memory runtimes. Kernel prediction lowered as
`im2col` (what `export` ships) adds one k×k gather convolution per colour channel per call; at
1024×768 the estimate (4753 MiB) met the measured difference (4742 MiB) within 1 %.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from dc2kit.convert.targets import DEFAULT_FORMULATION
from dc2kit.model import DC2Config, DC2Net
from dc2kit.model.kernel_predict import KernelPredict

POINTER_BYTES = 8
MIB = 2**20


@dataclass(frozen=True)
class IndirectionCost:
    """Bytes of XNNPACK indirection buffers over the counted convolutions."""

    convolutions: int  # convolutions that have one
    total_bytes: int  # all of them: resident with the default flags
    largest_bytes: int  # the largest: resident with the transient flag

    def describe(self) -> tuple[str, ...]:
        return (
            f"XNNPACK indirection buffers (8 bytes x kh x kw x output pixels, "
            f"{self.convolutions} convolutions): {self.total_bytes / MIB:.0f} MiB kept for the "
            "model's lifetime by default",
            f"with the transient-indirection-buffer flag (tflite-*-lowmem): "
            f"{self.largest_bytes / MIB:.1f} MiB, the largest one, rebuilt at each run",
        )


def indirection_bytes(conv: nn.Conv2d, output: torch.Tensor) -> int:
    """One convolution's indirection buffer; 0 where XNNPACK runs it as a plain GEMM."""
    kh, kw = conv.kernel_size
    if (kh, kw) == (1, 1) and conv.stride == (1, 1):
        return 0
    height, width = output.shape[-2:]
    return POINTER_BYTES * kh * kw * height * width


def indirection_cost(config: DC2Config, formulation: str = DEFAULT_FORMULATION) -> IndirectionCost:
    """The indirection buffers of one forward pass of `config`'s network (meta run: no memory),
    with its kernel prediction lowered as `formulation` (`im2col` gathers each colour channel's
    taps with a k×k convolution; `shift` has none)."""
    sizes: list[int] = []

    def on_conv(conv: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
        size = indirection_bytes(conv, output)
        if size:
            sizes.append(size)

    def on_kernel_predict(site: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        if formulation == "im2col":
            height, width = output.shape[-2:]
            gather = POINTER_BYTES * site.kernel_size**2 * height * width
            sizes.extend([gather] * inputs[0].shape[1])

    with torch.device("meta"):
        model = DC2Net(config)
        inputs = model.example_inputs(device="meta")
    # nn.ConvTranspose2d is no nn.Conv2d: transposed convolutions stay uncounted.
    hooks = {nn.Conv2d: on_conv, KernelPredict: on_kernel_predict}
    handles = [
        sub.register_forward_hook(hook)
        for sub in model.modules()
        for kind, hook in hooks.items()
        if isinstance(sub, kind)
    ]
    try:
        model(*inputs)
    finally:
        for handle in handles:
            handle.remove()
    return IndirectionCost(len(sizes), sum(sizes), max(sizes, default=0))
