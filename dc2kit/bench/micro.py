"""Kernel-prediction microbenchmark: `reference` vs `shift` vs `im2col`, in PyTorch and TFLite.

The operator alone (one 3-channel image, k² per-pixel kernels, batch 1) is what decides between
the formulations, so it is timed without the network around it. Each configuration runs in a
child process of its own (`dc2kit.bench.worker`, task `kernel_predict-measure`): a fresh process
has no allocator caches or arenas left over from another formulation, and its peak memory is its
own. Timing follows the model suite's protocol (`dc2kit.bench.protocol`): the first call timed on
its own, `warmup` untimed calls, then at least `runs` timed calls lasting at least `seconds`.

Memory (`dc2kit.bench.memory`). The child takes its RSS after allocating the inputs as the
baseline, restarts the kernel's high-water mark and reads the peak after the runs.
`Measurement.peak_rss_mb` is that absolute peak of the whole process (interpreter, libraries,
inputs); the baseline is kept in a note (`rss_baseline_mb=…`) so `rss_increment_mb` gives the
op's own increment, which is what the report compares. Without /proc the baseline is the peak so
far (an increment that errs low). The 1-minute load average before and after the timed runs goes
into provenance.

TFLite runs a module holding only the op (one `dc2kit.kernel_predict` composite around its
decomposition), converted once per (formulation, k, size) and cached in a work dir; only
`invoke()` is timed, with the inputs already in place, as they would be inside a network.
"""

from __future__ import annotations

import importlib
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from dc2kit.bench.memory import baseline_note, high_water_mb, reset_peak, rss_mb
from dc2kit.bench.micro_op import IMAGE_CHANNELS, cached_tflite, make_inputs
from dc2kit.bench.results import (
    LOAD_END,
    LOAD_START,
    Measurement,
    Timings,
    load_average,
    load_provenance,
    provenance,
)
from dc2kit.bench.runtimes import graph_code_fingerprint
from dc2kit.bench.timing import achieved_gflops, milliseconds, summarize, time_runs
from dc2kit.bench.worker import failure, result, run_worker
from dc2kit.convert.errors import first_line

SUITE = "kernel_predict"
ENGINES = ("torch", "tflite")
EXECUTORS = {
    "torch": "PyTorch eager, torch.inference_mode, dc2kit::kernel_predict",
    "tflite": "LiteRT Interpreter, XNNPACK CPU delegate (default), invoke() only",
}
_SIGNATURE_INPUTS = ("args_0", "args_1")  # litert-torch's names for (image, kernels)


@dataclass(frozen=True)
class MicroConfig:
    """One configuration as the child process receives it (JSON)."""

    engine: str
    formulation: str
    k: int
    width: int
    height: int
    runs: int
    seconds: float
    warmup: int
    threads: int
    model_path: str | None = None  # the cached .tflite, for the tflite engine

    @property
    def runtime(self) -> str:
        return f"{self.engine}-{self.formulation}"

    @property
    def config(self) -> dict[str, Any]:
        return {
            "formulation": self.formulation,
            "height": self.height,
            "k": self.k,
            "threads": self.threads,
            "width": self.width,
            "executor": EXECUTORS[self.engine],
        }

    @property
    def gmac(self) -> float:
        """Multiply-accumulates of the tap sum: one per tap, channel and pixel."""
        return IMAGE_CHANNELS * self.k**2 * self.width * self.height / 1e9


# The op under test (inside the child)


def _torch_call(
    config: MicroConfig, image: np.ndarray, kernels: np.ndarray
) -> tuple[Callable[[], object], float | None]:
    import torch

    from dc2kit.model.kernel_predict import kernel_predict

    torch.set_num_threads(config.threads)
    image_t, kernels_t = torch.from_numpy(image), torch.from_numpy(kernels)

    def call() -> object:
        with torch.inference_mode():
            return kernel_predict(image_t, kernels_t, config.formulation)

    return call, None


def _tflite_call(
    config: MicroConfig, image: np.ndarray, kernels: np.ndarray
) -> tuple[Callable[[], object], float | None]:
    """`invoke()` with the inputs set once; load time covers the interpreter and its arena."""
    from ai_edge_litert.interpreter import Interpreter

    start = time.perf_counter()
    interpreter = Interpreter(model_path=config.model_path, num_threads=config.threads)
    interpreter.allocate_tensors()
    details = interpreter.get_signature_runner().get_input_details()
    for name, value in zip(_SIGNATURE_INPUTS, (image, kernels), strict=True):
        interpreter.set_tensor(details[name]["index"], value)
    load_ms = (time.perf_counter() - start) * 1e3
    return interpreter.invoke, load_ms


_CALLS = {"torch": _torch_call, "tflite": _tflite_call}
# Imported before the baseline, so the op's increment holds no library code.
_ENGINE_MODULES = {
    "torch": ("torch", "dc2kit.model.kernel_predict"),
    "tflite": ("ai_edge_litert.interpreter",),
}


