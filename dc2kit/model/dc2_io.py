"""DC2Net checkpoints: safetensors files with the network's config (and any training facts) in
the header, so a file rebuilds the exact network it holds, at any size."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor

from dc2kit.model.checkpoint import strict_load
from dc2kit.model.dc2 import DC2Config, DC2Net
from dc2kit.model.errors import CheckpointError
from dc2kit.model.kernel_predict import Formulation

CHECKPOINT_FORMAT = "dc2kit.DC2Net"
TRAINING_PREFIX = "train."  # tensors of a training state (optimizer), never model weights


def save_dc2(
    model: DC2Net,
    path: str | Path,
    metadata: Mapping[str, str] | None = None,
    training_tensors: Mapping[str, Tensor] | None = None,
) -> None:
    """Write weights and config (plus extra metadata and, for a resumable training checkpoint,
    `train.`-prefixed tensors) to a safetensors file at `path`. Not atomic by itself (`model/`
    imports nothing else of dc2kit): a caller that publishes a file wraps it in
    `dc2kit.atomic.atomic_output`, as training and shipping do."""
    tensors = {name: t.detach().contiguous().cpu() for name, t in model.state_dict().items()}
    for name, tensor in (training_tensors or {}).items():
        if not name.startswith(TRAINING_PREFIX):
            raise CheckpointError(f"training tensor {name!r} must start with {TRAINING_PREFIX!r}")
        tensors[name] = tensor.detach().contiguous().cpu()
    header = {**(metadata or {}), "format": CHECKPOINT_FORMAT, "config": model.config.to_json()}
    save_file(tensors, str(path), metadata=header)


def read_dc2_metadata(path: str | Path) -> dict[str, str]:
    """The metadata of a dc2kit checkpoint (format, config, and e.g. training facts)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
    except (OSError, SafetensorError) as error:
        raise CheckpointError(f"{path}: not a readable safetensors file ({error})") from error
    if metadata.get("format") != CHECKPOINT_FORMAT or "config" not in metadata:
        raise CheckpointError(f"{path}: not a dc2kit DC2Net checkpoint (no config metadata)")
    return dict(metadata)


def read_dc2_config(path: str | Path) -> DC2Config:
    """The config stored in a dc2kit checkpoint, without loading its weights."""
    try:
        return DC2Config.from_json(read_dc2_metadata(path)["config"])
    except (ValueError, TypeError) as error:
        raise CheckpointError(f"{path}: checkpoint config is not valid ({error})") from error


def load_dc2(
    path: str | Path, size: tuple[int, int] | None = None, formulation: Formulation | None = None
) -> DC2Net:
    """Build the DC2Net stored at `path`; `size` = (height, width) rebuilds it at another size,
    `formulation` picks how its kernel-prediction calls are computed (weights do not change)."""
    config = read_dc2_config(path)
    if size is not None and size != (config.height, config.width):
        config = config.with_size(*size)
    if formulation is not None:
        config = replace(config, formulation=formulation)
    model = DC2Net(config)
    strict_load(model, read_dc2_tensors(path), str(path))
    return model.eval()


def read_dc2_tensors(path: str | Path) -> dict[str, Tensor]:
    """The model tensors of a dc2kit checkpoint (a training state's optimizer tensors left out)."""
    read_dc2_metadata(path)  # a dc2kit checkpoint, or a CheckpointError naming the file
    try:
        state = load_file(str(path))
    except (OSError, SafetensorError) as error:
        raise CheckpointError(f"{path}: cannot read tensors ({error})") from error
    return {k: v for k, v in state.items() if not k.startswith(TRAINING_PREFIX)}
