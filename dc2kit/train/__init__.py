"""Synthetic dual-camera data, training and evaluation of DC2Net."""
