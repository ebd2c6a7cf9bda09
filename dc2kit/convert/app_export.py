"""`export --app-io`: convert the app-io graph, gate it against the render pipeline, publish it.

The gate's cases come from the caller (`render.app_case`: tiles of a real capture and the
pipeline's 8-bit renders), since convert/ reads no captures. Both sides are 8-bit images, so the
gate compares what a phone shows. Targets are a registry (`APP_IO_TARGETS`); the manifest holds
the app contract (`contract`) that `dc2kit contract` prints.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dc2kit.atomic import staging_folder
from dc2kit.convert.app_io import GRAPH_DOES, AppInputs, contract_rows
from dc2kit.convert.errors import ExportError, ParityError
from dc2kit.convert.export_options import ExportOptions, build_model
from dc2kit.convert.manifest import artifact_sha256, provenance, publish
from dc2kit.convert.parity import ParityReport, compare_outputs
from dc2kit.convert.targets import GATES_DB
from dc2kit.model import DC2Net
from dc2kit.model.builder import WeightsOrigin

Step = Callable[[str], None]
Feeds = dict[str, np.ndarray]
AppRunner = Callable[[Feeds], dict[str, np.ndarray]]

APP_MUST_DO = (
    "turn the photo and depth to the displayed orientation (EXIF/irot) before anything else",
    "align UW onto W as dc2kit.capture.align.align_uw_to_w does, on the full frames: a global "
    "pre-alignment (a centre scale from the focal-length ratio when known, else an ORB "
    "homography: 5000 features on copies at most 1280 px wide, Lowe ratio 0.8, RANSAC at 3 px), "
    "then the residual by DIS optical flow (OpenCV MEDIUM preset) W → UW and back, a "
    "forward-backward occlusion check grown by 2 px, and a bilinear remap; pixels UW cannot see "
    "take W's colour; without a UW photo pass W as uw",
    "resize W, UW and disparity to the frame size with an area filter and centre-crop to "
    "multiples of 8; fill disparity holes with the nearest valid value",
    "cut the frame into tiles of the artifact's size (dc2kit.render.tiles: origins on the "
    "8-pixel grid, overlapping by about a quarter) and blend the outputs with raised-cosine "
    "weights; give each tile its tile_top/tile_left and the frame's size",
    "K (blur_strength) is in pixels of the frame the tiles come from: scale it with the frame",
)


@dataclass(frozen=True)
class AppCaseFeed:
    """One gate case: the app's inputs and the pipeline's expected 8-bit output (H, W, 3)."""

    name: str
    inputs: AppInputs
    expected: np.ndarray


@dataclass(frozen=True)
class AppIOTarget:
    """One target's app-io converter, its runner here, layout and the settings an app must use."""

    convert: Callable[[DC2Net, Path, str, WeightsOrigin], None]
    load: Callable[[Path], AppRunner]
    layout: str
    runtime: str
    settings: tuple[str, ...]


def _convert_tflite(model: DC2Net, path: Path, precision: str, weights: WeightsOrigin) -> None:
    from dc2kit.convert.app_io_tflite import export_app_tflite

    export_app_tflite(model, path, precision, weights)


def _load_tflite(path: Path) -> AppRunner:
    from dc2kit.convert.app_io_tflite import app_tflite_runner

    return app_tflite_runner(path)


APP_IO_TARGETS: dict[str, AppIOTarget] = {
    "tflite": AppIOTarget(
        _convert_tflite,
        _load_tflite,
        "NHWC",
        "LiteRT interpreter",
        (
            "signature 'render'; uint8 NHWC images, float32 disparity (1, H, W, 1), float32 "
            "scalars of shape (1,)",
            "CPU (XNNPACK): for full-resolution work set XNNPACK's "
            "TFLITE_XNNPACK_DELEGATE_FLAG_TRANSIENT_INDIRECTION_BUFFER (0x20, or-ed with the "
            "default QS8|QU8 flags = 0x23) in CpuOptions.xnnpack_flags: less resident memory, "
            "slightly slower",
            "build one interpreter per tile size and reuse it for every tile",
        ),
    ),
}


def _gate(
    chosen: AppIOTarget, path: Path, cases: Sequence[AppCaseFeed], precision: str
) -> ParityReport:
    """The artifact's 8-bit output against the pipeline's 8-bit render, per case."""
    run = chosen.load(path)
    checks = []
    for case in cases:
        output = run(case.inputs.feeds(chosen.layout))["image"][0].astype(np.float32)
        expected = {"image": case.expected.astype(np.float32)}
        checks.append(compare_outputs(case.name, expected, {"image": output}))
    return ParityReport(chosen.runtime, precision, GATES_DB[precision], tuple(checks))


def app_io_target(target: str) -> AppIOTarget:
    if target not in APP_IO_TARGETS:
        raise ExportError(
            f"--app-io is built for {', '.join(APP_IO_TARGETS)} only so far, not {target}"
        )
    return APP_IO_TARGETS[target]


def contract_section(options: ExportOptions, target: str) -> dict[str, Any]:
    """What the manifest tells an app (printed by `dc2kit contract`)."""
    chosen = APP_IO_TARGETS[target]
    return {
        "tile": {"height": options.height, "width": options.width},
        "layout": chosen.layout,
        **contract_rows(),
        "graph_does": list(GRAPH_DOES),
        "app_must_do": list(APP_MUST_DO),
        "runtime_settings": list(chosen.settings),
    }


def export_app_io(
    target: str,
    options: ExportOptions,
    out_dir: Path,
    cases: Sequence[AppCaseFeed],
    step: Step = lambda _: None,
) -> tuple[Path, dict[str, Any]]:
    """Convert, gate on `cases` against the pipeline, publish artifact then manifest."""
    chosen = app_io_target(target)
    tile = (options.height, options.width)
    for case in cases:
        case.inputs.check(tile, case.name)
    model, weights = build_model(options)
    destination = out_dir / options.artifact_name(target).replace("dc2_", "dc2app_", 1)
    with staging_folder(out_dir, destination.name) as stage:
        staged = stage / destination.name
        step(f"{target}: converting the app-io graph")
        chosen.convert(model, staged, options.precision, weights)
        step(f"{target}: checking parity with the render pipeline")
        parity = _gate(chosen, staged, cases, options.precision)
        if not parity.passed:
            raise ParityError(f"{destination}: {parity.reason}; nothing was written")
        manifest = {
            "artifact": destination.name,
            "target": target,
            **provenance(),
            "preset": options.preset,
            "config": {"height": options.height, "width": options.width},
            "weights": weights.to_dict(),
            "precision": options.precision,
            "formulation": options.formulation,
            "options": {**options.flags(), "app_io": True},
            "contract": contract_section(options, target),
            "parity": {**parity.to_dict(), "cases": [case.name for case in cases]},
            "sha256": artifact_sha256(staged),
        }
        manifest_file = publish(staged, destination, manifest)
    return manifest_file, manifest
