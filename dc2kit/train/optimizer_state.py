"""Adam's state as named `train.`-prefixed tensors, so one safetensors file resumes training."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import Tensor, nn

from dc2kit.model.checkpoint import strict_load
from dc2kit.model.dc2_io import TRAINING_PREFIX
from dc2kit.model.errors import ModelError
from dc2kit.train.errors import TrainError

_MOMENTS = ("exp_avg", "exp_avg_sq", "step")


def adam_state_tensors(model: nn.Module, optimizer: torch.optim.Adam) -> dict[str, Tensor]:
    """`train.adam.<parameter>.<moment>` for every parameter Adam has state for."""
    tensors = {}
    for name, parameter in model.named_parameters():
        state = optimizer.state.get(parameter, {})
        for moment in _MOMENTS:
            if moment in state:
                value = torch.as_tensor(state[moment], dtype=torch.float32)
                tensors[f"{TRAINING_PREFIX}adam.{name}.{moment}"] = value.reshape(-1).clone()
    return tensors


def load_adam_state(model: nn.Module, optimizer: torch.optim.Adam, path: Path) -> None:
    """Load the weights and Adam's moments of a training checkpoint into `model`/`optimizer`."""
    try:
        tensors = load_file(str(path))
    except (OSError, SafetensorError) as error:
        raise TrainError(f"{path}: cannot read checkpoint tensors ({error})") from None
    weights = {k: v for k, v in tensors.items() if not k.startswith(TRAINING_PREFIX)}
    try:
        strict_load(model, weights, str(path))
    except ModelError as error:
        raise TrainError(str(error)) from None
    for name, parameter in model.named_parameters():
        prefix = f"{TRAINING_PREFIX}adam.{name}."
        found = {m: tensors[prefix + m] for m in _MOMENTS if prefix + m in tensors}
        if not found:
            continue
        if set(found) != set(_MOMENTS) or found["exp_avg"].numel() != parameter.numel():
            raise TrainError(f"{path}: optimizer state of {name} is incomplete or mis-shaped")
        optimizer.state[parameter] = {
            "step": found["step"].reshape(()).clone(),
            "exp_avg": found["exp_avg"].view_as(parameter).clone(),
            "exp_avg_sq": found["exp_avg_sq"].view_as(parameter).clone(),
        }
