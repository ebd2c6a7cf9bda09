"""The calibration set of a full-integer (w8a8) export: synthetic scenes and the shipped captures.

int8 activations clip to the ranges seen in calibration, so the set must span what the model
meets: the synthetic data engine (its own seed, far from training's seed 0) for blur radii across
W's and the target's ranges, and the real shipped captures (`dc2kit samples`), each rendered as
`dc2kit render` would (capture → `prepare_render` → model inputs) at a weak and a strong blur,
focused mid-range and at the far end, centre-cropped to the export's size. It lives above
`convert/` (which knows no capture reader) and is handed to the exporter as plain arrays.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from dc2kit.capture.inputs import RANGE_PERCENTILES, RenderInputs, prepare_render
from dc2kit.convert.quantize import CalibrationSet
from dc2kit.convert.wrap import INPUT_NAMES
from dc2kit.readers import open_capture
from dc2kit.samples import SAMPLES
from dc2kit.train.data import TARGET_BLUR_RANGE, SyntheticDualCamera

CALIBRATION_SEED = 20261202  # the data engine's seed for calibration draws: not training's
# Data-engine scenes: how varied the set is decides the ranges. Measured on the mobile weights of
# sha256 ef912a7d0bbe at 64x64 (min over parity's random / structured inputs): 8 scenes 31.8 /
# 26.0 dB, 40 scenes 30.6 / 28.8 dB, 96 scenes 29.4 / 29.2 dB; calibration time grows with the
# count (every tensor of every sample is recorded), so 40.
SYNTHETIC_SAMPLES = 40
# Blur strengths (px across a capture's disparity range) up to the data engine's largest target
# blur, focused at the median and at the far end (so |r| reaches the strength itself).
SAMPLE_BLUR_STRENGTHS = (4.0, TARGET_BLUR_RANGE[1])
FOCUS_PERCENTILES = (50.0, RANGE_PERCENTILES[0])


def _synthetic(height: int, width: int, count: int) -> list[dict[str, np.ndarray]]:
    """`count` data-engine samples, square crops cut to height × width."""
    engine = SyntheticDualCamera(crop=max(height, width), seed=CALIBRATION_SEED)
    batch = engine.batch(0, count, stream="evaluation")
    tensors = dict(zip(INPUT_NAMES, batch.inputs(), strict=False))  # (radial is not an input)
    return [
        {
            name: t[i : i + 1, :, :height, :width].numpy().astype(np.float32)
            for name, t in tensors.items()
        }
        for i in range(count)
    ]


def _centre_crop(array: np.ndarray, height: int, width: int) -> np.ndarray:
    top, left = (array.shape[-2] - height) // 2, (array.shape[-1] - width) // 2
    return array[..., top : top + height, left : left + width]


def _capture_inputs(inputs: RenderInputs, height: int, width: int) -> dict[str, np.ndarray]:
    tensors = inputs.model_tensors()
    return {
        name: np.ascontiguousarray(_centre_crop(t.numpy().astype(np.float32), height, width))
        for name, t in zip(INPUT_NAMES, tensors, strict=True)
    }


def _from_captures(height: int, width: int) -> tuple[list[dict[str, np.ndarray]], list[str]]:
    """Each shipped capture at each focus percentile and blur strength."""
    samples, sources = [], []
    for sample in SAMPLES.values():
        record = open_capture(sample.path)
        long_side, short_side = max(record.image_size), min(record.image_size)
        # Short side at least the export's long side: the crop fits in either orientation.
        max_side = math.ceil(long_side * max(height, width) / short_side) + 16
        base = prepare_render(record, focus_disparity=1.0, blur_strength=1.0, max_side=max_side)
        for percentile, strength in itertools.product(FOCUS_PERCENTILES, SAMPLE_BLUR_STRENGTHS):
            focus = float(np.percentile(base.disparity, percentile))
            # base.blur_strength is K for 1 px across the range: K scales with the blur.
            inputs = base.refocused(focus, base.blur_strength * strength)
            samples.append(_capture_inputs(inputs, height, width))
            sources.append(
                f"sample:{sample.name} (focus at disparity percentile {percentile:g}, "
                f"blur strength {strength:g} px)"
            )
    return samples, sources


def calibration_set(height: int, width: int, synthetic: int = SYNTHETIC_SAMPLES) -> CalibrationSet:
    """The w8a8 calibration set for a height × width export."""
    samples = _synthetic(height, width, synthetic)
    sources = [f"data engine seed {CALIBRATION_SEED}, evaluation stream: {synthetic} samples"]
    real, real_sources = _from_captures(height, width)
    return CalibrationSet(tuple(samples + real), tuple(sources + real_sources))
