"""Phone runners: Android over adb with LiteRT's `benchmark_model`, Core ML through coremltools.

Neither runs without hardware, so the parts that decide what a figure means are pure functions
tested on their own: the exact adb command lines, the parsing of `benchmark_model`'s output and the
summary of a Core ML compute plan. A run that cannot happen raises `PhoneUnavailable` with the
reason (no adb, no device, not macOS); a run whose accelerator did not take the whole graph raises
`DelegationError` rather than storing CPU numbers under a GPU or NPU label.

Two `benchmark_model` builds exist and both are supported (`tool=`):

- `"tflite"`: the interpreter benchmark (tflite/tools/benchmark). Delegates by flag: XNNPACK on
  CPU, `--use_gpu`, and for the Hexagon NPU Qualcomm's QNN TFLite delegate loaded with
  `--external_delegate_path` (from the QNN SDK, pushed with the other vendor libraries).
- `"litert"`: LiteRT's CompiledModel benchmark (litert/tools), with `--use_cpu/--use_gpu/--use_npu`;
  its NPU path compiles on device through the vendor's dispatch and compiler-plugin libraries.
"""

from __future__ import annotations

import os
import platform
import re
import resource
import shlex
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal, get_args

import numpy as np

from dc2kit.bench.results import Measurement, Timings, provenance
from dc2kit.bench.timing import summarize

Accelerator = Literal["cpu", "gpu", "npu"]
Tool = Literal["tflite", "litert"]
ANDROID_ACCELERATORS: tuple[str, ...] = get_args(Accelerator)
TOOLS: tuple[str, ...] = get_args(Tool)
BINARY = "benchmark_model"
QNN_TFLITE_DELEGATE = "libQnnTFLiteDelegate.so"
GETPROP_KEYS = {
    "ro.product.model": "device_model",
    "ro.product.manufacturer": "manufacturer",
    "ro.soc.model": "soc_model",
    "ro.build.version.release": "android_release",
}


