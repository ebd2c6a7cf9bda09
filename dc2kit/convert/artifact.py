"""What an exporter hands back: one artifact type and one I/O spec type for every target.

Both exporters describe their inputs and outputs with `TensorSpec` (as an app sees them, in the
artifact's own layout) and return an `Artifact`; a target's extra facts (Core ML's deployment
target, TFLite's signature and composites) live in its subclass. The manifest's I/O rows are
`asdict(spec)` for either target. Plain data, no heavy imports.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from dc2kit.convert.targets import Precision

Layout = Literal["NCHW", "NHWC"]


@dataclass(frozen=True)
class TensorSpec:
    """One model input or output as an app sees it (shape in `layout`, batch 1).

    `value_range` upper bound None means unbounded. Refined images may leave `[-1, 1]` (only the
    final `image` is clamped); the stated range is the intended one.
    """

    name: str
    kind: Literal["tensor", "image"]
    shape: tuple[int, ...]
    dtype: str
    layout: Layout
    value_range: tuple[float, float | None]
    description: str


@dataclass(frozen=True)
class Artifact:
    """A written artifact: where it is, its precision, its I/O as declared, and its ops."""

    path: Path
    precision: Precision
    layout: Layout
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    op_histogram: dict[str, int]

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.inputs)

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.outputs)


@dataclass(frozen=True)
class CoreMLArtifact(Artifact):
    """A written .mlpackage: its output set, image I/O, formulation and tool versions."""

    image_io: bool
    output_set: str
    formulation: str
    deployment_target: str
    coremltools_version: str
    conversion_seconds: float


@dataclass(frozen=True)
class TFLiteArtifact(Artifact):
    """A written .tflite: its signature, kernel-prediction composites and converter versions."""

    signature_name: str
    composite_names: tuple[str, ...]
    converter_versions: dict[str, str]
