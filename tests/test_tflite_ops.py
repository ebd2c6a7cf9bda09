"""`export --kernel-predict ops`: the mobile preset as plain ops, fully delegated to XNNPACK.

One export through the whole gate (convert, parity on the shipped weights, publish) is shared by
the module; conversion dominates its time. The composite artifact's verdicts are checked in
test_tflite.py on the artifacts it already builds.
"""

from __future__ import annotations

import pytest

from dc2kit.cli import main
from dc2kit.convert.export import export_artifact
from dc2kit.convert.export_options import ExportOptions, options_from_manifest
from dc2kit.convert.manifest import read_manifest
from dc2kit.convert.residency import xnnpack_residency
from dc2kit.convert.tflite_report import COMPOSITE_OP, read_tflite_subgraphs

HEIGHT, WIDTH = 64, 64
GATHER_LIKE = ("GATHER", "GATHER_ND", "SCATTER_ND")


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    options = ExportOptions("mobile", HEIGHT, WIDTH, "fp32", kernel_predict="ops")
    return export_artifact("tflite", options, tmp_path_factory.mktemp("ops"), lambda _: None)


def test_ops_artifact_is_one_xnnpack_partition_by_litert(published):
    residency = xnnpack_residency(published.artifact)
    assert residency.partitions == 1
    assert residency.undelegated_ops == 0 and residency.undelegated == {}
    assert residency.fully_accelerated  # LiteRT CompiledModel.is_fully_accelerated()
    assert residency.delegated_ops == len(read_tflite_subgraphs(published.artifact)[0].ops)


def test_ops_artifact_has_no_composite_gather_or_high_rank_tensor(published):
    subgraphs = read_tflite_subgraphs(published.artifact)
    assert len(subgraphs) == 1  # no decomposition subgraphs
    labels = {op.name for op in subgraphs[0].ops}
    assert not [label for label in labels if label.startswith(COMPOSITE_OP)]
    assert not labels & set(GATHER_LIKE)
    assert subgraphs[0].max_rank <= 4
    assert {"SLICE", "MUL", "ADD", "CONCATENATION"} <= labels  # the shift formulation inlined


def test_ops_artifact_passed_parity_and_its_manifest_carries_residency_and_gpu_verdict(published):
    assert published.parity.passed
    manifest = read_manifest(published.artifact)
    assert manifest["options"]["kernel_predict"] == "ops"
    report = manifest["delegate_report"]
    assert report["xnnpack_residency"] == xnnpack_residency(published.artifact).to_dict()
    assert report["gpu_delegable"] is True
    assert report["gpu_verdict"]["summary"].startswith("GPU-delegable")
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