class PhoneUnavailable(RuntimeError):  # noqa: N818  (a condition to skip on, not a failure)
    """The run cannot happen here (no adb, no device, not macOS); `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PhoneBenchmarkError(RuntimeError):
    """The tool ran on the phone and failed, or printed nothing this module can read."""


class DelegationError(PhoneBenchmarkError):
    """The requested accelerator did not run the whole graph: the numbers would be mislabelled."""


# ================================================================================== Android


def _flag(name: str, value: object) -> str:
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return f"--{name}={text}"


def accelerator_flags(
    tool: Tool, accelerator: Accelerator, device_dir: str, require_full_delegation: bool
) -> list[str]:
    """The `benchmark_model` flags selecting `accelerator` (and forbidding CPU fallback)."""
    if tool not in TOOLS or accelerator not in ANDROID_ACCELERATORS:
        raise ValueError(
            f"tool must be one of {TOOLS} and accelerator one of {ANDROID_ACCELERATORS}"
        )
    # On the CPU the fallback is the CPU itself, and LiteRT aborts on use_cpu + full delegation.
    strict = require_full_delegation and accelerator != "cpu"
    if tool == "tflite":
        flags = {
            "cpu": [_flag("use_xnnpack", True)],
            "gpu": [_flag("use_gpu", True)],
            "npu": [
                _flag("external_delegate_path", f"{device_dir}/{QNN_TFLITE_DELEGATE}"),
                _flag("external_delegate_options", "backend_type:htp"),
            ],
        }[accelerator]
    elif accelerator == "cpu":
        flags = [_flag("use_cpu", True)]
    else:
        flags = [_flag("use_cpu", False)] if strict else []
        flags.append(_flag(f"use_{accelerator}", True))
        if accelerator == "npu":
            flags += [
                _flag("dispatch_library_path", device_dir),
                _flag("compiler_plugin_library_path", device_dir),
            ]
    return flags + ([_flag("require_full_delegation", True)] if strict else [])


def parse_adb_devices(text: str) -> dict[str, str]:
    """`adb devices` output as {serial: state} ("device", "unauthorized", "offline", ...)."""
    devices = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and not line.startswith(("List of devices", "*")):
            devices[parts[0]] = parts[1]
    return devices


def parse_getprop(text: str) -> dict[str, str]:
    """The device facts a result records, from `adb shell getprop` ("[key]: [value]" lines)."""
    props = dict(re.findall(r"^\[([^\]]+)\]: \[([^\]]*)\]", text, flags=re.M))
    return {name: props[key] for key, name in GETPROP_KEYS.items() if props.get(key)}


@dataclass(frozen=True)
class AndroidRunner:
    """Pushes a .tflite and `benchmark_model` to a phone over adb, runs it, parses the output."""

    serial: str | None = None
    adb: str = "adb"
    device_dir: str = "/data/local/tmp/dc2kit"
    tool: Tool = "tflite"

    def _adb(self, *args: str) -> list[str]:
        return [self.adb, *(["-s", self.serial] if self.serial else []), *args]

    def commands(
        self,
        tflite_path: str | os.PathLike[str],
        benchmark_binary: str | os.PathLike[str],
        *,
        threads: int = 4,
        accelerator: Accelerator = "gpu",
        runs: int = 50,
        warmup: int = 5,
        require_full_delegation: bool = True,
        npu_libraries: Sequence[str | os.PathLike[str]] = (),
        peak_memory: bool = False,
    ) -> list[list[str]]:
        """Every adb argv of one run, in order: set up the device folder, push, benchmark.

        `npu_libraries` are the vendor libraries an NPU run loads from the device folder (QNN's
        `libQnnTFLiteDelegate.so`, `libQnnHtp*.so`, ... for the tflite tool; LiteRT's dispatch
        and compiler-plugin libraries for the litert tool). `peak_memory` samples the footprint
        from a thread every 50 ms for a true peak (the tool warns it may perturb the timings).
        """
        if accelerator == "npu" and not npu_libraries:
            raise ValueError("an NPU run needs the vendor libraries (npu_libraries=...)")
        if self.tool == "tflite" and accelerator == "npu":
            names = {Path(library).name for library in npu_libraries}
            if QNN_TFLITE_DELEGATE not in names:
                raise ValueError(f"the tflite tool's NPU run loads {QNN_TFLITE_DELEGATE}: push it")
        device = PurePosixPath(self.device_dir)
        binary, model = device / BINARY, device / Path(tflite_path).name
        pushes = [(tflite_path, model), (benchmark_binary, binary)]
        pushes += [(library, device / Path(library).name) for library in npu_libraries]
        # QNN finds its HTP skeleton libraries through ADSP_LIBRARY_PATH.
        environment = (
            [f"LD_LIBRARY_PATH={device}", f"ADSP_LIBRARY_PATH={device}"]
            if accelerator == "npu"
            else []
        )
        benchmark = [
            *environment,
            str(binary),
            _flag("graph", model),
            _flag("num_threads", threads),
            *accelerator_flags(self.tool, accelerator, str(device), require_full_delegation),
            _flag("num_runs", runs),
            _flag("warmup_runs", warmup),
            *([_flag("report_peak_memory_footprint", True)] if peak_memory else []),
        ]
        return [
            self._adb("shell", "mkdir", "-p", str(device)),
            *(self._adb("push", str(local), str(remote)) for local, remote in pushes),
            self._adb("shell", "chmod", "+x", str(binary)),
            self._adb("shell", *benchmark),
        ]

    def check(self) -> None:
        """Raise `PhoneUnavailable` unless adb exists and exactly the wanted device is ready."""
        if shutil.which(self.adb) is None:
            raise PhoneUnavailable(f"{self.adb!r} is not on PATH: install Android platform-tools")
        listing = subprocess.run(
            [self.adb, "devices"], capture_output=True, text=True, timeout=30, check=False
        )
        devices = parse_adb_devices(listing.stdout)
        ready = sorted(serial for serial, state in devices.items() if state == "device")
        if self.serial is not None and self.serial not in ready:
            state = devices.get(self.serial, "not attached")
            raise PhoneUnavailable(f"Android device {self.serial} is {state} (adb devices)")
        if not ready:
            others = ", ".join(f"{s} ({state})" for s, state in devices.items())
            detail = f"; present but not ready: {others}" if others else ""
            raise PhoneUnavailable(f"no Android device attached (adb devices lists none{detail})")
        if self.serial is None and len(ready) > 1:
            raise PhoneUnavailable(
                f"several Android devices attached ({', '.join(ready)}): pass serial"
            )

    def device_info(self) -> dict[str, str]:
        listing = subprocess.run(
            self._adb("shell", "getprop"), capture_output=True, text=True, timeout=30, check=True
        )
        return parse_getprop(listing.stdout)

    def run(
        self,
        tflite_path: str | os.PathLike[str],
        benchmark_binary: str | os.PathLike[str],
        *,
        threads: int = 4,
        accelerator: Accelerator = "gpu",
        runs: int = 50,
        warmup: int = 5,
        require_full_delegation: bool = True,
        npu_libraries: Sequence[str | os.PathLike[str]] = (),
        peak_memory: bool = False,
        config: Mapping[str, Any] | None = None,
        timeout_s: float = 900.0,
    ) -> Measurement:
        """Benchmark on the attached phone; raises `PhoneUnavailable` when there is none."""
        self.check()
        *setup, benchmark = self.commands(
            tflite_path,
            benchmark_binary,
            threads=threads,
            accelerator=accelerator,
            runs=runs,
            warmup=warmup,
            require_full_delegation=require_full_delegation,
            npu_libraries=npu_libraries,
            peak_memory=peak_memory,
        )
        for argv in setup:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s)
            if done.returncode != 0:
                raise PhoneBenchmarkError(f"{shlex.join(argv)} failed: {done.stderr.strip()}")
        device = self.device_info()
        done = subprocess.run(
            benchmark,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout_s,
        )
        described = {
            "model": Path(tflite_path).name,
            "tool": self.tool,
            "threads": threads,
            "require_full_delegation": require_full_delegation,
            **(config or {}),
        }
        return parse_benchmark_model(
            done.stdout,
            accelerator=accelerator,
            require_full_delegation=require_full_delegation,
            config=described,
            device=device,
            command=benchmark,
            returncode=done.returncode,
        )


# --------------------------------------------------------------------------- output parsing

# Log prefixes in front of the tool's text: logcat ("05-31 10:38:42.583 22206 22206 I tflite  : "),
# TFLite ("INFO: ") and LiteRT ("INFO: [./litert/tools/benchmark_litert_model.h:88] ").
_PREFIX = re.compile(
    r"^(?:\d\d-\d\d [\d:.]+\s+\d+\s+\d+ [VDIWEF] \S+\s*: )?"
    r"(?:(?:INFO|ERROR|WARNING|VERBOSE): )?(?:\[[^\]]*:\d+\] )?"
)
_NUMBER = r"([-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"
_SUMMARY_US = re.compile(
    rf"^Inference timings in us: Init: {_NUMBER}, First inference: {_NUMBER}, "
    rf"Warmup \(avg\): {_NUMBER}, Inference \(avg\): {_NUMBER}"
)
_LITERT_MS = {
    "init": re.compile(rf"^Model initialization:\s+{_NUMBER} ms"),
    "first": re.compile(rf"^(?:Warmup \(first\)|First inference):\s+{_NUMBER} ms"),
    "warmup": re.compile(rf"^Warmup \(avg\):\s+{_NUMBER} ms \((\d+) runs\)"),
    "mean": re.compile(rf"^Inference \(avg\):\s+{_NUMBER} ms \((\d+) runs\)"),
    "min": re.compile(rf"^Inference \(min\):\s+{_NUMBER} ms"),
    "max": re.compile(rf"^Inference \(max\):\s+{_NUMBER} ms"),
}
_SESSION = re.compile(rf"^Initialized session in {_NUMBER}\s*ms")
_PEAK_MB = re.compile(
    rf"^(?:Overall peak memory footprint \(MB\) via periodic monitoring:|Peak memory:)\s+{_NUMBER}"
)
_FOOTPRINT_MB = re.compile(
    rf"^(?:Memory footprint delta from the start of the tool|Peak memory footprint) \(MB\): "
    rf"init={_NUMBER} overall={_NUMBER}"
)
_LITERT_FOOTPRINT_MB = re.compile(rf"^Overall footprint:\s+{_NUMBER} MB")
_REPLACED = re.compile(r"^Replacing (\d+) out of (\d+) node\(s\) with delegate \(([^)]+)\)")
_QNN_REPLACED = re.compile(r"^(\w+) delegate: (\d+) nodes delegated out of (\d+) nodes")
_NOT_EXECUTED = re.compile(r"^Though (\w+) delegate is explicitly applied, .* will not be executed")
_DELEGATION_FAILURES = re.compile(
    r"^(?:Disallowed CPU fallback detected|Failed to apply \S+ delegate"
    r"|Requesting full delegation and CPU acceleration are incompatible)"
)
_FAILURES = re.compile(r"^(?:Benchmarking failed|Failed to compile model|Failed to load model)")
_FIGURES = {
    "summary": _SUMMARY_US,
    "session": _SESSION,
    "peak": _PEAK_MB,
    "footprint": _FOOTPRINT_MB,
    "litert_footprint": _LITERT_FOOTPRINT_MB,
    **_LITERT_MS,
}


@dataclass(frozen=True)
class Delegation:
    """One delegate's share of the graph, as the log reports it."""

    delegate: str
    nodes: int
    total: int

    @property
    def on_cpu(self) -> bool:
        return "xnnpack" in self.delegate.lower()


