"""Parameters and MACs of a DC2Net per module, from a meta-device run (no memory, no compute)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dc2kit.model.cost import count_macs, count_params
from dc2kit.model.dc2 import DC2Config, DC2Net

MODULES = ("refiner_w", "refiner_uw", "fusion")


@dataclass(frozen=True)
class ModuleCost:
    params: int
    conv_macs: int
    kernel_predict_macs: int

    @property
    def macs(self) -> int:
        return self.conv_macs + self.kernel_predict_macs


def model_costs(config: DC2Config) -> dict[str, ModuleCost]:
    """Cost of each module of `config`'s network and the total, keyed by module name."""
    with torch.device("meta"):
        model = DC2Net(config)
        inputs = model.example_inputs(device="meta")
    count = count_macs(model, lambda m: m(*inputs))
    costs = {
        name: ModuleCost(
            count_params(getattr(model, name)), count.conv[name], count.kernel_predict[name]
        )
        for name in MODULES
    }
    costs["total"] = ModuleCost(
        sum(c.params for c in costs.values()),
        sum(c.conv_macs for c in costs.values()),
        sum(c.kernel_predict_macs for c in costs.values()),
    )
    return costs
