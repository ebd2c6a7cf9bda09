"""Android over adb: push a .tflite and LiteRT's `benchmark_model`, run it, read its log.

The exact adb command lines are a pure function (`AndroidRunner.commands`), tested without a
phone; `run` executes them and hands the log to `dc2kit.bench.phone.output`.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal, get_args

from dc2kit.bench.phone.common import (
    ANDROID_ACCELERATORS,
    BINARY,
    Accelerator,
    PhoneBenchmarkError,
    PhoneUnavailable,
)
from dc2kit.bench.phone.output import parse_benchmark_model
from dc2kit.bench.results import Measurement

Tool = Literal["tflite", "litert"]
TOOLS: tuple[str, ...] = get_args(Tool)
QNN_TFLITE_DELEGATE = "libQnnTFLiteDelegate.so"
GETPROP_KEYS = {
    "ro.product.model": "device_model",
    "ro.product.manufacturer": "manufacturer",
    "ro.soc.model": "soc_model",
    "ro.build.version.release": "android_release",
}


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
class BenchmarkRun:
    """What one `benchmark_model` run asks for.

    `npu_libraries` are the vendor libraries an NPU run loads from the device folder (QNN's
    `libQnnTFLiteDelegate.so`, `libQnnHtp*.so`, ... for the tflite tool; LiteRT's dispatch and
    compiler-plugin libraries for the litert tool). `peak_memory` samples the footprint from a
    thread every 50 ms for a true peak (the tool warns it may perturb the timings).
    """

    threads: int = 4
    accelerator: Accelerator = "gpu"
    runs: int = 50
    warmup: int = 5
    require_full_delegation: bool = True
    npu_libraries: Sequence[str | os.PathLike[str]] = ()
    peak_memory: bool = False

    def __post_init__(self) -> None:
        if self.accelerator == "npu" and not self.npu_libraries:
            raise ValueError("an NPU run needs the vendor libraries (npu_libraries=...)")


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
        settings: BenchmarkRun | None = None,
    ) -> list[list[str]]:
        """Every adb argv of one run, in order: set up the device folder, push, benchmark."""
        s = settings or BenchmarkRun()
        if self.tool == "tflite" and s.accelerator == "npu":
            names = {Path(library).name for library in s.npu_libraries}
            if QNN_TFLITE_DELEGATE not in names:
                raise ValueError(f"the tflite tool's NPU run loads {QNN_TFLITE_DELEGATE}: push it")
        device = PurePosixPath(self.device_dir)
        binary, model = device / BINARY, device / Path(tflite_path).name
        pushes = [(tflite_path, model), (benchmark_binary, binary)]
        pushes += [(library, device / Path(library).name) for library in s.npu_libraries]
        # QNN finds its HTP skeleton libraries through ADSP_LIBRARY_PATH.
        environment = (
            [f"LD_LIBRARY_PATH={device}", f"ADSP_LIBRARY_PATH={device}"]
            if s.accelerator == "npu"
            else []
        )
        benchmark = [
            *environment,
            str(binary),
            _flag("graph", model),
            _flag("num_threads", s.threads),
            *accelerator_flags(self.tool, s.accelerator, str(device), s.require_full_delegation),
            _flag("num_runs", s.runs),
            _flag("warmup_runs", s.warmup),
            *([_flag("report_peak_memory_footprint", True)] if s.peak_memory else []),
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
        settings: BenchmarkRun | None = None,
        *,
        config: Mapping[str, Any] | None = None,
        timeout_s: float = 900.0,
    ) -> Measurement:
        """Benchmark on the attached phone; raises `PhoneUnavailable` when there is none."""
        s = settings or BenchmarkRun()
        self.check()
        *setup, benchmark = self.commands(tflite_path, benchmark_binary, s)
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
            "threads": s.threads,
            "require_full_delegation": s.require_full_delegation,
            **(config or {}),
        }
        return parse_benchmark_model(
            done.stdout,
            accelerator=s.accelerator,
            require_full_delegation=s.require_full_delegation,
            config=described,
            device=device,
            command=benchmark,
            returncode=done.returncode,
        )
