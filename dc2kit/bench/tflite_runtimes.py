"""LiteRT (TFLite) runtimes of `dc2kit bench`: the interpreter with XNNPACK by default, and the
low-memory `CompiledModel` path with XNNPACK's transient indirection buffer (`-lowmem`).

`tflite-<precision>` measures what `dc2kit export --target tflite` ships: kernel prediction lowered
as `DEFAULT_KERNEL_PREDICT` (plain ops, one XNNPACK partition). `tflite-<precision>-composite`
measures the composite lowering published beside it (`…_composite.tflite`, for NPU compilers).
Each row's config names its lowering, and so does each cached artifact's file name. `w8a8`
(full-integer, calibrated on `dc2kit.calibration`'s set) exists only as plain ops: a
kernel-prediction composite can be neither quantized nor delegated.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dc2kit.bench.runtimes import RunOnce, Runtime, Workload, benchmark_inputs, workload_model
from dc2kit.convert.targets import (
    DEFAULT_KERNEL_PREDICT,
    LOWERING_PRECISIONS,
    KernelPredictLowering,
)


class TFLiteRuntime(Runtime):
    """LiteRT's interpreter with its default op resolver, which applies the XNNPACK CPU delegate
    to the ops it supports; the rest run on LiteRT's built-in kernels."""

    executor = "LiteRT Interpreter, XNNPACK CPU delegate (default)"
    modules = ("ai_edge_litert.interpreter",)
    name_suffix = ""

    def __init__(
        self, precision: str, kernel_predict: KernelPredictLowering = DEFAULT_KERNEL_PREDICT
    ) -> None:
        lowering = "" if kernel_predict == DEFAULT_KERNEL_PREDICT else f"-{kernel_predict}"
        self.name = f"tflite-{precision}{lowering}{self.name_suffix}"
        self.precision = precision
        self.kernel_predict = kernel_predict

    def artifact_path(self, workload: Workload, work_dir: Path) -> Path:
        return self._cache_entry(workload, work_dir, self.precision)

    def _cache_entry(self, workload: Workload, work_dir: Path, precision: str) -> Path:
        """The cached .tflite of this lowering at `precision`: the lowering is part of its name,
        so the two lowerings of one precision never share (or reuse) an entry."""
        stem = f"{workload.artifact_key}-{precision}-{self.kernel_predict}"
        return work_dir / "tflite" / f"{stem}.tflite"

    def build(self, workload: Workload, work_dir: Path) -> None:
        """Convert fp32 once per lowering (a conversion takes 1-2 min); the other precisions
        quantize that file (the `android-*` runtimes build their fp32 entry through here too)."""
        from dc2kit.convert.tflite import export_tflite, quantize_tflite

        path = self.artifact_path(workload, work_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        fp32 = self._cache_entry(workload, work_dir, "fp32")
        if not fp32.exists():
            model, origin = workload_model(workload)
            export_tflite(model, fp32, weights=origin, kernel_predict=self.kernel_predict)
        if self.precision == "w8a8":
            from dc2kit.calibration import calibration_set

            calibration = calibration_set(workload.height, workload.width)
            quantize_tflite(fp32, path, self.precision, calibration)
        elif self.precision != "fp32":
            quantize_tflite(fp32, path, self.precision)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "kernel_predict": self.kernel_predict}

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
    name_suffix = "-lowmem"
    executor = (
        "LiteRT CompiledModel, CPU (XNNPACK), "
        f"xnnpack_flags=0x{LOW_MEMORY_XNNPACK_FLAGS:x} (QS8 | QU8 | TRANSIENT_INDIRECTION_BUFFER)"
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


TFLITE_RUNTIMES: tuple[Runtime, ...] = tuple(
    kind(precision, lowering)
    for lowering in (DEFAULT_KERNEL_PREDICT, "composite")
    for kind in (TFLiteRuntime, LowMemoryTFLiteRuntime)
    for precision in LOWERING_PRECISIONS[lowering]
)
