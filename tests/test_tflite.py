"""TFLite export: one named composite per kernel-prediction call, parity, signatures, reports.

Conversion dominates the run time (litert-torch re-traces the model several times), so two
artifacts are built once per module and shared: mobile/im2col NCHW with all outputs and
mobile/shift NHWC with the image only (the paper preset is in test_tflite_paper.py, so pytest-xdist
can run it beside these).
"""

from __future__ import annotations

import dataclasses
import inspect

import numpy as np
import pytest
import torch
from tflite_helpers import CALLS, HEIGHT, WIDTH, parity_with_torch, tflite_test_model

from dc2kit.convert import tflite
from dc2kit.convert.errors import ExportError
from dc2kit.convert.gpu_support import gpu_verdict
from dc2kit.convert.parity import GATES_DB, parity_inputs
from dc2kit.convert.residency import xnnpack_residency
from dc2kit.convert.tflite import (
    COMPOSITE_NAME,
    analyze_tflite,
    export_tflite,
    quantize_tflite,
    run_tflite,
    tflite_op_histogram,
    tflite_runner,
)
from dc2kit.convert.tflite_report import composite_label, parse_gpu_verdict, read_tflite_subgraphs
from dc2kit.convert.wrap import INPUT_NAMES, ExportWrapper, output_names

GATHER_LIKE = ("GATHER", "GATHER_ND", "SCATTER")


@pytest.fixture(scope="module")
def mobile_im2col(tmp_path_factory):
    model = tflite_test_model("mobile", "im2col")
    path = tmp_path_factory.mktemp("im2col") / "dc2_mobile.tflite"
    return model, export_tflite(model, path, outputs="all", kernel_predict="composite")


@pytest.fixture(scope="module")
def mobile_shift_nhwc(tmp_path_factory):
    model = tflite_test_model("mobile", "shift")
    path = tmp_path_factory.mktemp("shift") / "dc2_mobile_nhwc.tflite"
    return model, export_tflite(model, path, channels_last=True, kernel_predict="composite")


@pytest.mark.parametrize("artifact_fixture", ["mobile_im2col", "mobile_shift_nhwc"])
def test_each_kernel_predict_call_is_one_named_composite(artifact_fixture, request):
    _, artifact = request.getfixturevalue(artifact_fixture)
    assert artifact.composite_names == (COMPOSITE_NAME,) * CALLS
    assert artifact.op_histogram[composite_label(COMPOSITE_NAME)] == CALLS
    assert artifact.op_histogram == tflite_op_histogram(artifact.path)
    subgraphs = read_tflite_subgraphs(artifact.path)
    assert [g.name.startswith(COMPOSITE_NAME) for g in subgraphs[1:]] == [True] * CALLS
    ops = {op.name for graph in subgraphs for op in graph.ops}
    assert not [op for op in ops if op.startswith(GATHER_LIKE)]
    attributes = [op.composite_attributes for op in subgraphs[0].ops if op.composite_name]
    formulation = "im2col" if artifact_fixture == "mobile_im2col" else "shift"
    assert attributes == [{"k": 5, "formulation": formulation}] * CALLS


def test_im2col_weights_are_constants_not_runtime_ops(mobile_im2col):
    _, artifact = mobile_im2col
    decomposition = read_tflite_subgraphs(artifact.path)[1]
    ops = {op.name for op in decomposition.ops}
    assert {"DEPTHWISE_CONV_2D", "CONV_2D", "MUL"} <= ops
    assert not ops & {"STABLEHLO_IOTA", "EQUAL", "CAST", "BROADCAST_TO"}


def test_fp32_matches_pytorch_on_every_output(mobile_im2col):
    model, artifact = mobile_im2col
    report = parity_with_torch(model, artifact, "fp32")
    assert report.passed, report.reason
    assert report.min_psnr_db >= GATES_DB["fp32"]


def test_signature_exposes_named_nchw_inputs_and_all_outputs(mobile_im2col):
    _, artifact = mobile_im2col
    assert artifact.signature_name == "render"
    assert artifact.input_names == INPUT_NAMES
    assert artifact.output_names == output_names("all")
    assert len(artifact.outputs) == 21
    shapes = {spec.name: spec.shape for spec in artifact.inputs}
    assert shapes == {
        "w": (1, 3, HEIGHT, WIDTH),
        "uw": (1, 3, HEIGHT, WIDTH),
        "defocus_w": (1, 1, HEIGHT, WIDTH),
        "defocus_t": (1, 1, HEIGHT, WIDTH),
    }
    assert {spec.dtype for spec in artifact.inputs + artifact.outputs} == {"float32"}
    assert set(artifact.converter_versions) >= {"torch", "litert-torch", "ai-edge-litert"}


def test_channels_last_artifact_is_nhwc_and_matches_nchw(mobile_shift_nhwc, mobile_im2col):
    model, artifact = mobile_shift_nhwc
    assert artifact.layout == "NHWC"
    assert artifact.inputs[0].shape == (1, HEIGHT, WIDTH, 3)
    assert artifact.outputs[0].shape == (1, HEIGHT, WIDTH, 3)
    inputs = parity_inputs(model.config)["structured"]
    nhwc = run_tflite(artifact.path, {k: v.transpose(0, 2, 3, 1) for k, v in inputs.items()})
    nchw = tflite_runner(mobile_im2col[1].path)(inputs)  # same weights, other formulation
    np.testing.assert_allclose(nhwc["image"].transpose(0, 3, 1, 2), nchw["image"], atol=1e-4)
    main = read_tflite_subgraphs(artifact.path)[0]
    assert all("TRANSPOSE" not in main.producers(t) for t in main.outputs)
    report = parity_with_torch(model, artifact, "fp32")
    assert report.passed, report.reason


