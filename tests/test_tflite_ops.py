"""The default TFLite lowering (`--kernel-predict ops`): the mobile preset as plain ops, fully
delegated to XNNPACK.

The fp32 artifact (and the fp16, int8 and w8a8 ones quantized from it) is the session's one CLI
export (conftest's `mobile_tflite_cli`: convert, parity, publish); conversion dominates the time.
The composite artifact's verdicts are checked in test_tflite.py on the artifacts it builds.
"""

from __future__ import annotations

import json

import pytest
from conftest import MOBILE_TFLITE_SIZE

from dc2kit.calibration import calibration_set
from dc2kit.cli import main
from dc2kit.convert.export_options import options_from_manifest
from dc2kit.convert.manifest import read_manifest
from dc2kit.convert.residency import xnnpack_residency
from dc2kit.convert.tflite import quantize_tflite
from dc2kit.convert.tflite_report import COMPOSITE_OP, read_tflite_subgraphs

GATHER_LIKE = ("GATHER", "GATHER_ND", "SCATTER_ND")


@pytest.fixture(scope="module")
def published(mobile_tflite_cli):
    """The default export's artifact path and its JSON report."""
    assert mobile_tflite_cli.returncode == 0, mobile_tflite_cli.stderr
    (report,) = json.loads(mobile_tflite_cli.stdout)["artifacts"]
    return mobile_tflite_cli.out / report["artifact"], report


def test_ops_artifact_is_one_xnnpack_partition_by_litert(published):
    residency = xnnpack_residency(published[0])
    assert residency.partitions == 1
    assert residency.undelegated_ops == 0 and residency.undelegated == {}
    assert residency.fully_accelerated  # LiteRT CompiledModel.is_fully_accelerated()
    assert residency.delegated_ops == len(read_tflite_subgraphs(published[0])[0].ops)


@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_quantized_ops_artifacts_stay_one_xnnpack_partition(published, tmp_path, precision):
    """fp16 weights (DEQUANTIZE at load) and int8 dynamic-range weights keep full delegation."""
    quantized = quantize_tflite(published[0], tmp_path / f"{precision}.tflite", precision)
    residency = xnnpack_residency(quantized)
    assert (residency.partitions, residency.undelegated) == (1, {})
    assert residency.fully_accelerated
    assert quantized.stat().st_size < 0.8 * published[0].stat().st_size  # 2- or 1-byte weights


def test_the_w8a8_ops_artifact_is_one_complete_xnnpack_partition(published, tmp_path):
    """Full-integer on the real mobile graph: calibrated on dc2kit's own set (data engine scenes
    and the sample captures at the export size), every op still in XNNPACK's one partition."""
    height, width = MOBILE_TFLITE_SIZE
    calibration = calibration_set(height, width, synthetic=2)
    w8a8 = quantize_tflite(published[0], tmp_path / "w8a8.tflite", "w8a8", calibration)
    residency = xnnpack_residency(w8a8)
    assert residency.complete, residency  # one partition, nothing left out, fully accelerated
    assert residency.delegated_ops == len(read_tflite_subgraphs(w8a8)[0].ops)


def test_ops_artifact_has_no_composite_gather_or_high_rank_tensor(published):
    subgraphs = read_tflite_subgraphs(published[0])
    assert len(subgraphs) == 1  # no decomposition subgraphs
    labels = {op.name for op in subgraphs[0].ops}
    assert not [label for label in labels if label.startswith(COMPOSITE_OP)]
    assert not labels & set(GATHER_LIKE)
    assert subgraphs[0].max_rank <= 4
    assert {"SLICE", "MUL", "ADD", "CONCATENATION"} <= labels  # the shift formulation inlined


def test_ops_artifact_passed_parity_and_its_manifest_carries_residency_and_gpu_verdict(published):
    artifact, report = published
    assert report["parity"]["passed"]
    manifest = read_manifest(artifact)
    assert manifest["options"]["kernel_predict"] == "ops"
    delegates = manifest["delegate_report"]
    assert delegates["xnnpack_residency"] == xnnpack_residency(artifact).to_dict()
    assert delegates["xnnpack_residency"]["fully_accelerated"] is True
    assert delegates["gpu_delegable"] is True
    assert delegates["gpu_verdict"]["summary"].startswith("GPU-delegable")
    assert options_from_manifest(manifest).kernel_predict == "ops"


def test_an_unknown_kernel_predict_value_is_one_line_and_publishes_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["export", "--target", "tflite", "--kernel-predict", "inline", "--out", str(out)])
    assert code != 0
    message = capsys.readouterr().err.strip().splitlines()
    assert len(message) == 1
    assert "--kernel-predict" in message[0] and "'inline'" in message[0]
    assert "Traceback" not in "\n".join(message)
    assert not out.exists()