@dataclass(frozen=True)
class BenchmarkOutput:
    """What one `benchmark_model` log says, in milliseconds and megabytes."""

    init_ms: float | None
    first_ms: float | None
    warmup_mean_ms: float | None
    warmup_runs: int
    runs: int
    mean_ms: float | None
    min_ms: float | None
    max_ms: float | None
    std_ms: float | None
    median_ms: float | None
    p5_ms: float | None
    p95_ms: float | None
    peak_memory_mb: float | None
    footprint_mb: float | None  # growth of the footprint since the tool started, not a peak
    delegations: tuple[Delegation, ...]
    not_executed_by: tuple[str, ...]  # delegates that were applied but took nothing
    refused: tuple[str, ...]  # the tool's own delegation errors
    failures: tuple[str, ...]  # other error lines (the run failed)


def _stats(line: str) -> dict[str, float]:
    return {key: float(value) for key, value in re.findall(rf"(\w+)={_NUMBER}", line)}


def _us(stats: Mapping[str, float], key: str) -> float | None:
    return stats[key] / 1e3 if key in stats else None


def read_benchmark_output(text: str) -> BenchmarkOutput:
    """Figures from either tool's log. Per-run statistics (µs) win over rounded summaries (ms)."""
    lines = [_PREFIX.sub("", line.rstrip("\r")) for line in text.splitlines()]
    found: dict[str, re.Match[str]] = {}
    stats, delegations, not_executed, refused, failures = [], [], [], [], []
    for line in lines:
        if line.startswith("count="):
            stats.append(_stats(line))
        elif match := _REPLACED.match(line):
            delegations.append(Delegation(match[3], int(match[1]), int(match[2])))
        elif match := _QNN_REPLACED.match(line):
            delegations.append(Delegation(match[1], int(match[2]), int(match[3])))
        elif match := _NOT_EXECUTED.match(line):
            not_executed.append(match[1])
        elif _DELEGATION_FAILURES.match(line):
            refused.append(line.strip())
        elif _FAILURES.match(line):
            failures.append(line.strip())
        for name, pattern in _FIGURES.items():
            if match := pattern.match(line):
                found[name] = match
    timed = stats[-1] if stats else {}
    warm = stats[-2] if len(stats) > 1 else {}
    summary = found.get("summary")

    def pick(*candidates: float | None) -> float | None:
        return next((value for value in candidates if value is not None), None)

    def ms(name: str, group: int = 1) -> float | None:
        return float(found[name][group]) if name in found else None

    def from_summary(group: int) -> float | None:
        return float(summary[group]) / 1e3 if summary else None

    footprint = pick(ms("footprint", 2), ms("litert_footprint"))
    return BenchmarkOutput(
        init_ms=pick(from_summary(1), ms("session"), ms("init")),
        first_ms=pick(from_summary(2), _us(warm, "first"), ms("first")),
        warmup_mean_ms=pick(_us(warm, "avg"), from_summary(3), ms("warmup")),
        warmup_runs=int(warm.get("count", 0)) or int(ms("warmup", 2) or 0),
        runs=int(timed.get("count", 0)) or int(ms("mean", 2) or 0),
        mean_ms=pick(_us(timed, "avg"), from_summary(4), ms("mean")),
        min_ms=pick(_us(timed, "min"), ms("min")),
        max_ms=pick(_us(timed, "max"), ms("max")),
        std_ms=_us(timed, "std"),
        median_ms=_us(timed, "median"),
        p5_ms=_us(timed, "p5"),
        p95_ms=_us(timed, "p95"),
        peak_memory_mb=ms("peak"),
        footprint_mb=footprint,
        delegations=tuple(delegations),
        not_executed_by=tuple(not_executed),
        refused=tuple(refused),
        failures=tuple(failures),
    )


