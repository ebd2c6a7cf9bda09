"""The parity gate: PSNR against its formula; no NaN or inf passes on any input set or output."""

import json
import math

import numpy as np
import pytest

from dc2kit.convert.errors import ParityError
from dc2kit.convert.parity import GATES_DB, check_parity, psnr

INPUTS = {
    "random": {"x": np.linspace(-1, 1, 64, dtype=np.float32)},
    "structured": {"x": np.cos(np.linspace(0, 6, 64, dtype=np.float32))},
}


def _reference(arrays):
    x = arrays["x"]
    return {"image": x, "mask_w_8": x**2}


def _artifact(spoil=None):
    """The reference's outputs with a tiny error, and `spoil(check, outputs)` applied."""

    def run(arrays):
        outputs = {name: value + 1e-6 for name, value in _reference(arrays).items()}
        check = "random" if arrays is INPUTS["random"] else "structured"
        if spoil is not None:
            spoil(check, outputs)
        return outputs

    return run


def _report(spoil=None):
    return check_parity(_reference, _artifact(spoil), INPUTS, "test runtime", "fp32")


def test_psnr_follows_its_formula():
    reference = np.array([0.5, -2.0, 1.0, 0.0])
    output = reference + np.array([0.1, -0.1, 0.1, -0.1])
    expected = 20 * math.log10((2.0 + 1e-5) / (0.1 + 1e-10))
    assert psnr(reference, output) == pytest.approx(expected, abs=1e-9)


def test_a_close_artifact_passes():
    report = _report()
    assert report.passed, report.reason
    assert report.min_psnr_db > GATES_DB["fp32"]


def _nan_in_second_set(check, outputs):
    if check == "structured":
        outputs["image"][3] = np.nan


def _nan_in_later_output(check, outputs):
    outputs["mask_w_8"][-1] = np.nan


def _inf_in_later_output(check, outputs):
    outputs["mask_w_8"][0] = np.inf


@pytest.mark.parametrize(
    ("spoil", "where"),
    [
        (_nan_in_second_set, "image on structured"),
        (_nan_in_later_output, "mask_w_8 on random"),
        (_inf_in_later_output, "mask_w_8 on random"),
    ],
)
def test_any_non_finite_value_fails_the_gate(spoil, where):
    report = _report(spoil)
    assert not report.passed
    assert where in report.reason and "not finite" in report.reason
    assert not math.isfinite(report.min_psnr_db)
    as_json = json.loads(json.dumps(report.to_dict(), allow_nan=False))  # NaN is not JSON
    assert as_json["passed"] is False and as_json["min_psnr_db"] is None


def test_non_finite_reference_fails_the_gate_too():
    def reference(arrays):
        return {"image": np.full(4, np.nan, np.float32)}

    report = check_parity(
        reference, lambda a: {"image": np.zeros(4, np.float32)}, INPUTS, "t", "fp32"
    )
    assert not report.passed


def test_missing_or_misshapen_outputs_are_parity_errors():
    with pytest.raises(ParityError, match="lacks outputs"):
        check_parity(_reference, lambda a: {"image": a["x"]}, INPUTS, "t", "fp32")
    with pytest.raises(ParityError, match="shape"):
        check_parity(
            _reference,
            lambda a: {"image": a["x"][None], "mask_w_8": a["x"] ** 2},
            INPUTS,
            "t",
            "fp32",
        )
