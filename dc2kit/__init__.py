"""dc2kit: take the DC² dual-camera defocus model from PyTorch to phones."""

__version__ = "0.1.0"
