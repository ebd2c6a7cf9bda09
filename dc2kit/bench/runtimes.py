"""The host runtimes `dc2kit bench` can time, by name: PyTorch eager, LiteRT (TFLite), Core ML.

A runtime turns a `Workload` into a run-once callable on fixed inputs. Its optional `build` step
writes an artifact (.tflite, .mlpackage) into a cache folder; the harness runs it in a process of
its own, once per workload, so the converter's time and memory never reach a measurement.
`prepare` is what the harness times as load: it reads the artifact (or builds the eager model)
and initialises the runtime.

The LiteRT and Core ML paths never import torch: a runtime's measured peak RSS then holds that
runtime, not PyTorch's ~200 MB as well.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from dc2kit.bench.phone.runtime import DeviceSettings
    from dc2kit.bench.results import Measurement
    from dc2kit.model import DC2Net
    from dc2kit.model.builder import WeightsOrigin

RunOnce = Callable[[], Any]
INPUT_SEED = 0
MAX_BLUR_RADIUS = 8.0  # defocus inputs are blur radii in pixels
TFLITE_PRECISIONS = ("fp32", "fp16", "int8")


@dataclass(frozen=True)
class Workload:
    """What to run: the network (preset, size, kernel-prediction formulation) and CPU threads."""

    preset: str
    height: int
    width: int
    threads: int
    formulation: str = "shift"
    weights: WeightsOrigin | None = None  # None: the preset's shipped weights

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Workload:
        from dc2kit.model.builder import WeightsOrigin

        weights = data.get("weights")
        return cls(**{**data, "weights": weights and WeightsOrigin.from_dict(weights)})

    @property
    def origin(self) -> WeightsOrigin:
        from dc2kit.model.builder import WeightsChoice, resolve_weights

        return self.weights or resolve_weights(self.preset, WeightsChoice())

    @property
    def artifact_key(self) -> str:
        """Names a cached artifact; threads are a run-time setting, so they are not part of it,
        the weights are (their file's sha256, or the random seed)."""
        origin = self.origin
        tag = f"random{origin.seed}" if origin.kind == "random" else (origin.sha256 or "")[:12]
        return f"{self.preset}-{self.width}x{self.height}-{self.formulation}-{tag}"


def benchmark_inputs(height: int, width: int) -> dict[str, np.ndarray]:
    """Seeded NCHW inputs in the model's ranges, the same for every runtime.

    The network has no data-dependent control flow, so its latency does not depend on pixel
    values; seeded noise keeps torch out of the LiteRT and Core ML processes.
    """
    rng = np.random.default_rng(INPUT_SEED)

    def uniform(channels: int, low: float, high: float) -> np.ndarray:
        return rng.uniform(low, high, (1, channels, height, width)).astype(np.float32)

    return {
        "w": uniform(3, -1.0, 1.0),
        "uw": uniform(3, -1.0, 1.0),
        "defocus_w": uniform(1, 0.0, MAX_BLUR_RADIUS),
        "defocus_t": uniform(1, 0.0, MAX_BLUR_RADIUS),
    }


def workload_model(workload: Workload) -> tuple[DC2Net, WeightsOrigin]:
    """The workload's DC2Net, built by `build_dc2` from the weights its origin names."""
    from dc2kit.model.builder import build_dc2

    size = (workload.height, workload.width)
    choice = workload.origin.choice()
    return build_dc2(workload.preset, size, weights=choice, formulation=workload.formulation)


class Runtime:
    """One named way of executing the model on this machine."""

    name: str
    precision: str
    executor: str  # what actually computes, for the record
    modules: tuple[str, ...] = ()  # imported before load is timed: library start-up is not load
    on_device = False  # True: measured on an attached device by `measure_on_device`

    def skip_reason(self, device: DeviceSettings) -> str | None:
        """Why this runtime cannot run here (or on the attached device), or None when it can."""
        return None

    def artifact_path(self, workload: Workload, work_dir: Path) -> Path | None:
        """Where `build` caches this workload's artifact; None for runtimes that need none."""
        return None

    def build(self, workload: Workload, work_dir: Path) -> None:
        """Write the artifact at `artifact_path` (called only when it is missing)."""

    def prepare(self, workload: Workload, work_dir: Path) -> RunOnce:
        """Load and initialise; return a callable running one inference on fixed inputs."""
        raise NotImplementedError

    def measure_on_device(
        self,
        workload: Workload,
        work_dir: Path,
        device: DeviceSettings,
        *,
        runs: int,
        warmup: int,
        config: dict[str, Any],
    ) -> Measurement:
        """A device runtime's row, measured by the device's own tool (host runtimes have none:
        the harness measures them in a child process)."""
        raise NotImplementedError(f"{self.name} is measured on this machine, not on a device")

    def placement(self, workload: Workload, work_dir: Path) -> dict[str, Any] | None:
        """Where the artifact's ops run (a row's `placement`), measured after the timed runs;
        None where this runtime has no such view."""
        return None

    def describe(self) -> dict[str, Any]:
        return {"precision": self.precision, "executor": self.executor}


class TorchRuntime(Runtime):
    name = "torch"
    precision = "fp32"
    executor = "PyTorch eager, torch.inference_mode"
    modules = ("torch", "dc2kit.model")

    def prepare(self, workload: Workload, work_dir: Path) -> RunOnce:
        import torch

        torch.set_num_threads(workload.threads)
        model, _ = workload_model(workload)
        inputs = tuple(
            torch.from_numpy(a) for a in benchmark_inputs(workload.height, workload.width).values()
        )

        def run() -> Any:
            with torch.inference_mode():
                return model(*inputs)

        return run


class TFLiteRuntime(Runtime):
    """LiteRT's interpreter with its default op resolver, which applies the XNNPACK CPU delegate
    to the ops it supports; the rest run on LiteRT's built-in kernels."""

    executor = "LiteRT Interpreter, XNNPACK CPU delegate (default)"
    modules = ("ai_edge_litert.interpreter",)

    def __init__(self, precision: str) -> None:
        self.name = f"tflite-{precision}"
        self.precision = precision

    def artifact_path(self, workload: Workload, work_dir: Path) -> Path:
        return work_dir / "tflite" / f"{workload.artifact_key}-{self.precision}.tflite"

    def build(self, workload: Workload, work_dir: Path) -> None:
        """Convert fp32 once; fp16 and int8 quantize that file (a conversion takes ~40 s)."""
        from dc2kit.convert.tflite import export_tflite, quantize_tflite

        path = self.artifact_path(workload, work_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        fp32 = path.with_name(f"{workload.artifact_key}-fp32.tflite")
        if not fp32.exists():
            model, origin = workload_model(workload)
            export_tflite(model, fp32, precision="fp32", weights=origin)
        if self.precision != "fp32":
            quantize_tflite(fp32, path, self.precision)

    def placement(self, workload: Workload, work_dir: Path) -> dict[str, Any]:
        """XNNPACK partitions of the artifact, as LiteRT (interpreter, CompiledModel) sees them."""
        from dc2kit.convert.residency import xnnpack_residency

        return xnnpack_residency(self.artifact_path(workload, work_dir)).as_placement()

    def prepare(self, workload: Workload, work_dir: Path) -> RunOnce:
        from ai_edge_litert.interpreter import Interpreter

        path = self.artifact_path(workload, work_dir)
        interpreter = Interpreter(model_path=str(path), num_threads=workload.threads)
        runner = interpreter.get_signature_runner()
        inputs = benchmark_inputs(workload.height, workload.width)
        return lambda: runner(**inputs)


# XNNPACK delegate flags (tflite/delegates/xnnpack/xnnpack_delegate.h). LiteRT's CPU accelerator
# starts from TfLiteXNNPackDelegateOptionsDefault() and *replaces* its flags with
# `CpuOptions.xnnpack_flags`, so the defaults this build sets (signed and unsigned 8-bit
# inference) are kept by or-ing them in.
XNNPACK_FLAG_QS8 = 0x1
XNNPACK_FLAG_QU8 = 0x2
XNNPACK_FLAG_TRANSIENT_INDIRECTION_BUFFER = 0x20
LOW_MEMORY_XNNPACK_FLAGS = (
    XNNPACK_FLAG_QS8 | XNNPACK_FLAG_QU8 | XNNPACK_FLAG_TRANSIENT_INDIRECTION_BUFFER
)


class LowMemoryTFLiteRuntime(TFLiteRuntime):
    """The same .tflite on LiteRT's `CompiledModel` CPU path with XNNPACK's transient indirection
    buffer: each convolution rebuilds its indirection buffer (8 bytes x kh x kw per output pixel)
    in a shared workspace at every run instead of keeping its own for the model's lifetime.
    Costs time, saves most of the resident memory of a full-resolution network."""

    modules = ("ai_edge_litert.compiled_model",)

    def __init__(self, precision: str) -> None:
        super().__init__(precision)
        self.name = f"tflite-{precision}-lowmem"
        self.executor = (
            "LiteRT CompiledModel, CPU (XNNPACK), "
            f"xnnpack_flags=0x{LOW_MEMORY_XNNPACK_FLAGS:x} "
            "(QS8 | QU8 | TRANSIENT_INDIRECTION_BUFFER)"
        )

    def prepare(self, workload: Workload, work_dir: Path) -> RunOnce:
        from ai_edge_litert.compiled_model import CompiledModel
        from ai_edge_litert.hardware_accelerator import HardwareAccelerator
        from ai_edge_litert.options import CpuOptions, Options

        options = Options(
            hardware_accelerators=HardwareAccelerator.CPU,
            cpu_options=CpuOptions(
                num_threads=workload.threads, xnnpack_flags=LOW_MEMORY_XNNPACK_FLAGS
            ),
        )
        model = CompiledModel.from_file(
            str(self.artifact_path(workload, work_dir)), options=options
        )
        (signature,) = model.get_signature_list().values()
        inputs = model.create_input_buffers(0)
        outputs = model.create_output_buffers(0)
        arrays = benchmark_inputs(workload.height, workload.width)
        for name, buffer in zip(signature["inputs"], inputs, strict=True):
            buffer.write(arrays[name])
        return lambda: model.run_by_index(0, inputs, outputs)


COREML_COMPUTE_UNITS = {
    "cpu": "CPU_ONLY",
    "gpu": "CPU_AND_GPU",
    "ne": "CPU_AND_NE",
    "all": "ALL",
}


class CoreMLRuntime(Runtime):
    """`MLModel.predict` on an fp16 ML program, restricted to a set of compute units.

    Core ML picks its own threads and may still fall back to the CPU for unsupported ops.
    """

    precision = "fp16"
    modules = ("coremltools",)

    def __init__(self, units: str) -> None:
        self.name = f"coreml-{units}"
        self.compute_units = COREML_COMPUTE_UNITS[units]
        self.executor = f"Core ML MLModel.predict, compute_units={self.compute_units}"

    def skip_reason(self, device: DeviceSettings) -> str | None:
        return None if sys.platform == "darwin" else "Core ML runs only on macOS"

    def artifact_path(self, workload: Workload, work_dir: Path) -> Path:
        return work_dir / "coreml" / f"{workload.artifact_key}-{self.precision}.mlpackage"

    def build(self, workload: Workload, work_dir: Path) -> None:
        from dc2kit.convert.coreml import export_coreml

        path = self.artifact_path(workload, work_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        model, origin = workload_model(workload)
        export_coreml(model, path, precision=self.precision, weights=origin)

    def prepare(self, workload: Workload, work_dir: Path) -> RunOnce:
        import coremltools as ct

        path = self.artifact_path(workload, work_dir)
        units = getattr(ct.ComputeUnit, self.compute_units)
        model = ct.models.MLModel(str(path), compute_units=units)
        feed = _coreml_feed(model, benchmark_inputs(workload.height, workload.width))
        return lambda: model.predict(feed)

    def placement(self, workload: Workload, work_dir: Path) -> dict[str, Any] | None:
        """Core ML's compute plan per device; GPU or Neural Engine units with ops planned on the
        CPU raise `DelegationError` (full delegation required)."""
        import coremltools as ct

        from dc2kit.bench.phone.coreml import coreml_residency

        path = self.artifact_path(workload, work_dir)
        units = getattr(ct.ComputeUnit, self.compute_units)
        compiled = ct.models.MLModel(str(path), compute_units=units).get_compiled_model_path()
        return coreml_residency(compiled, self.compute_units)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "compute_units": self.compute_units}


def _coreml_feed(model: Any, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Inputs in the dtype each model input declares (fp16 programs take fp16 arrays)."""
    from coremltools.proto.FeatureTypes_pb2 import ArrayFeatureType

    feed = {}
    for description in model.get_spec().description.input:
        fp16 = description.type.multiArrayType.dataType == ArrayFeatureType.FLOAT16
        feed[description.name] = inputs[description.name].astype(np.float16 if fp16 else np.float32)
    return feed


HOST_RUNTIMES: tuple[Runtime, ...] = (
    TorchRuntime(),
    *(TFLiteRuntime(precision) for precision in TFLITE_PRECISIONS),
    *(LowMemoryTFLiteRuntime(precision) for precision in TFLITE_PRECISIONS),
    *(CoreMLRuntime(units) for units in COREML_COMPUTE_UNITS),
)
