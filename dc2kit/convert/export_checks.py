"""Every refusal of an export request, defined once and torch-free.

The command line runs `check_request` before it builds a model, a calibration set or an output
folder, so a refused request fails at once and leaves nothing; the exporters run the same checks
for Python callers, naming their destination (`subject`).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import NoReturn

from dc2kit.convert.errors import ExportError
from dc2kit.convert.targets import (
    APP_IO_PRECISIONS,
    KERNEL_PREDICT_LOWERINGS,
    OUTPUT_SETS,
    PRECISIONS,
    TARGETS,
    W8A8_KERNEL_PREDICT,
)


def _refuse(subject: object, message: str) -> NoReturn:
    raise ExportError(message if subject is None else f"{subject}: {message}")


def _choices(values: Iterable[str]) -> str:
    return f"(choose from {', '.join(values)})"


def check_destination_folder(path: Path) -> None:
    """Refuse an artifact path whose folder is missing (nothing is made on the caller's behalf)."""
    if not path.parent.is_dir():
        _refuse(path, f"destination folder {path.parent} does not exist")


def check_precision(
    target: str, precision: str, *, app_io: bool = False, subject: object = None
) -> None:
    """Refuse a precision `target` lacks (with `app_io`, one its app-io graph lacks)."""
    allowed = (APP_IO_PRECISIONS if app_io else PRECISIONS)[target]
    if precision not in allowed:
        where = f"{target} with --app-io" if app_io else target
        _refuse(subject, f"precision {precision} is not available for {where} {_choices(allowed)}")


def check_outputs(outputs: str, *, subject: object = None) -> None:
    """Refuse an output set the exporters do not know."""
    if outputs not in OUTPUT_SETS:
        _refuse(subject, f"unknown output set {outputs!r} for --outputs {_choices(OUTPUT_SETS)}")


def check_lowering(precision: str, kernel_predict: str, *, subject: object = None) -> None:
    """Refuse an unknown kernel-prediction lowering, or w8a8 with one it cannot quantize."""
    if kernel_predict not in KERNEL_PREDICT_LOWERINGS:
        _refuse(
            subject,
            f"unknown kernel-predict lowering {kernel_predict!r} "
            f"{_choices(KERNEL_PREDICT_LOWERINGS)}",
        )
    if precision == "w8a8" and kernel_predict != W8A8_KERNEL_PREDICT:
        _refuse(
            subject,
            f"w8a8 needs --kernel-predict {W8A8_KERNEL_PREDICT}: a {kernel_predict} kernel "
            "prediction can be neither quantized nor delegated to XNNPACK",
        )


def check_request(
    target: str, precision: str, kernel_predict: str, *, app_io: bool = False
) -> None:
    """Every refusal of one export request: an unknown target, a precision it lacks, an unknown
    or unquantizable lowering."""
    if target not in TARGETS:
        _refuse(None, f"unknown target {target!r} {_choices(TARGETS)}")
    check_precision(target, precision, app_io=app_io)
    check_lowering(precision, kernel_predict)
