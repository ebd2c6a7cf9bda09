"""How a TFLite export lowers each kernel-prediction call (`export --kernel-predict`).

- `composite`: one StableHLO composite `dc2kit.kernel_predict` (attributes `k`,
  `formulation`) around the formulation's 4-D graph. An NPU compiler may map the named op to a
  native kernel; the CPU interpreter calls its decomposition subgraph, outside XNNPACK's
  partition, and no GPU delegate knows the composite.
- `ops` (default, `targets.DEFAULT_KERNEL_PREDICT`): the same 4-D graph inlined as plain ops
  (`shift`: SLICE, MUL, ADD, CONCATENATION; `im2col`: SLICE, CONV_2D, MUL, CONCATENATION), which
  XNNPACK and the GPU delegates take whole.

Both compute `dc2kit.model.kernel_predict`'s formulation; only the graph's wrapping differs.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from dc2kit.convert.targets import DEFAULT_KERNEL_PREDICT, KernelPredictLowering
from dc2kit.model import DC2Net
from dc2kit.model.kernel_predict import (
    IMPLEMENTATIONS,
    KernelPredict,
    im2col_with,
    one_hot_taps,
    tap_sum_weights,
)

COMPOSITE_NAME = "dc2kit.kernel_predict"


class CompositeKernelPredict(nn.Module):
    """A kernel-prediction call as its 4-D decomposition, marked as one StableHLO composite
    unless `composite` is off (then the decomposition's ops stand in the graph as they are).

    `im2col`'s one-hot gather and tap-sum weights are buffers, so they lower to constants rather
    than to iota/compare/cast ops computed at run time.
    """

    def __init__(
        self,
        kernel_size: int,
        formulation: str,
        composite: bool = True,
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.formulation = formulation
        self.composite = composite
        if formulation == "im2col":
            cpu = torch.device("cpu")
            gather = one_hot_taps(kernel_size, torch.float32, cpu)
            self.register_buffer("gather_taps", gather, persistent=False)
            tap_sum = tap_sum_weights(kernel_size, torch.float32, cpu)
            self.register_buffer("sum_taps", tap_sum, persistent=False)

    def _decomposition(self, image: Tensor, kernels: Tensor) -> Tensor:
        if self.formulation != "im2col":
            return IMPLEMENTATIONS[self.formulation](image, kernels)
        return im2col_with(image, kernels, self.gather_taps, self.sum_taps)

    def forward(self, image: Tensor, kernels: Tensor) -> Tensor:
        if not self.composite:
            return self._decomposition(image, kernels)
        from litert_torch.hlfb import StableHLOCompositeBuilder

        # One builder per call: each call must become its own composite op.
        builder = StableHLOCompositeBuilder(
            name=COMPOSITE_NAME, attr={"k": self.kernel_size, "formulation": self.formulation}
        )
        image, kernels = builder.mark_inputs(image, kernels)
        return builder.mark_outputs(self._decomposition(image, kernels))

    def extra_repr(self) -> str:
        return f"k={self.kernel_size}, formulation={self.formulation}, composite={self.composite}"


def with_lowered_kernel_predict(
    model: DC2Net, lowering: KernelPredictLowering = DEFAULT_KERNEL_PREDICT
) -> DC2Net:
    """A deep copy of `model` whose every `KernelPredict` call site is lowered as `lowering`."""
    model = copy.deepcopy(model).eval()
    sites = [(name, m) for name, m in model.named_modules() if isinstance(m, KernelPredict)]
    for name, site in sites:
        parent_name, _, child_name = name.rpartition(".")
        lowered = CompositeKernelPredict(
            site.kernel_size, site.formulation, composite=lowering == "composite"
        )
        setattr(model.get_submodule(parent_name), child_name, lowered)
    return model