def _check_delegation(
    output: BenchmarkOutput, accelerator: Accelerator, require_full_delegation: bool
) -> tuple[bool, tuple[str, ...]]:
    """Raise `DelegationError` where the log shows CPU work under an accelerator's label.

    Returns whether part of the graph ran on the CPU (allowed only without full delegation) and
    notes on where the graph ran, for the result.
    """
    if output.refused:
        raise DelegationError(
            f"benchmark_model refused the {accelerator} run: {' / '.join(output.refused)}"
            + (" (CPU fallback was forbidden)" if require_full_delegation else "")
        )
    if accelerator == "cpu":
        return False, tuple(
            f"{d.delegate}: {d.nodes} of {d.total} nodes" for d in output.delegations
        )
    if output.not_executed_by:
        raise DelegationError(
            f"the {', '.join(output.not_executed_by)} delegate ran none of the graph: "
            f"the numbers would be CPU numbers labelled {accelerator}"
        )
    placed = [d for d in output.delegations if not d.on_cpu]
    if any(d.nodes == 0 for d in placed):
        raise DelegationError(f"the {accelerator} delegate took no nodes: {placed}")
    partial = [d for d in placed if d.nodes < d.total]
    if partial and require_full_delegation:
        raise DelegationError(f"partial delegation with full delegation required: {partial}")
    notes = [f"{d.delegate}: {d.nodes} of {d.total} nodes on {accelerator}" for d in placed]
    if partial:
        notes.append("partially delegated: the remaining nodes ran on the CPU")
    elif require_full_delegation:
        notes.append("full delegation enforced by --require_full_delegation")
    return bool(partial), tuple(notes)


