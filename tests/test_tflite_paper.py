"""TFLite export of the paper preset (64×64): composites and parity, in a file of its own so
pytest-xdist converts it beside the mobile artifacts of test_tflite.py."""

import pytest
from tflite_helpers import CALLS, parity_with_torch, tflite_test_model

from dc2kit.convert.tflite import COMPOSITE_NAME, export_tflite


@pytest.fixture(scope="module")
def paper(tmp_path_factory):
    model = tflite_test_model("paper", "im2col", 64, 64)
    path = tmp_path_factory.mktemp("paper") / "dc2_paper.tflite"
    return model, export_tflite(model, path, kernel_predict="composite")


def test_paper_preset_matches_pytorch(paper):
    model, artifact = paper
    assert artifact.composite_names == (COMPOSITE_NAME,) * CALLS
    report = parity_with_torch(model, artifact, "fp32")
    assert report.passed, report.reason
