"""Export with a parity gate: convert, check against PyTorch, then (and only then) publish.

An artifact is built in a staging folder beside its destination, run on the parity inputs by
its runtime (LiteRT's interpreter; Core ML's `MLModel.predict` on macOS or dc2kit's ML-program
executor elsewhere), compared with PyTorch, and moved into place with its manifest only if it
meets its precision's gate (`manifest.publish`: artifact first, manifest last). A failed gate
leaves nothing at the destination; a killed run leaves a staging folder that the next run in
that folder removes (`dc2kit.atomic`).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from dc2kit.atomic import staging_folder
from dc2kit.convert.app_export import CaseSource, check_app_artifact
from dc2kit.convert.artifact import Artifact, TensorSpec
from dc2kit.convert.errors import ExportError, ParityError, first_line
from dc2kit.convert.export_checks import check_request
from dc2kit.convert.export_options import ExportOptions, build_model, options_from_manifest
from dc2kit.convert.export_targets import EXPORT_TARGETS
from dc2kit.convert.manifest import (
    artifact_sha256,
    manifest_path,
    provenance,
    publish,
    read_manifest,
)
from dc2kit.convert.parity import (
    Arrays,
    ParityReport,
    Runner,
    check_parity,
    parity_inputs,
    torch_runner,
)
from dc2kit.convert.targets import Target
from dc2kit.convert.wrap import ExportWrapper
from dc2kit.model import DC2Net

__all__ = ["ExportOptions", "ExportResult", "VerifyResult", "export_artifact", "verify_artifact"]

Step = Callable[[str], None]


@dataclass(frozen=True)
class ExportResult:
    target: Target
    artifact: Path
    manifest: Path
    parity: ParityReport
    manifest_data: dict[str, Any]


def _guarded(run: Runner, path: Path) -> Runner:
    """A runtime's own failures on a damaged artifact (LiteRT's RuntimeError) as ExportError."""

    def guarded(arrays: Arrays) -> Arrays:
        try:
            return run(arrays)
        except ExportError:
            raise
        except (RuntimeError, ValueError, IndexError, TypeError) as error:
            raise ExportError(f"{path}: the artifact fails to run ({first_line(error)})") from error

    return guarded


def check_artifact(
    target: Target, path: Path, model: DC2Net, options: ExportOptions, shown: Path | None = None
) -> tuple[ParityReport, dict[str, float]]:
    """Parity of the artifact at `path` with `model` on the random and structured inputs.

    Errors name `shown` (the published path, for an artifact still in staging) instead of `path`.
    """
    shown = shown or path
    try:
        runner, runtime, activations = EXPORT_TARGETS[target].load(path, options)
        wrapper = ExportWrapper(model, options.outputs).eval()
        reference = torch_runner(wrapper, wrapper.output_names)
        report = check_parity(
            reference,
            _guarded(runner, path),
            parity_inputs(model.config),
            runtime,
            options.precision,
        )
    except ExportError as error:
        detail = str(error).removeprefix(f"{path}: ")
        raise type(error)(f"{shown}: {detail}") from error
    return report, activations


def _io_rows(artifact: Artifact) -> dict[str, list[dict[str, Any]]]:
    """Inputs and outputs as the artifact declares them: names, shapes, dtypes, layout, ranges."""

    def rows(specs: tuple[TensorSpec, ...]) -> list[dict[str, Any]]:
        return [asdict(spec) for spec in specs]

    return {"inputs": rows(artifact.inputs), "outputs": rows(artifact.outputs)}


def export_artifact(
    target: Target, options: ExportOptions, out_dir: Path, step: Step = lambda _: None
) -> ExportResult:
    """Convert, check parity, and publish one artifact with its manifest into `out_dir`."""
    check_request(target, options.precision, options.kernel_predict)
    exporter = EXPORT_TARGETS[target]
    if not out_dir.is_dir() or not os.access(out_dir, os.W_OK):
        raise ExportError(f"{out_dir}: output folder does not exist or cannot be written")
    model, weights = build_model(options)
    destination = out_dir / options.artifact_name(target)
    with staging_folder(out_dir, destination.name) as stage:
        staged = stage / destination.name
        step(f"{target}: converting")
        started = time.perf_counter()
        artifact = exporter.convert(model, staged, options, weights)
        convert_seconds = time.perf_counter() - started
        step(f"{target}: checking parity")
        parity, activations = check_artifact(target, staged, model, options, destination)
        if not parity.passed:
            raise ParityError(f"{destination}: {parity.reason}; nothing was written")
        step(f"{target}: writing manifest")
        manifest = {
            "artifact": destination.name,
            "target": target,
            **provenance(),
            "preset": options.preset,
            "config": json.loads(model.config.to_json()),
            "weights": weights.to_dict(),
            "precision": options.precision,
            "formulation": model.config.formulation,
            "options": options.flags(),
            **_io_rows(artifact),
            "op_histogram": artifact.op_histogram,
            "delegate_report": exporter.delegate_report(artifact),
            "parity": parity.to_dict(),
            "largest_activations": dict(
                sorted(activations.items(), key=lambda item: -item[1])[:10]
            ),
            "conversion_seconds": round(convert_seconds, 2),
            "sha256": artifact_sha256(staged),
        }
        manifest_file = publish(staged, destination, manifest)
    return ExportResult(target, destination, manifest_file, parity, manifest)


@dataclass(frozen=True)
class VerifyResult:
    artifact: Path
    sha256_matches: bool
    parity: ParityReport

    @property
    def passed(self) -> bool:
        return self.sha256_matches and self.parity.passed


def _read_manifest(artifact: Path) -> tuple[dict[str, Any], ExportOptions]:
    if not artifact.exists():
        raise ExportError(f"{artifact}: artifact not found")
    if not manifest_path(artifact).is_file():
        raise ExportError(
            f"{artifact}: no manifest beside it (an interrupted export, or not a dc2kit export); "
            "export it again"
        )
    try:
        manifest = read_manifest(artifact)
        options = options_from_manifest(manifest)
        app_io = bool(manifest["options"].get("app_io"))
        check_request(manifest["target"], options.precision, options.kernel_predict, app_io=app_io)
    except (ExportError, OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise ExportError(
            f"{manifest_path(artifact)}: not a readable dc2kit manifest ({first_line(error)})"
        ) from error
    return manifest, options


def _check(
    manifest: dict[str, Any],
    artifact: Path,
    model: DC2Net,
    options: ExportOptions,
    app_cases: CaseSource | None,
) -> ParityReport:
    """The artifact's own gate: PyTorch parity, or for an app-io artifact the render pipeline
    on the manifest's gate cases, rendered again by `app_cases` (convert/ reads no captures)."""
    target = manifest["target"]
    if not manifest["options"].get("app_io"):
        return check_artifact(target, artifact, model, options)[0]
    if app_cases is None:
        raise ExportError(
            f"{artifact}: an app-io artifact is gated against the render pipeline, and no "
            "renderer of its gate cases was given (app_cases)"
        )
    cases = app_cases(model, manifest["parity"].get("case_settings", []))
    return check_app_artifact(target, artifact, options, cases)


def verify_artifact(
    artifact: Path, step: Step = lambda _: None, app_cases: CaseSource | None = None
) -> VerifyResult:
    """Check an artifact is unchanged (sha256, first) and re-run its parity checks.

    An app-io artifact's checks are its export gate: `app_cases` renders the manifest's cases
    with the Python pipeline. An artifact its runtime cannot load or run raises an ExportError
    that also states the sha256 verdict, so a damaged file is reported as changed rather than
    only as unloadable.
    """
    manifest, options = _read_manifest(artifact)
    step("checking sha256")
    sha256_matches = artifact_sha256(artifact) == manifest.get("sha256")
    model, origin = build_model(options)
    if origin.sha256 != manifest["weights"]["sha256"]:
        raise ExportError(f"{artifact}: weights file {origin.path} changed since export")
    step("checking parity")
    try:
        parity = _check(manifest, artifact, model, options, app_cases)
    except ExportError as error:
        sha = "matches the manifest" if sha256_matches else "differs from the manifest"
        detail = str(error).removeprefix(f"{artifact}: ")
        raise ExportError(f"{artifact}: sha256 {sha}; {detail}") from error
    return VerifyResult(artifact, sha256_matches, parity)