def parse_benchmark_model(
    text: str,
    *,
    accelerator: Accelerator,
    require_full_delegation: bool = True,
    config: Mapping[str, Any] | None = None,
    device: Mapping[str, str] | None = None,
    command: Sequence[str] | None = None,
    returncode: int = 0,
) -> Measurement:
    """A `benchmark_model` log as a phone `Measurement` (µs and ms in the log → ms here).

    The tool prints an average, min/max/std and (newer builds) p5/median/p95; it prints no p90
    and no trimmed mean, so those stay None rather than being made up.
    """
    output = read_benchmark_output(text)
    partial, placement = _check_delegation(output, accelerator, require_full_delegation)
    if returncode != 0 or output.failures:
        tail = "\n".join(text.strip().splitlines()[-5:])
        raise PhoneBenchmarkError(f"benchmark_model failed (exit status {returncode}):\n{tail}")
    if output.mean_ms is None:
        raise PhoneBenchmarkError("no inference timings in the benchmark_model output")
    timings = Timings(
        load_ms=output.init_ms,
        first_ms=output.first_ms,
        warmup=output.warmup_runs,
        runs=output.runs,
        min_ms=output.min_ms,
        p50_ms=output.median_ms,
        p90_ms=None,
        mean_ms=output.mean_ms,
        trimmed_mean_ms=None,
    )
    printed = {"max": output.max_ms, "std": output.std_ms, "p5": output.p5_ms, "p95": output.p95_ms}
    extra = ", ".join(
        f"{name} {value:.3f} ms" for name, value in printed.items() if value is not None
    )
    notes = [
        "benchmark_model prints no p90 or trimmed mean: p90_ms and trimmed_mean_ms are None",
        *placement,
    ]
    if extra:
        notes.append(f"also printed: {extra}")
    memory = output.peak_memory_mb
    if memory is None and output.footprint_mb is not None:
        memory = output.footprint_mb
        notes.append("peak_rss_mb is the footprint growth since the tool started, not a peak")
    return Measurement(
        suite="phone",
        runtime=f"android-{accelerator}" + ("+cpu" if partial else ""),
        config={"accelerator": accelerator, **(config or {})},
        source="phone",
        timings=timings,
        peak_rss_mb=memory,
        notes=tuple(notes),
        provenance=_android_provenance(config or {}, device or {}, command),
    )


