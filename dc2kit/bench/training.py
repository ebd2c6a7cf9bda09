"""Training throughput: samples per second of one real DC² training step (forward, multi-scale
loss, backward, Adam) on synthetic batches, and of the data engine alone.

The network and the data are timed apart on the same batches so a report says which one is the
bottleneck; each is warmed up first (oneDNN and FFT plans), then timed over `steps` steps.
"""

from __future__ import annotations

import time

import torch

from dc2kit.bench.results import Measurement, load_average, load_provenance, provenance
from dc2kit.bench.timing import summarize
from dc2kit.model import DC2Net, preset_config
from dc2kit.train.data import SyntheticDualCamera
from dc2kit.train.trainer import autocast_dtype, multiscale_loss

WARMUP_STEPS = 2


def measure_training(
    preset: str = "mobile",
    crop: int = 128,
    batch: int = 8,
    threads: int = 2,
    steps: int = 8,
    precision: str = "fp32",
) -> list[Measurement]:
    """Two measurements: `train-step` (network, at `precision` as the trainer runs it) and
    `train-data` (data engine), samples/s."""
    torch.set_num_threads(threads)
    autocast = autocast_dtype(precision, torch.device("cpu"))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = DC2Net(preset_config(preset, crop, crop)).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    data = SyntheticDualCamera(crop, seed=0)
    start_load = load_average()
    data_seconds, step_seconds = [], []
    for index in range(WARMUP_STEPS + steps):
        started = time.perf_counter()
        sample = data.batch(index, batch)
        generated = time.perf_counter()
        with torch.autocast("cpu", autocast, enabled=autocast is not None):
            output = model(*sample.inputs())
        loss = multiscale_loss(output, sample.target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        finished = time.perf_counter()
        if index >= WARMUP_STEPS:
            data_seconds.append(generated - started)
            step_seconds.append(finished - generated)
    facts = provenance(threads) | load_provenance(start_load, load_average())
    config = {
        "preset": preset,
        "crop": crop,
        "batch": batch,
        "threads": threads,
        "precision": "bf16" if autocast is torch.bfloat16 else "fp32",
    }
    results = []
    for runtime, seconds in (("train-step", step_seconds), ("train-data", data_seconds)):
        timings = summarize(
            [s * 1e3 for s in seconds], load_ms=None, first_ms=None, warmup=WARMUP_STEPS
        )
        samples_per_second = batch / (timings.p50_ms / 1e3)
        results.append(
            Measurement(
                suite="training",
                runtime=runtime,
                config={**config, "samples_per_second": round(samples_per_second, 2)},
                source="measured",
                timings=timings,
                notes=(f"{samples_per_second:.2f} samples/s at the median step",),
                provenance=facts,
            )
        )
    return results