@pytest.mark.parametrize(("precision", "gate"), [("fp16", 45.0), ("int8", 30.0)])
def test_quantized_artifacts_keep_composites_and_parity(mobile_im2col, tmp_path, precision, gate):
    model, fp32 = mobile_im2col
    path = quantize_tflite(fp32.path, tmp_path / f"dc2_{precision}.tflite", precision)
    assert path.stat().st_size < fp32.path.stat().st_size
    histogram = tflite_op_histogram(path)
    assert histogram[composite_label(COMPOSITE_NAME)] == CALLS
    assert ("DEQUANTIZE" in histogram) == (precision == "fp16")
    artifact = dataclasses.replace(fp32, path=path, precision=precision)
    report = parity_with_torch(model, artifact, precision)
    assert report.min_psnr_db >= gate, report.reason


def test_export_precision_quantizes_the_converted_model(mobile_im2col, tmp_path, monkeypatch):
    model, fp32 = mobile_im2col
    monkeypatch.setattr(tflite, "convert_module", lambda *args: fp32.path.read_bytes())
    artifact = export_tflite(model, tmp_path / "dc2_fp16.tflite", precision="fp16", outputs="all")
    assert artifact.precision == "fp16"
    assert artifact.op_histogram["DEQUANTIZE"] > 0
    assert artifact.output_names == fp32.output_names


def test_analyzer_verdict_is_parsed(mobile_im2col):
    _, artifact = mobile_im2col
    report = analyze_tflite(artifact.path)
    assert report.gpu_compatible is not None
    assert report.gpu_verdict
    assert "Subgraph#0" in report.analyzer_text
    assert report.op_histogram == artifact.op_histogram
    assert len(report.subgraphs) == 1 + CALLS


def test_composite_artifact_is_not_gpu_delegable_and_leaves_only_composites_to_the_cpu(
    mobile_im2col,
):
    _, artifact = mobile_im2col
    subgraphs = read_tflite_subgraphs(artifact.path)
    verdict = gpu_verdict(subgraphs, analyze_tflite(artifact.path).gpu_compatible)
    assert not verdict.delegable
    assert verdict.reasons == (
        f"{CALLS}× {composite_label(COMPOSITE_NAME)}: no GPU delegate knows this composite "
        "(the TFLite GPU delegate parses no STABLEHLO_COMPOSITE; LiteRT's takes only "
        "odml.group_norm, odml.l2_norm, odml.rms_norm); export with --kernel-predict ops",
    )
    residency = xnnpack_residency(artifact.path)
    assert residency.undelegated == {composite_label(COMPOSITE_NAME): CALLS}
    assert residency.partitions > 1 and not residency.fully_accelerated


def test_gpu_verdict_parser_reads_warnings_and_silence():
    text = "Op#3 FOO\nGPU COMPATIBILITY WARNING: Not supported op FOO\n"
    assert parse_gpu_verdict(text) == (False, ("GPU COMPATIBILITY WARNING: Not supported op FOO",))
    assert parse_gpu_verdict("no check was run") == (None, ())


def _unsupported_forward(self, w, uw, defocus_w, defocus_t):
    return (torch.fft.rfft2(w).abs(),)  # litert-torch lowers only 1-D FFTs


def test_converter_crash_is_one_line_export_error_and_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(ExportWrapper, "forward", _unsupported_forward)
    path = tmp_path / "broken.tflite"
    with pytest.raises(ExportError) as caught:
        export_tflite(tflite_test_model("mobile", "shift", 16, 16), path)
    message = str(caught.value)
    assert "\n" not in message
    assert str(path) in message
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("formulation", "kwargs", "problem"),
    [
        ("shift", {"precision": "int4"}, "precision int4 is not available for tflite"),
        ("shift", {"outputs": "some"}, "unknown output set"),
        ("shift", {"kernel_predict": "inline"}, "unknown kernel-predict lowering 'inline'"),
        ("reference", {}, "'reference' cannot be exported"),
    ],
)
def test_bad_arguments_are_refused_before_converting(tmp_path, formulation, kwargs, problem):
    path = tmp_path / "dc2.tflite"
    with pytest.raises(ExportError, match=problem):
        export_tflite(tflite_test_model("mobile", formulation, 16, 16), path, **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_missing_destination_folder_is_refused(tmp_path):
    with pytest.raises(ExportError, match="does not exist"):
        export_tflite(
            tflite_test_model("mobile", "shift", 16, 16), tmp_path / "absent" / "dc2.tflite"
        )


def test_python_export_lowers_kernel_prediction_as_the_command_line_ships_it(tmp_path):
    """`export_tflite`, `ExportOptions` and `dc2kit export` share one default lowering."""
    from dc2kit.cli import build_parser
    from dc2kit.convert.export_options import ExportOptions

    args = build_parser().parse_args(
        ["export", "--target", "tflite", "--out", str(tmp_path), "--random-weights"]
    )
    python_default = inspect.signature(export_tflite).parameters["kernel_predict"].default
    assert args.kernel_predict == python_default == "ops"
    assert ExportOptions("mobile", 64, 96, "fp32").kernel_predict == python_default


def test_run_refuses_wrong_input_names(mobile_im2col):
    _, artifact = mobile_im2col
    with pytest.raises(ExportError, match="signature takes"):
        run_tflite(artifact.path, {"w": np.zeros(artifact.inputs[0].shape, np.float32)})
