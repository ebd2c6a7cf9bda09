"""What the phone runners share: their errors, and the accelerators an Android run can ask for."""

from __future__ import annotations

from typing import Literal, get_args

from dc2kit.errors import Dc2kitError

Accelerator = Literal["cpu", "gpu", "npu"]
ANDROID_ACCELERATORS: tuple[str, ...] = get_args(Accelerator)
BINARY = "benchmark_model"  # LiteRT's benchmark tool, on the phone


class PhoneUnavailable(Dc2kitError, RuntimeError):  # noqa: N818  (a condition to skip on, not a failure)
    """The run cannot happen here (no adb, no device, not macOS); `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PhoneBenchmarkError(Dc2kitError, RuntimeError):
    """The tool ran on the phone and failed, or printed nothing this module can read."""


class DelegationError(PhoneBenchmarkError):
    """The requested accelerator did not run the whole graph: the numbers would be mislabelled."""
