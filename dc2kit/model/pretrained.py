"""Start DC²'s refiners from a published single-image DRBNet checkpoint, or a whole DC2Net from
a dc2kit checkpoint of an earlier architecture.

The refiners are DRBNets whose encoder (and, with branch conditioning, image branches) see the
RGB image followed by conditioning channels. Their first convs take the checkpoint's weights on
the image channels and zeros on the rest, so at initialisation each refiner computes exactly what
the published DRBNet computes on the image, whatever the conditioning (with the preset's
parameter-free `detail_skip`, what those weights compute in that topology). Every other tensor is
copied strictly: same name through the published-name mapping, same shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from torch import Size, Tensor

from dc2kit.model.checkpoint import strict_load
from dc2kit.model.drbnet import DRBNet, drbnet_state_dict_as_ours, read_drbnet_checkpoint
from dc2kit.model.errors import CheckpointError

if TYPE_CHECKING:
    from dc2kit.model.dc2 import DC2Net

IMAGE_CHANNELS = 3  # the published DRBNet's only input: the RGB image
REFINERS = ("refiner_w", "refiner_uw")


def _image_input_convs(refiner: DRBNet) -> tuple[str, ...]:
    """The weights whose input is the image followed by the refiner's conditioning channels."""
    branches = (f"blocks.{i}.image_branch.0.0.weight" for i in range(len(refiner.blocks)))
    return ("encoder.stage1.0.0.weight", *branches)


def _widen(name: str, tensor: Tensor, shape: Size, source: str) -> Tensor:
    """`tensor` on the first input channels of a zero weight of `shape`."""
    wanted = (shape[0], IMAGE_CHANNELS, *shape[2:])
    if tuple(tensor.shape) != wanted:
        raise CheckpointError(
            f"{source}: tensor {name!r} has shape {tuple(tensor.shape)}, "
            f"the refiner expects {wanted} (a different width or not a single-image DRBNet)"
        )
    return _widened(name, tensor, shape, source)


def _refiner_state(
    refiner: DRBNet, renamed: Mapping[str, Tensor], source: str
) -> dict[str, Tensor]:
    """The checkpoint's tensors shaped for `refiner`; absent ones are left for strict_load."""
    expected = refiner.state_dict()
    state = dict(renamed)
    for name in _image_input_convs(refiner):
        if name in state:
            state[name] = _widen(name, state[name], expected[name].shape, source)
    return state


def init_from_drbnet(model: DC2Net, checkpoint: str | Path | Mapping[str, Tensor]) -> None:
    """Initialise `model.refiner_w` and `model.refiner_uw` from a published DRBNet checkpoint
    (a `.pth` path or its state dict); `CheckpointError` names the file and the first problem."""
    if isinstance(checkpoint, Mapping):
        source, payload = "DRBNet state dict", checkpoint
    else:
        source, payload = str(checkpoint), read_drbnet_checkpoint(checkpoint)
    renamed = drbnet_state_dict_as_ours(payload, source)
    # The refiners differ only in their input width, which `_widen` absorbs: a checkpoint fits
    # both or neither, and both first convs are checked before either refiner is written.
    states = {
        attr: _refiner_state(getattr(model, attr), renamed, f"{source} → {attr}")
        for attr in REFINERS
    }
    for attr, state in states.items():
        strict_load(getattr(model, attr), state, f"{source} → {attr}")


def _widened(name: str, tensor: Tensor, shape: Size, source: str) -> Tensor:
    """`tensor`, or a conv weight with more input channels: the checkpoint's on the first ones."""
    if tensor.shape == shape:
        return tensor
    fits = tensor.dim() == 4 and tensor.shape[0] == shape[0] and tensor.shape[2:] == shape[2:]
    if not fits or tensor.shape[1] > shape[1]:
        raise CheckpointError(
            f"{source}: tensor {name!r} has shape {tuple(tensor.shape)}, the model expects "
            f"{tuple(shape)} (another preset or width)"
        )
    widened = tensor.new_zeros(shape)
    widened[:, : tensor.shape[1]] = tensor
    return widened


def init_from_dc2(model: DC2Net, checkpoint: str | Path) -> None:
    """Start `model` from a dc2kit checkpoint of the same widths but an earlier architecture (say
    a fusion that saw fewer maps): equal tensors are copied, and a conv that now takes more inputs
    gets the checkpoint's weights on the old ones and zeros on the new, which are appended last;
    so at initialisation it computes what the checkpoint's network did on the same inputs."""
    from dc2kit.model.dc2_io import read_dc2_tensors

    source = str(checkpoint)
    tensors = read_dc2_tensors(checkpoint)
    state = {
        name: _widened(name, tensors[name], expected.shape, source)
        for name, expected in model.state_dict().items()
        if name in tensors
    }
    strict_load(model, state, source)
