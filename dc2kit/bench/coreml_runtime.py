"""Core ML runtimes of `dc2kit bench` (`coreml-cpu`, `-gpu`, `-ne`, `-all`): `MLModel.predict` on
macOS, one per compute-unit set, with the compute plan's residency as each row's placement.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dc2kit.bench.runtimes import RunOnce, Runtime, Workload, benchmark_inputs, workload_model

if TYPE_CHECKING:
    from dc2kit.bench.phone.runtime import DeviceSettings

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


COREML_RUNTIMES: tuple[Runtime, ...] = tuple(CoreMLRuntime(units) for units in COREML_COMPUTE_UNITS)
