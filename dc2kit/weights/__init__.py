"""Shipped DC2Net weights (`dc2_<preset>.safetensors`) and their model cards, as package data."""
