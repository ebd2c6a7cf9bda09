"""Kernel-prediction microbenchmark: `reference` vs `shift` vs `im2col`, in PyTorch and TFLite.

The operator alone (one 3-channel image, k² per-pixel kernels, batch 1) is what decides between
the formulations, so it is timed without the network around it. Each configuration runs in its own
child process (`python -m dc2kit.bench.micro --child JSON`): a fresh process has no allocator
caches or arenas left over from another formulation, and its peak memory is its own. Timing
follows the model suite's protocol (`dc2kit.bench.harness`): the first call timed on its own,
`warmup` untimed calls, then at least `runs` timed calls lasting at least `seconds`.

Memory. The child takes its RSS after allocating the inputs as the baseline, resets the kernel's
high-water mark (Linux `/proc/self/clear_refs`) and reads the peak after the runs.
`Measurement.peak_rss_mb` is that absolute peak of the whole process (interpreter, libraries,
inputs); the baseline is kept in a note (`rss_baseline_mb=…`) so `rss_increment_mb` gives the
op's own increment, which is what the report compares. The peak is read from `VmHWM` rather than
`getrusage`: a child's `ru_maxrss` also carries its parent's peak across `exec`, so it would
report the suite runner's memory, not the op's. Elsewhere `getrusage` is the fallback and the
baseline is the peak so far (an increment that errs low).

TFLite runs a module holding only the op (one `dc2kit.kernel_predict` composite around its
decomposition), converted once per (formulation, k, size) and cached in a work dir; only
`invoke()` is timed, with the inputs already in place, as they would be inside a network.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from dc2kit.bench.harness import achieved_gflops, summarize, time_runs
from dc2kit.bench.results import Measurement, Timings, provenance

SUITE = "kernel_predict"
ENGINES = ("torch", "tflite")
EXECUTORS = {
    "torch": "PyTorch eager, torch.inference_mode, dc2kit::kernel_predict",
    "tflite": "LiteRT Interpreter, XNNPACK CPU delegate (default), invoke() only",
}
IMAGE_CHANNELS = 3
BASELINE_NOTE = "rss_baseline_mb="
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


# Memory (inside the child)


def _status_kb(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _maxrss_mb() -> float:
    import resource

    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss / 2**20 if sys.platform == "darwin" else maxrss / 1024  # bytes on macOS


def _rss_mb() -> float:
    """Current RSS; without /proc, the peak so far (an upper bound)."""
    kb = _status_kb("VmRSS")
    return kb / 1024 if kb is not None else _maxrss_mb()


def _reset_peak() -> None:
    """Restart the high-water mark from the current RSS where the kernel allows it."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _peak_mb() -> float:
    kb = _status_kb("VmHWM")
    return kb / 1024 if kb is not None else _maxrss_mb()


# The op under test (inside the child)


def make_inputs(k: int, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded image (1, 3, H, W) and kernels (1, k², H, W), float32."""
    rng = np.random.default_rng(0)
    image = rng.standard_normal((1, IMAGE_CHANNELS, height, width), dtype=np.float32)
    kernels = rng.standard_normal((1, k * k, height, width), dtype=np.float32) / (k * k)
    return image, kernels


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
    image, kernels = make_inputs(config.k, config.width, config.height)
    baseline = _rss_mb()
    _reset_peak()
    call, load_ms = _CALLS[config.engine](config, image, kernels)
    started = time.perf_counter()
    call()
    first_ms = (time.perf_counter() - started) * 1e3
    for _ in range(config.warmup):
        call()
    samples = time_runs(call, config.runs, config.seconds)
    timings = summarize(samples, load_ms=load_ms, first_ms=first_ms, warmup=config.warmup)
    return {"timings": asdict(timings), "peak_rss_mb": _peak_mb(), "baseline_rss_mb": baseline}


# TFLite module holding only the op


def export_kernel_predict_tflite(
    path: str | Path, k: int, formulation: str, width: int, height: int
) -> Path:
    """Convert the op alone, as one `dc2kit.kernel_predict` composite, to a .tflite at `path`."""
    import litert_torch
    import torch
    from torch import nn

    from dc2kit.atomic import atomic_output
    from dc2kit.convert.tflite import CompositeKernelPredict

    class KernelPredictOnly(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.op = CompositeKernelPredict(k, formulation)

        def forward(self, image: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
            return self.op(image, kernels)

    sample = tuple(torch.from_numpy(a) for a in make_inputs(k, width, height))
    with torch.no_grad():
        flatbuffer = litert_torch.convert(KernelPredictOnly().eval(), sample).model_content()
    path = Path(path)
    with atomic_output(path) as temporary:
        temporary.write_bytes(flatbuffer)
    return path


def cached_tflite(work_dir: Path, k: int, formulation: str, width: int, height: int) -> Path:
    """The op-only .tflite for this configuration, converted on first use."""
    path = work_dir / f"kernel_predict_{formulation}_k{k}_{width}x{height}.tflite"
    if not path.exists():
        work_dir.mkdir(parents=True, exist_ok=True)
        export_kernel_predict_tflite(path, k, formulation, width, height)
    return path


# Parent side


def rss_increment_mb(measurement: Measurement) -> float | None:
    """The op's own peak memory: the absolute peak less the baseline noted by the child."""
    for note in measurement.notes:
        if note.startswith(BASELINE_NOTE) and measurement.peak_rss_mb is not None:
            return measurement.peak_rss_mb - float(note.removeprefix(BASELINE_NOTE))
    return None


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no output"


def run_child(config: MicroConfig) -> dict[str, Any]:
    """`measure(config)` in a fresh interpreter; `{"error": ...}` if the child fails."""
    command = [sys.executable, "-m", "dc2kit.bench.micro", "--child", json.dumps(asdict(config))]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"error": f"child exited with {done.returncode}: {_last_line(done.stderr)}"}
    return json.loads(done.stdout.splitlines()[-1])


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
        notes=(f"{BASELINE_NOTE}{result['baseline_rss_mb']:.1f}",),
        provenance=origin,
    )


def _prepare(config: MicroConfig, work_dir: Path) -> tuple[MicroConfig, dict[str, Any] | None]:
    """Attach the cached model for TFLite; a conversion failure becomes the skip reason."""
    if config.engine != "tflite":
        return config, None
    try:
        path = cached_tflite(work_dir, config.k, config.formulation, config.width, config.height)
    except Exception as error:  # the converter raises anything; the suite goes on
        first = next(iter(str(error).strip().splitlines()), "")
        return config, {"error": f"conversion failed: {type(error).__name__}: {first}"[:300]}
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
    origin = provenance(threads)
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
        config, failure = _prepare(config, Path(work_dir))
        result = failure or run_child(config)
        measurements.append(_measurement(config, result, origin))
    return measurements


def main(argv: Sequence[str] | None = None) -> None:
    """Child entry point: measure one configuration given as JSON, print its Measurement."""
    parser = argparse.ArgumentParser(prog="python -m dc2kit.bench.micro", description=__doc__)
    parser.add_argument("--child", required=True, help="one MicroConfig as JSON")
    args = parser.parse_args(argv)
    print(json.dumps(measure(MicroConfig(**json.loads(args.child)))))


if __name__ == "__main__":
    main()
