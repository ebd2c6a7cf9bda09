"""Errors of training and evaluation: bad options, unusable checkpoints, diverged losses."""

from __future__ import annotations

from dc2kit.errors import Dc2kitError


class TrainError(Dc2kitError, RuntimeError):
    """A training or evaluation request that cannot be carried out (one line, names the file)."""
