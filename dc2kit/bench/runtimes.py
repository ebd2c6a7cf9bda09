"""What `dc2kit bench` runs and on what: the `Workload`, the `Runtime` protocol, PyTorch eager.

A runtime turns a `Workload` into a run-once callable on fixed inputs. Its optional `build` step
writes an artifact (.tflite, .mlpackage) into a cache folder; the harness runs it in a process of
its own, once per workload, so the converter's time and memory never reach a measurement.
`prepare` is what the harness times as load: it reads the artifact (or builds the eager model)
and initialises the runtime.

The LiteRT runtimes are in `tflite_runtimes`, Core ML's in `coreml_runtime`; the registry
(`registry.RUNTIMES`) names them all. Their run paths never import torch: a runtime's measured
peak RSS then holds that runtime, not PyTorch's ~200 MB as well.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dc2kit.bench.errors import BenchError
from dc2kit.convert.targets import DEFAULT_FORMULATION

if TYPE_CHECKING:
    from dc2kit.bench.phone.runtime import DeviceSettings
    from dc2kit.bench.results import Measurement
    from dc2kit.model import DC2Net
    from dc2kit.model.builder import WeightsOrigin

RunOnce = Callable[[], Any]
INPUT_SEED = 0
MAX_BLUR_RADIUS = 8.0  # defocus inputs are blur radii in pixels


GRAPH_CODE_ROOT = Path(__file__).resolve().parents[1]  # the dc2kit package


def graph_code_fingerprint() -> str:
    """A short sha256 of the sources that define an exported graph (dc2kit.model, .convert), as
    they are now (read afresh at each call: a workload pins the value it was made with)."""
    digest = hashlib.sha256()
    sources = [*GRAPH_CODE_ROOT.glob("model/*.py"), *GRAPH_CODE_ROOT.glob("convert/*.py")]
    for source in sorted(sources):
        name = source.relative_to(GRAPH_CODE_ROOT).as_posix()
        digest.update(name.encode() + b"\0" + source.read_bytes())
    return digest.hexdigest()[:10]


def check_sources_unchanged(graph_code: str) -> None:
    """Refuse to build or run a graph from sources other than those `graph_code` pinned (edited,
    or checked out, since the run started): its row would claim other code."""
    now = graph_code_fingerprint()
    if now != graph_code:
        raise BenchError(
            f"dc2kit/model or dc2kit/convert changed since the run started (graph code "
            f"{graph_code}, now {now}); rerun the benchmark on unchanging sources"
        )


def check_graph_code(workload: Workload) -> None:
    """`check_sources_unchanged` for the code `workload` was made with."""
    check_sources_unchanged(workload.graph_code)


@contextlib.contextmanager
def built_from_pinned_sources(workload: Workload, artifact: Path) -> Iterator[None]:
    """Around a build: refuse if the sources already differ from the workload's, and if they
    changed during it, remove the cache entries it wrote (named by the workload's key, they would
    claim code they were not built from) and refuse."""
    check_graph_code(workload)
    entries = f"{workload.artifact_key}*"
    before = set(artifact.parent.glob(entries))
    yield
    try:
        check_graph_code(workload)
    except BenchError:
        for entry in set(artifact.parent.glob(entries)) - before:
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        raise


@dataclass(frozen=True)
class Workload:
    """What to run: the network (preset, size, kernel-prediction formulation) and CPU threads.

    `graph_code` is the fingerprint of the graph's sources when the workload was made: the parent
    makes it once per run and its children receive it, so the child that builds an artifact and
    the one that measures it name the same cache entry even if the sources change in between.
    """

    preset: str
    height: int
    width: int
    threads: int
    formulation: str = DEFAULT_FORMULATION
    weights: WeightsOrigin | None = None  # None: the preset's shipped weights
    graph_code: str = field(default_factory=graph_code_fingerprint)

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
        the weights are (their file's sha256, or the random seed), and so is the code that builds
        the graph, so an edited model or converter never reuses a stale artifact."""
        origin = self.origin
        tag = f"random{origin.seed}" if origin.kind == "random" else (origin.sha256 or "")[:12]
        stem = f"{self.preset}-{self.width}x{self.height}-{self.formulation}-{tag}"
        return f"{stem}-code{self.graph_code}"


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