def _android_provenance(
    config: Mapping[str, Any], device: Mapping[str, str], command: Sequence[str] | None
) -> dict[str, Any]:
    """This host's provenance, with the phone in the machine fields and the host kept apart."""
    host = provenance(config.get("threads"))
    phone = {
        "cpu_model": device.get("soc_model") or device.get("device_model"),
        "cores": None,
        "os": f"Android {device['android_release']}" if "android_release" in device else None,
        **device,
    }
    return {
        **host,
        **phone,
        "host_cpu_model": host["cpu_model"],
        "host_os": host["os"],
        "tool": BINARY,
        "device_command": shlex.join(command) if command else None,
    }


# ================================================================================== Core ML

COMPUTE_UNITS = ("CPU_ONLY", "CPU_AND_GPU", "CPU_AND_NE", "ALL")
_RUNTIMES = {"CPU_ONLY": "cpu", "CPU_AND_GPU": "gpu", "CPU_AND_NE": "ne", "ALL": "all"}
_DEVICES = {
    "MLCPUComputeDevice": "cpu",
    "MLGPUComputeDevice": "gpu",
    "MLNeuralEngineComputeDevice": "ne",
}


@dataclass(frozen=True)
class CoreMLConfiguration:
    """One way of loading the model: a `coremltools.ComputeUnit` name and its runtime label."""

    compute_units: str
    runtime: str


def coreml_configurations(units: Iterable[str] = COMPUTE_UNITS) -> list[CoreMLConfiguration]:
    """The compute-unit configurations a Core ML run times, in order."""
    configurations = []
    for unit in units:
        if unit not in _RUNTIMES:
            raise ValueError(f"unknown compute units {unit!r}; choose from {COMPUTE_UNITS}")
        configurations.append(CoreMLConfiguration(unit, f"coreml-{_RUNTIMES[unit]}"))
    return configurations


@dataclass(frozen=True)
class PlannedOp:
    """One ML-program operation in a compute plan: where Core ML prefers to run it."""

    operator: str
    device: str | None  # "cpu", "gpu", "ne", or None where the plan does not say
    cost: float | None = None  # the plan's estimated share of the model's work, 0–1


@dataclass(frozen=True)
class PlacementSummary:
    ops: dict[str, int]  # operations per preferred device ("unknown" where the plan is silent)
    cost_share: dict[str, float]  # the plan's estimated work per device
    cpu_operators: dict[str, int]  # which operator kinds land on the CPU, and how many

    def describe(self) -> str:
        counts = ", ".join(f"{n} on {device}" for device, n in self.ops.items())
        shares = ", ".join(f"{device} {share:.1%}" for device, share in self.cost_share.items())
        text = f"compute plan: {counts}"
        if shares:
            text += f"; estimated work {shares}"
        if self.cpu_operators:
            text += f"; on cpu: {', '.join(f'{op} x{n}' for op, n in self.cpu_operators.items())}"
        return text


def summarize_plan(ops: Iterable[PlannedOp]) -> PlacementSummary:
    """Counts per device, the way AI Hub reports residency (NPU/GPU/CPU layer counts)."""
    ops = list(ops)
    counts = Counter(op.device or "unknown" for op in ops)
    costs: Counter[str] = Counter()
    for op in ops:
        if op.cost is not None:
            costs[op.device or "unknown"] += op.cost
    cpu = Counter(op.operator for op in ops if op.device == "cpu")
    return PlacementSummary(
        ops=dict(counts.most_common()),
        cost_share=dict(costs.most_common()),
        cpu_operators=dict(cpu.most_common()),
    )


def _operations(block: Any) -> Iterable[Any]:
    for operation in block.operations:
        yield operation
        for inner in operation.blocks:
            yield from _operations(inner)


