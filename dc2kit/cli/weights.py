"""The model options every model command shares: preset, weights origin, seed, formulation.

Shipped weights by default; `--checkpoint FILE` or an explicit `--random-weights` otherwise.
The choice is resolved before any work starts, so a missing weights file is refused at once.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from dc2kit.cli.common import int_range
from dc2kit.errors import Dc2kitError
from dc2kit.names import PRESET_NAMES

if TYPE_CHECKING:
    from dc2kit.model.builder import WeightsChoice, WeightsOrigin

MAX_SEED = 2**32 - 1


class WeightsOptionError(Dc2kitError):
    """Weights options that do not fit together, or shipped weights that are not there."""


def add_weights_arguments(parser: argparse.ArgumentParser, *, preset: bool = True) -> None:
    if preset:
        parser.add_argument(
            "--preset",
            choices=PRESET_NAMES,
            help="network preset (default: the checkpoint's own, else mobile)",
        )
    origin = parser.add_mutually_exclusive_group()
    origin.add_argument(
        "--checkpoint", help="a dc2kit .safetensors checkpoint (default: the shipped weights)"
    )
    origin.add_argument(
        "--random-weights",
        action="store_true",
        help="seeded random, untrained weights (labelled RANDOM everywhere)",
    )
    parser.add_argument(
        "--seed", type=int_range(0, MAX_SEED), help="seed of --random-weights (default 0)"
    )


def weights_choice(args: argparse.Namespace) -> WeightsChoice:
    """The weights the options ask for; refuses a seed without random weights."""
    from dc2kit.model.builder import WeightsChoice

    if args.random_weights:
        return WeightsChoice.random(args.seed or 0)
    if args.seed is not None:
        raise WeightsOptionError("--seed applies to --random-weights only")
    if args.checkpoint:
        return WeightsChoice.checkpoint(args.checkpoint)
    return WeightsChoice()


def resolved_weights(args: argparse.Namespace) -> tuple[WeightsChoice, WeightsOrigin]:
    """The choice and the origin it will have, checked now (file present, readable)."""
    from dc2kit.model.builder import DEFAULT_PRESET, NoShippedWeightsError, resolve_weights

    choice = weights_choice(args)
    try:
        return choice, resolve_weights(getattr(args, "preset", None), choice)
    except NoShippedWeightsError:
        preset = getattr(args, "preset", None) or DEFAULT_PRESET
        raise WeightsOptionError(
            f"no shipped weights for preset {preset!r}; pass --checkpoint FILE or --random-weights"
        ) from None
