"""Names of the model's registries, importable without torch.

`dc2kit --help` must not import torch, and `dc2kit.model` does on import, so the command line
offers these tuples; the tests check them against `dc2kit.model.PRESETS` and `FORMULATIONS`
(export choices live in `dc2kit.convert.targets`, which is torch-free as well).
"""

PRESET_NAMES: tuple[str, ...] = ("mobile", "paper")
FORMULATIONS: tuple[str, ...] = ("reference", "shift", "im2col")
# Training's forward pass: bf16 autocast, fp32, or auto (bf16 where the hardware has it natively).
TRAIN_PRECISIONS: tuple[str, ...] = ("auto", "bf16", "fp32")
