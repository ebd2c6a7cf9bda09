"""Strict state-dict loading: every tensor used, every shape checked, the first problem named."""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor, nn

from dc2kit.model.errors import CheckpointError


def strict_load(module: nn.Module, state_dict: Mapping[str, Tensor], source: str) -> None:
    """Load `state_dict` into `module` or raise `CheckpointError` naming the first mismatch."""
    expected = module.state_dict()
    for name, tensor in state_dict.items():
        if name not in expected:
            raise CheckpointError(f"{source}: unexpected tensor {name!r}")
        if tuple(tensor.shape) != tuple(expected[name].shape):
            raise CheckpointError(
                f"{source}: tensor {name!r} has shape {tuple(tensor.shape)}, "
                f"the model expects {tuple(expected[name].shape)}"
            )
    missing = [name for name in expected if name not in state_dict]
    if missing:
        raise CheckpointError(f"{source}: {len(missing)} tensor(s) missing, first {missing[0]!r}")
    module.load_state_dict(state_dict, strict=True)