def read_compute_plan(compiled_path: str, compute_units: str) -> list[PlannedOp]:
    """Core ML's planned device per ML-program operation (macOS 14.4+; constants skipped)."""
    import coremltools as ct
    from coremltools.models.compute_plan import MLComputePlan

    plan = MLComputePlan.load_from_path(
        compiled_path, compute_units=getattr(ct.ComputeUnit, compute_units)
    )
    planned = []
    for function in plan.model_structure.program.functions.values():
        for operation in _operations(function.block):
            if operation.operator_name == "const":
                continue
            usage = plan.get_compute_device_usage_for_mlprogram_operation(operation)
            cost = plan.get_estimated_cost_for_mlprogram_operation(operation)
            device = None
            if usage is not None:
                device = _DEVICES.get(type(usage.preferred_compute_device).__name__)
            planned.append(
                PlannedOp(operation.operator_name, device, cost.weight if cost else None)
            )
    return planned


def _mac_model() -> str:
    done = subprocess.run(
        ["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True, check=False
    )
    return done.stdout.strip() or platform.machine()


def _milliseconds_since(start: float) -> float:
    return (time.perf_counter() - start) * 1e3


def _placement(model: Any, compute_units: str) -> tuple[str, dict[str, Any] | None]:
    """The compute plan's residency as a note and a record; the API needs macOS 14.4+."""
    try:
        summary = summarize_plan(read_compute_plan(model.get_compiled_model_path(), compute_units))
    except Exception as error:  # no plan on older macOS: the timings stand without it
        return f"no compute plan ({type(error).__name__}: {error})", None
    record = {
        "ops": summary.ops,
        "cost_share": summary.cost_share,
        "cpu_operators": summary.cpu_operators,
    }
    return summary.describe(), record


@dataclass(frozen=True)
class IOSRunner:
    """Times a .mlpackage with Core ML under each compute-unit setting, on this Mac.

    coremltools runs Core ML on the Mac it runs on, not on an attached iPhone, so results are
    `source="measured"` with the Mac named in provenance. iPhone figures need Xcode's Core ML
    performance report on the device.
    """

    units: tuple[str, ...] = COMPUTE_UNITS

    def check(self) -> None:
        if sys.platform != "darwin":
            raise PhoneUnavailable(f"Core ML runs only on macOS (this is {sys.platform})")

    def run(
        self,
        mlpackage: str | os.PathLike[str],
        inputs: Mapping[str, np.ndarray],
        *,
        runs: int = 50,
        warmup: int = 5,
        config: Mapping[str, Any] | None = None,
    ) -> list[Measurement]:
        """One measurement per compute-unit setting; raises `PhoneUnavailable` off macOS."""
        self.check()
        return [
            self._run_one(Path(mlpackage), inputs, configuration, runs, warmup, config or {})
            for configuration in coreml_configurations(self.units)
        ]

    def _run_one(
        self,
        path: Path,
        inputs: Mapping[str, np.ndarray],
        configuration: CoreMLConfiguration,
        runs: int,
        warmup: int,
        config: Mapping[str, Any],
    ) -> Measurement:
        import coremltools as ct

        from dc2kit.convert.coreml import _to_feature

        start = time.perf_counter()
        model = ct.models.MLModel(
            str(path), compute_units=getattr(ct.ComputeUnit, configuration.compute_units)
        )
        load_ms = _milliseconds_since(start)
        descriptions = model.get_spec().description.input
        missing = sorted({d.name for d in descriptions} - set(inputs))
        if missing:
            raise ValueError(f"{path}: missing inputs {missing}")
        feed = {d.name: _to_feature(d, inputs[d.name]) for d in descriptions}
        start = time.perf_counter()
        model.predict(feed)
        first_ms = _milliseconds_since(start)
        for _ in range(warmup):
            model.predict(feed)
        samples = []
        for _ in range(runs):
            start = time.perf_counter()
            model.predict(feed)
            samples.append(_milliseconds_since(start))
        placement, plan = _placement(model, configuration.compute_units)
        return Measurement(
            suite="phone",
            runtime=configuration.runtime,
            config={"model": path.name, "compute_units": configuration.compute_units, **config},
            source="measured",
            timings=summarize(samples, load_ms=load_ms, first_ms=first_ms, warmup=warmup),
            peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            / 2**20,  # bytes on macOS
            notes=(
                "Core ML on this Mac through coremltools, not on an iPhone",
                "load_ms includes compiling the .mlpackage; peak_rss_mb is the Python process",
                placement,
            ),
            provenance={**provenance(), "cpu_model": _mac_model(), "compute_plan": plan},
        )
