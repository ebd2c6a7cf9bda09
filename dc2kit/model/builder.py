"""The one way to build a DC2Net for use: a preset at a size, with weights from a stated origin.

Weights come from the preset's shipped file (`dc2kit/weights/dc2_<preset>.safetensors`, package
data), from a checkpoint (rebuilt at the requested size), or, only when asked for, from a seeded
random initialisation. Every build returns a `WeightsOrigin` saying which, so nothing downstream
can present an untrained network as the model: random weights are labelled `RANDOM (untrained)`.
Random weights use a local seed (`torch.random.fork_rng`): the caller's global RNG is untouched.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import torch

from dc2kit.model.dc2 import DC2Net, preset_config
from dc2kit.model.dc2_io import load_dc2, read_dc2_config
from dc2kit.model.errors import CheckpointError, ModelError
from dc2kit.model.kernel_predict import Formulation

WeightsKind = Literal["shipped", "checkpoint", "random"]
RANDOM_LABEL = "RANDOM (untrained)"
DEFAULT_PRESET = "mobile"
SHIPPED_PACKAGE = "dc2kit.weights"  # a data-only package: the weights files and model cards


class NoShippedWeightsError(ModelError):
    """The preset has no weights file in the package (the paper preset, or not installed)."""


@dataclass(frozen=True)
class WeightsChoice:
    """What the caller asks for: the shipped weights (default), a checkpoint, or random ones."""

    kind: WeightsKind = "shipped"
    path: str | None = None  # the checkpoint, for kind "checkpoint"
    seed: int = 0  # for kind "random"

    def __post_init__(self) -> None:
        if self.kind not in ("shipped", "checkpoint", "random"):
            raise ModelError(f"unknown weights kind {self.kind!r}")
        if (self.kind == "checkpoint") != (self.path is not None):
            raise ModelError("a checkpoint path goes with (and only with) checkpoint weights")

    @classmethod
    def checkpoint(cls, path: str | Path) -> WeightsChoice:
        return cls("checkpoint", str(path))

    @classmethod
    def random(cls, seed: int = 0) -> WeightsChoice:
        return cls("random", seed=seed)


@dataclass(frozen=True)
class WeightsOrigin:
    """Where a built model's weights came from, as manifests, metadata and consoles report it."""

    kind: WeightsKind
    label: str  # what a person reads; contains RANDOM_LABEL for random weights
    path: str | None = None
    sha256: str | None = None  # of the weights file
    seed: int | None = None

    @property
    def trained(self) -> bool:
        return self.kind != "random"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def choice(self) -> WeightsChoice:
        """The choice that rebuilds these weights (compare `sha256` to know they are the same)."""
        if self.kind == "random":
            return WeightsChoice.random(self.seed or 0)
        if self.kind == "checkpoint":
            return WeightsChoice.checkpoint(self.path or "")
        return WeightsChoice()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WeightsOrigin:
        return cls(**data)


def shipped_weights_file(preset: str) -> Path | None:
    """The installed weights file of `preset`, or None when the package ships none."""
    entry = resources.files(SHIPPED_PACKAGE).joinpath(f"dc2_{preset}.safetensors")
    return Path(str(entry)) if entry.is_file() else None


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    try:
        with Path(path).open("rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
    except OSError as error:
        raise CheckpointError(f"{path}: cannot read ({error.strerror or error})") from error
    return digest.hexdigest()


def resolve_weights(preset: str | None, weights: WeightsChoice) -> WeightsOrigin:
    """The origin `build_dc2` would report, found without building: checks the file is there."""
    if weights.kind == "random":
        return WeightsOrigin(
            "random", f"{RANDOM_LABEL} weights, seed {weights.seed}", seed=weights.seed
        )
    if weights.kind == "checkpoint":
        path = Path(weights.path or "")
        sha = file_sha256(path)
        return WeightsOrigin("checkpoint", f"checkpoint {path} (sha256 {sha[:12]})", str(path), sha)
    name = preset or DEFAULT_PRESET
    path = shipped_weights_file(name)
    if path is None:
        raise NoShippedWeightsError(
            f"no shipped weights for preset {name!r}; use a checkpoint or random weights"
        )
    sha = file_sha256(path)
    return WeightsOrigin("shipped", f"shipped {path.name} (sha256 {sha[:12]})", str(path), sha)


def build_dc2(
    preset: str | None,
    size: tuple[int, int],
    *,
    weights: WeightsChoice | None = None,
    formulation: Formulation | None = None,
) -> tuple[DC2Net, WeightsOrigin]:
    """`preset` (None: the checkpoint's own, else mobile) at `size` = (height, width), in eval mode,
    with the shipped weights unless `weights` says otherwise.

    A checkpoint or shipped file of another preset than the one asked for is refused.
    """
    weights = weights or WeightsChoice()
    origin = resolve_weights(preset, weights)
    if origin.kind == "random":
        overrides = {} if formulation is None else {"formulation": formulation}
        config = preset_config(preset or DEFAULT_PRESET, *size, **overrides)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(weights.seed)
            model = DC2Net(config)
        return model.eval(), origin
    path = Path(origin.path or "")
    stored = read_dc2_config(path)
    if preset is not None and stored.preset != preset:
        raise CheckpointError(
            f"{path}: holds preset {stored.preset!r}, not the requested {preset!r}"
        )
    return load_dc2(path, size=size, formulation=formulation), origin
