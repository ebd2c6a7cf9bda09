"""Typed errors of the model layer: one line each, naming what is wrong."""

from dc2kit.errors import Dc2kitError


class ModelError(Dc2kitError, ValueError):
    """Base of every error the model layer raises for bad configuration or input."""


class ConfigError(ModelError):
    """A model configuration that cannot be built (size, width, kernel size, layout)."""


class InputShapeError(ModelError):
    """An input tensor whose shape or channel count does not match the model."""


class CheckpointError(ModelError):
    """A checkpoint with missing, unexpected or mis-shaped tensors, or an unreadable file."""


class DefocusError(ModelError):
    """A disparity map, defocus map or lens parameter that cannot give a valid model input."""
