"""Phone runners: Android over adb with LiteRT's `benchmark_model`, Core ML through coremltools.

Modules: `android` (the adb runner), `log` (reading the tool's log), `output` (the log as a
result, refused where delegation fell short), `coreml` (the Core ML runner and compute-plan
summary), `common` (their errors and accelerator names).

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

from dc2kit.bench.phone.android import (
    TOOLS,
    AndroidRunner,
    BenchmarkRun,
    parse_adb_devices,
    parse_getprop,
)
from dc2kit.bench.phone.common import (
    ANDROID_ACCELERATORS,
    Accelerator,
    DelegationError,
    PhoneBenchmarkError,
    PhoneUnavailable,
)
from dc2kit.bench.phone.coreml import (
    COMPUTE_UNITS,
    IOSRunner,
    PlannedOp,
    coreml_configurations,
    summarize_plan,
)
from dc2kit.bench.phone.log import read_benchmark_output
from dc2kit.bench.phone.output import parse_benchmark_model

__all__ = [
    "ANDROID_ACCELERATORS",
    "COMPUTE_UNITS",
    "TOOLS",
    "Accelerator",
    "AndroidRunner",
    "BenchmarkRun",
    "DelegationError",
    "IOSRunner",
    "PhoneBenchmarkError",
    "PhoneUnavailable",
    "PlannedOp",
    "coreml_configurations",
    "parse_adb_devices",
    "parse_benchmark_model",
    "parse_getprop",
    "read_benchmark_output",
    "summarize_plan",
]
