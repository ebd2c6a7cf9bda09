"""Every runtime `dc2kit bench` knows, by name: this machine's and the attached phone's."""

from __future__ import annotations

from dc2kit.bench.phone.runtime import ANDROID_RUNTIMES
from dc2kit.bench.runtimes import HOST_RUNTIMES, Runtime

RUNTIMES: dict[str, Runtime] = {
    runtime.name: runtime for runtime in (*HOST_RUNTIMES, *ANDROID_RUNTIMES)
}
