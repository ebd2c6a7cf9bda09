"""Every runtime `dc2kit bench` knows, by name: this machine's and the attached phone's."""

from __future__ import annotations

from dc2kit.bench.coreml_runtime import COREML_RUNTIMES
from dc2kit.bench.phone.runtime import ANDROID_RUNTIMES
from dc2kit.bench.runtimes import Runtime, TorchRuntime
from dc2kit.bench.tflite_runtimes import TFLITE_RUNTIMES

RUNTIMES: dict[str, Runtime] = {
    runtime.name: runtime
    for runtime in (TorchRuntime(), *TFLITE_RUNTIMES, *COREML_RUNTIMES, *ANDROID_RUNTIMES)
}