def measure(config: MicroConfig) -> dict[str, Any]:
    """Time one configuration and take its memory; run this in a fresh process."""
    for module in _ENGINE_MODULES[config.engine]:
        importlib.import_module(module)
    load_start = load_average()
    image, kernels = make_inputs(config.k, config.width, config.height)
    baseline = rss_mb()
    reset_peak()
    call, load_ms = _CALLS[config.engine](config, image, kernels)
    first_ms = milliseconds(call)
    for _ in range(config.warmup):
        call()
    samples = time_runs(call, config.runs, config.seconds)
    timings = summarize(samples, load_ms=load_ms, first_ms=first_ms, warmup=config.warmup)
    return {
        "timings": asdict(timings),
        "peak_rss_mb": high_water_mb(),
        "baseline_rss_mb": baseline,
        **load_provenance(load_start, load_average()),
    }


def measure_task(payload: dict[str, Any]) -> dict[str, Any]:
    """The worker's `kernel_predict-measure` task."""
    return measure(MicroConfig(**payload))


# Parent side


def run_child(config: MicroConfig) -> dict[str, Any]:
    """`measure(config)` in a fresh interpreter; `{"error": ...}` if the child fails."""
    done = run_worker(f"{SUITE}-measure", asdict(config), config.threads)
    if done.returncode != 0:
        return {"error": f"child exited with {done.returncode}: {failure(done)}"}
    return result(done)


def _measurement(
    config: MicroConfig, result: dict[str, Any], origin: dict[str, Any]
) -> Measurement:
    common = {"suite": SUITE, "runtime": config.runtime, "config": config.config}
    if "error" in result:
        notes = (f"skipped: {result['error']}",)
        return Measurement(
            **common, source="measured", timings=None, notes=notes, provenance=origin
        )
    timings = Timings(**result["timings"])
    return Measurement(
        **common,
        source="measured",
        timings=timings,
        peak_rss_mb=round(result["peak_rss_mb"], 1),
        gmac=config.gmac,
        achieved_gflops=achieved_gflops(config.gmac, timings.p50_ms),
        notes=(baseline_note(result["baseline_rss_mb"]),),
        provenance={**origin, **load_provenance(result[LOAD_START], result[LOAD_END])},
    )


def _prepare(
    config: MicroConfig, work_dir: Path, graph_code: str
) -> tuple[MicroConfig, dict[str, Any] | None]:
    """Attach the cached model for TFLite; a conversion failure becomes the skip reason."""
    if config.engine != "tflite":
        return config, None
    try:
        size = (config.width, config.height)
        path = cached_tflite(work_dir, config.k, config.formulation, *size, graph_code)
    except Exception as error:  # the converter raises anything; the suite goes on
        return config, {"error": f"conversion failed: {first_line(error)}"}
    return replace(config, model_path=str(path)), None


def grid(
    sizes: Iterable[tuple[int, int]],
    ks: Iterable[int],
    formulations: Iterable[str],
    engines: Iterable[str],
    *,
    runs: int,
    seconds: float,
    warmup: int,
    threads: int,
) -> list[MicroConfig]:
    """Every configuration of the grid, in a stable order."""
    return [
        MicroConfig(engine, formulation, k, width, height, runs, seconds, warmup, threads)
        for engine in engines
        for height, width in sizes
        for k in ks
        for formulation in formulations
    ]


def run_micro(
    sizes: Iterable[tuple[int, int]],
    ks: Iterable[int],
    formulations: Iterable[str],
    engines: Iterable[str] = ENGINES,
    runs: int = 30,
    seconds: float = 5.0,
    work_dir: str | Path = "build/bench-models",
    progress: Callable[[str], None] | None = None,
    *,
    warmup: int = 3,
    threads: int | None = None,
) -> list[Measurement]:
    """Measure each (engine, size, k, formulation) in its own process; failures become skips.

    `sizes` are (height, width), as in `harness.run_benchmarks`; `threads` defaults to every
    core. A configuration that cannot be
    converted or whose child fails is returned with `timings=None` and the reason in `notes`.
    """
    unknown = set(engines) - set(ENGINES)
    if unknown:
        raise ValueError(f"unknown engines {sorted(unknown)}; choose from {ENGINES}")
    threads = threads or os.cpu_count() or 1
    origin = {**provenance(threads), "graph_code": graph_code_fingerprint()}
    configs = grid(
        sizes, ks, formulations, engines, runs=runs, seconds=seconds, warmup=warmup, threads=threads
    )
    measurements = []
    for index, config in enumerate(configs, 1):
        if progress:
            progress(
                f"[{index}/{len(configs)}] {config.runtime} k={config.k} "
                f"{config.width}x{config.height}"
            )
        config, failure = _prepare(config, Path(work_dir), origin["graph_code"])
        result = failure or run_child(config)
        measurements.append(_measurement(config, result, origin))
    return measurements
