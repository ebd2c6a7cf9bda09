"""`export --app-io`: convert the app-io graph, gate it against the render pipeline, publish it.

The gate's cases come from the caller (`render.app_case`: tiles of a real capture and the
pipeline's 8-bit renders), since convert/ reads no captures. Both sides are 8-bit images, so the
gate compares what a phone shows. Targets are a registry (`APP_IO_TARGETS`); the manifest holds
the app contract (`contract`) that `dc2kit contract` prints.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dc2kit.atomic import staging_folder
from dc2kit.convert.app_io import GRAPH_DOES, AppInputs, contract_rows
from dc2kit.convert.errors import ExportError, ParityError
from dc2kit.convert.export_checks import check_request
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
    """One gate case: the app's inputs, the pipeline's expected 8-bit output (H, W, 3), and the
    settings it was rendered with (kept in the manifest, so `verify` can render it again)."""

    name: str
    inputs: AppInputs
    expected: np.ndarray
    settings: dict[str, Any] = field(default_factory=dict)


CaseSource = Callable[[DC2Net, Sequence[dict[str, Any]]], Sequence[AppCaseFeed]]


@dataclass(frozen=True)
class AppIOTarget:
    """One target's app-io converter, how an app packs its inputs, its runner here (fed what
    `pack` gives, precision-aware), the settings an app must use, and the phone the latency
    estimate is for (a `dc2kit.bench.estimate` accelerator key)."""

    convert: Callable[[DC2Net, Path, ExportOptions, WeightsOrigin], None]
    pack: Callable[[AppInputs], Feeds]
    load: Callable[[Path, str], tuple[AppRunner, str]]  # the runner and its runtime's name
    layout: str
    settings: tuple[str, ...]
    estimate_device: str


def _convert_tflite(
    model: DC2Net, path: Path, options: ExportOptions, weights: WeightsOrigin
) -> None:
    from dc2kit.convert.app_io_tflite import export_app_tflite

    export_app_tflite(model, path, options.precision, weights, options.kernel_predict)


def _load_tflite(path: Path, _precision: str) -> tuple[AppRunner, str]:
    from dc2kit.convert.app_io_tflite import app_tflite_runner

    return app_tflite_runner(path), "LiteRT interpreter"


def _convert_coreml(
    model: DC2Net, path: Path, options: ExportOptions, weights: WeightsOrigin
) -> None:
    from dc2kit.convert.app_io_coreml import export_app_coreml

    export_app_coreml(model, path, options.precision, weights)


def _load_coreml(path: Path, precision: str) -> tuple[AppRunner, str]:
    from dc2kit.convert.app_io_coreml import app_coreml_runner

    return app_coreml_runner(path, precision)


APP_IO_TARGETS: dict[str, AppIOTarget] = {
    "coreml": AppIOTarget(
        _convert_coreml,
        AppInputs.pixel_buffers,
        _load_coreml,
        "image types (program NCHW)",
        (
            "w, uw: CVPixelBuffer of the tile, kCVPixelFormatType_32BGRA (or 32ARGB), sRGB; Core "
            "ML hands the program RGB 0–255 and the program applies scale 1/127.5, bias −1",
            "disparity: CVPixelBuffer kCVPixelFormatType_OneComponent16Half (half floats; "
            "AVDepthData converted to kCVPixelFormatType_DisparityFloat16 has the same bytes)",
            "scalars: MLMultiArray shape [1], Float32",
            "output image: an RGB image (CVPixelBuffer, 32BGRA) holding whole 0–255 values",
            "MLModelConfiguration.computeUnits = .all (CPU, GPU, Neural Engine); load one "
            "MLModel per tile size and reuse it for every tile",
            "the fp16 program computes in fp16, the defocus maps and the radial mask included "
            "(the mask is computed in units of the frame's long side, so no square overflows)",
        ),
        "a16-ne",
    ),
    "tflite": AppIOTarget(
        _convert_tflite,
        lambda inputs: inputs.feeds("NHWC"),
        _load_tflite,
        "NHWC",
        (
            "signature 'render'; uint8 NHWC images, float32 disparity (1, H, W, 1), float32 "
            "scalars of shape (1,)",
            "CPU (XNNPACK): for full-resolution work set XNNPACK's "
            "TFLITE_XNNPACK_DELEGATE_FLAG_TRANSIENT_INDIRECTION_BUFFER (0x20, or-ed with the "
            "default QS8|QU8 flags = 0x23) in CpuOptions.xnnpack_flags: less resident memory, "
            "slightly slower",
            "build one interpreter per tile size and reuse it for every tile",
        ),
        "sd8gen2-npu",
    ),
}


def _gate(
    chosen: AppIOTarget, path: Path, cases: Sequence[AppCaseFeed], precision: str
) -> ParityReport:
    """The artifact's 8-bit output against the pipeline's 8-bit render, per case."""
    run, runtime = chosen.load(path, precision)
    checks = []
    for case in cases:
        output = run(chosen.pack(case.inputs))["image"][0].astype(np.float32)
        expected = {"image": case.expected.astype(np.float32)}
        checks.append(compare_outputs(case.name, expected, {"image": output}))
    return ParityReport(runtime, precision, GATES_DB[precision], tuple(checks))


def check_app_artifact(
    target: str, path: Path, options: ExportOptions, cases: Sequence[AppCaseFeed]
) -> ParityReport:
    """The gate again, on a published artifact (`verify`): the same cases, the same runner."""
    for case in cases:
        case.inputs.check((options.height, options.width), case.name)
    return _gate(app_io_target(target), path, cases, options.precision)


def app_io_target(target: str) -> AppIOTarget:
    if target not in APP_IO_TARGETS:
        raise ExportError(
            f"--app-io is built for {', '.join(APP_IO_TARGETS)} only so far, not {target}"
        )
    return APP_IO_TARGETS[target]


def contract_section(
    options: ExportOptions, target: str, latency: dict[str, Any] | None = None
) -> dict[str, Any]:
    """What the manifest tells an app (printed by `dc2kit contract`); `latency`: the caller's
    phone estimate for `estimate_device` (convert/ does not run benchmarks)."""
    chosen = APP_IO_TARGETS[target]
    return {
        "tile": {"height": options.height, "width": options.width},
        "layout": chosen.layout,
        **contract_rows(),
        "graph_does": list(GRAPH_DOES),
        "app_must_do": list(APP_MUST_DO),
        "runtime_settings": list(chosen.settings),
        "latency_estimate": latency,
    }


def export_app_io(
    target: str,
    options: ExportOptions,
    out_dir: Path,
    cases: Sequence[AppCaseFeed],
    step: Step = lambda _: None,
    latency: dict[str, Any] | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Convert, gate on `cases` against the pipeline, publish artifact then manifest (holding
    `latency`, the phone estimate, in its contract)."""
    check_request(target, options.precision, options.kernel_predict, app_io=True)
    chosen = app_io_target(target)
    tile = (options.height, options.width)
    for case in cases:
        case.inputs.check(tile, case.name)
    model, weights = build_model(options)
    destination = out_dir / options.artifact_name(target).replace("dc2_", "dc2app_", 1)
    with staging_folder(out_dir, destination.name) as stage:
        staged = stage / destination.name
        step(f"{target}: converting the app-io graph")
        chosen.convert(model, staged, options, weights)
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
            "contract": contract_section(options, target, latency),
            "parity": {
                **parity.to_dict(),
                "cases": [case.name for case in cases],
                "case_settings": [case.settings for case in cases],
            },
            "sha256": artifact_sha256(staged),
        }
        manifest_file = publish(staged, destination, manifest)
    return manifest_file, manifest
