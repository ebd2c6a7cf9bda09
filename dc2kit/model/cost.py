"""Parameter and multiply-accumulate counts, measured by running the model on the meta device.

Every conv, transposed conv and kernel-prediction call is counted from the shapes it actually
sees, so the counts follow the code rather than a hand-kept formula. Elementwise ops, pooling and
resizing are not counted (they are memory-bound, not MAC-bound).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch.utils._python_dispatch import TorchDispatchMode

_KERNEL_PREDICT = torch.ops.dc2kit.kernel_predict.default


def conv_macs(module: nn.Conv2d | nn.ConvTranspose2d, inputs: Tensor, output: Tensor) -> int:
    """MACs of one Conv2d or ConvTranspose2d call."""
    kh, kw = module.kernel_size
    if isinstance(module, nn.ConvTranspose2d):
        return inputs.numel() * (module.out_channels // module.groups) * kh * kw
    return output.numel() * (module.in_channels // module.groups) * kh * kw


@dataclass
class MacCount:
    """MACs per direct child module: convolutions and kernel-prediction taps."""

    conv: dict[str, int] = field(default_factory=dict)
    kernel_predict: dict[str, int] = field(default_factory=dict)

    def total(self, child: str | None = None) -> int:
        names = self.conv if child is None else [child]
        return sum(self.conv[n] + self.kernel_predict[n] for n in names)


class _Counter(TorchDispatchMode):
    """Counts `dc2kit::kernel_predict` MACs (k² per output element) for the running child."""

    def __init__(self, count: MacCount) -> None:
        super().__init__()
        self.count = count
        self.current = ""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func is _KERNEL_PREDICT:
            self.count.kernel_predict[self.current] += out.numel() * args[1].shape[1]
        return out


def count_macs(module: nn.Module, run: Callable[[nn.Module], object]) -> MacCount:
    """MACs of `run(module)` per direct child of `module` (run it on meta tensors: no compute)."""
    children = dict(module.named_children())
    count = MacCount(dict.fromkeys(children, 0), dict.fromkeys(children, 0))
    counter = _Counter(count)
    handles = []
    for name, child in children.items():

        def enter(_module, _inputs, key=name):
            counter.current = key

        handles.append(child.register_forward_pre_hook(enter))
        for sub in child.modules():
            if isinstance(sub, nn.Conv2d | nn.ConvTranspose2d):

                def on_conv(m, inputs, output, key=name):
                    count.conv[key] += conv_macs(m, inputs[0], output)

                handles.append(sub.register_forward_hook(on_conv))
    try:
        with counter:
            run(module)
    finally:
        for handle in handles:
            handle.remove()
    return count


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
