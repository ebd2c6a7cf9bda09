"""`android-cpu`, `android-gpu`, `android-npu`: runtimes of `dc2kit bench` measured on a phone.

The artifact is the host's fp32 .tflite, built and cached by the host runtime of the same lowering:
on the CPU the one `export` ships (`tflite-fp32`), on the GPU plain ops (no GPU delegate runs a
STABLEHLO_COMPOSITE), on the NPU the composite one (`tflite-fp32-composite`), whose named op an NPU
compiler may map to a native kernel. The
figures come from LiteRT's `benchmark_model` on the phone over adb (`AndroidRunner`), with full
delegation required on the GPU and NPU: a log showing CPU fallback is a `DelegationError`, never a
row. Without adb or a device the runtime is skipped with `PhoneUnavailable`'s reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dc2kit.bench.errors import BenchError
from dc2kit.bench.phone.android import TOOLS, AndroidRunner, BenchmarkRun, Tool
from dc2kit.bench.phone.common import ANDROID_ACCELERATORS, Accelerator, PhoneUnavailable
from dc2kit.bench.results import Measurement
from dc2kit.bench.runtimes import Runtime, Workload
from dc2kit.bench.tflite_runtimes import TFLiteRuntime
from dc2kit.convert.targets import DEFAULT_KERNEL_PREDICT, KernelPredictLowering

# How each accelerator's artifact lowers kernel prediction (see the module docstring).
LOWERINGS: dict[Accelerator, KernelPredictLowering] = {
    "cpu": DEFAULT_KERNEL_PREDICT,
    "gpu": "ops",
    "npu": "composite",
}


@dataclass(frozen=True)
class DeviceSettings:
    """How to reach a phone: adb and its serial, LiteRT's `benchmark_model` for the phone (a
    file on this machine, pushed at each run), and the vendor libraries an NPU run loads."""

    adb_serial: str | None = None
    adb: str = "adb"
    benchmark_binary: str | None = None
    npu_libraries: tuple[str, ...] = field(default_factory=tuple)
    tool: Tool = "tflite"

    def __post_init__(self) -> None:
        if self.tool not in TOOLS:
            raise BenchError(f"unknown benchmark_model build {self.tool!r}; choose from {TOOLS}")

    def runner(self) -> AndroidRunner:
        return AndroidRunner(serial=self.adb_serial, adb=self.adb, tool=self.tool)


class AndroidRuntime(Runtime):
    """LiteRT's `benchmark_model` on an attached Android phone, on one accelerator."""

    on_device = True
    precision = "fp32"

    def __init__(self, accelerator: Accelerator) -> None:
        self.name = f"android-{accelerator}"
        self.accelerator = accelerator
        self.executor = f"LiteRT benchmark_model on Android over adb, {accelerator}"
        self.kernel_predict = LOWERINGS[accelerator]
        self.host = TFLiteRuntime(self.precision, self.kernel_predict)  # builds and caches it

    def skip_reason(self, device: DeviceSettings) -> str | None:
        try:
            device.runner().check()
        except PhoneUnavailable as unavailable:
            return unavailable.reason
        return None

    def artifact_path(self, workload: Workload, work_dir: Path) -> Path:
        return self.host.artifact_path(workload, work_dir)

    def build(self, workload: Workload, work_dir: Path) -> None:
        self.host.build(workload, work_dir)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "kernel_predict": self.kernel_predict}

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
        """Push, benchmark and parse; raises `BenchError` for what the user must fix."""
        from dc2kit.bench.phone.common import PhoneBenchmarkError

        artifact = self.artifact_path(workload, work_dir)
        if device.benchmark_binary is None:
            raise BenchError(
                f"{self.name}: pass --benchmark-model PATH, LiteRT's benchmark_model built for "
                "the phone (it is pushed with the model)"
            )
        if self.accelerator == "gpu":
            refuse_composites_on_gpu(artifact)  # a stale or foreign cache entry
        try:
            settings = BenchmarkRun(
                threads=workload.threads,
                accelerator=self.accelerator,
                runs=runs,
                warmup=warmup,
                require_full_delegation=True,
                npu_libraries=device.npu_libraries,
                peak_memory=True,
            )
            return device.runner().run(artifact, device.benchmark_binary, settings, config=config)
        except (ValueError, PhoneBenchmarkError) as error:
            raise BenchError(f"{self.name}: {error}") from error


def refuse_composites_on_gpu(artifact: Path) -> None:
    """No GPU delegate runs a STABLEHLO_COMPOSITE (neither TFLite's GPU delegate, whose op parser
    has no case for it, nor LiteRT's, which knows only its own named composites): refuse such an
    artifact rather than time a GPU run that falls back to the CPU."""
    from dc2kit.convert.tflite_report import composite_names, read_tflite_subgraphs

    composites = composite_names(read_tflite_subgraphs(artifact))
    if composites:
        raise BenchError(
            f"{artifact}: holds STABLEHLO_COMPOSITE ops ({', '.join(sorted(set(composites)))}), "
            "which no GPU delegate runs; a GPU run needs the artifact with plain ops"
        )


ANDROID_RUNTIMES = tuple(AndroidRuntime(accelerator) for accelerator in ANDROID_ACCELERATORS)
