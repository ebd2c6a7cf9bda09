"""Export refusals come first: a refused request loads no model, builds no calibration set and
makes no folder; an unusable calibration set is refused before the minute-long conversion."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from tflite_helpers import tflite_test_model

from dc2kit.cli import main
from dc2kit.convert import tflite
from dc2kit.convert.errors import ExportError
from dc2kit.convert.export import ExportOptions, export_artifact
from dc2kit.convert.export_checks import (
    check_lowering,
    check_outputs,
    check_precision,
    check_request,
)
from dc2kit.convert.quantize import CalibrationError, CalibrationSet
from dc2kit.convert.wrap import INPUT_NAMES
from dc2kit.model.builder import WeightsChoice

SIZE = (16, 16)  # height, width

REFUSED = [
    (
        ["--target", "coreml", "--precision", "w8a8"],
        "precision w8a8 is not available for coreml (choose from fp32, fp16)",
    ),
    (
        ["--target", "all", "--precision", "int8"],
        "precision int8 is not available for coreml (choose from fp32, fp16)",
    ),
    (
        ["--target", "tflite", "--precision", "w8a8", "--kernel-predict", "composite"],
        "w8a8 needs --kernel-predict ops: a composite kernel prediction can be neither "
        "quantized nor delegated to XNNPACK",
    ),
    (
        ["--target", "tflite", "--precision", "w8a8", "--app-io"],
        "precision w8a8 is not available for tflite with --app-io (choose from fp32, fp16, int8)",
    ),
]

# Runs each refused command line in a fresh interpreter and reports what it left loaded: torch
# is what a model, a calibration set and every converter need, so not loading it shows none ran.
PROBE = """
import io, json, sys
from contextlib import redirect_stderr
from dc2kit.cli import main
results = []
for argv in json.loads(sys.argv[1]):
    err = io.StringIO()
    with redirect_stderr(err):
        code = main(argv)
    results.append({"code": code, "err": err.getvalue(), "torch": "torch" in sys.modules})
print(json.dumps(results))
"""


def test_refused_requests_load_nothing_and_make_no_folder(tmp_path):
    out = tmp_path / "out"
    argvs = [["export", *argv, "--random-weights", "--out", str(out)] for argv, _ in REFUSED]
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(argvs)],
        capture_output=True,
        text=True,
        check=True,
    )
    results = json.loads(probe.stdout)
    for (_, message), result in zip(REFUSED, results, strict=True):
        assert result == {"code": 1, "err": f"dc2kit: error: {message}\n", "torch": False}
    assert list(tmp_path.iterdir()) == []


def test_each_check_names_the_problem():
    with pytest.raises(ExportError, match=r"^unknown target 'onnx' \(choose from coreml, tflite\)"):
        check_request("onnx", "fp32", "ops")
    with pytest.raises(ExportError, match=r"^a\.tflite: precision int4 is not available for tfl"):
        check_precision("tflite", "int4", subject="a.tflite")
    with pytest.raises(ExportError, match=r"^unknown output set 'some' for --outputs \(choose"):
        check_outputs("some")
    with pytest.raises(ExportError, match=r"^unknown kernel-predict lowering 'inline'"):
        check_lowering("fp32", "inline")
    with pytest.raises(ExportError, match=r"^w8a8 needs --kernel-predict ops: a composite"):
        check_lowering("w8a8", "composite")
    check_lowering("w8a8", "ops")
    check_lowering("int8", "composite")  # only w8a8 needs plain ops
    check_request("tflite", "int8", "composite", app_io=True)
    check_request("coreml", "fp16", "composite")  # Core ML has no lowering choice to refuse


GATE_CASE_FLAGS = [
    (["--frame-side", "-5"], "argument --frame-side: must be in [0, 16384], got -5"),
    (["--blur-px", "nan"], "argument --blur-px: must be a finite number in [0, 256], got nan"),
    (["--w-blur-px", "1e6"], "argument --w-blur-px: must be a finite number in [0, 256], got 1e6"),
]


@pytest.mark.parametrize(("flags", "message"), GATE_CASE_FLAGS)
def test_gate_case_numbers_are_refused_at_parse_time(tmp_path, capsys, flags, message):
    out = tmp_path / "out"
    assert main(["export", "--target", "tflite", "--app-io", *flags, "--out", str(out)]) == 1
    assert capsys.readouterr().err == f"dc2kit: error: {message} (see dc2kit export --help)\n"
    assert not out.exists()


def test_a_gate_tile_outside_the_frame_is_one_line_and_makes_no_folder(tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["export", "--target", "coreml", "--app-io", "--random-weights", "--size", "64x64"]
    assert main([*argv, "--tile-index", "99", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert (
        err.startswith("dc2kit: error: tile index 99 is outside the frame's ")
        and err.count("\n") == 1
    )
    assert not out.exists()


@pytest.fixture
def no_conversion(monkeypatch):
    """A tripwire in place of litert-torch's conversion: the refusals under test come first, so
    it never fires (if it did, the refusal would arrive as a conversion failure instead)."""

    def converted(*_args, **_kwargs):
        raise AssertionError("converted before the calibration set was checked")

    monkeypatch.setattr(tflite, "convert_module", converted)


def _calibration(fill) -> CalibrationSet:
    """Two samples of the model's four inputs, each array made by `fill(shape, sample index)`."""
    shape = (1, 3, *SIZE)
    shapes = {"w": shape, "uw": shape, "defocus_w": (1, 1, *SIZE), "defocus_t": (1, 1, *SIZE)}
    assert tuple(shapes) == INPUT_NAMES
    return CalibrationSet(
        tuple({name: fill(s, i).astype(np.float32) for name, s in shapes.items()} for i in (0, 1))
    )


def _nan_in_second(shape, index):
    values = np.random.default_rng(index).uniform(-1, 1, shape)
    values.flat[-1] = np.nan if index == 1 else values.flat[-1]
    return values


@pytest.mark.parametrize(
    ("fill", "message"),
    [
        (_nan_in_second, "calibration sample 1: w holds NaN or inf"),
        (lambda shape, _: np.full(shape, 0.5), "calibration input w is 0.5 everywhere"),
    ],
)
def test_an_unusable_calibration_set_is_refused_before_converting(
    no_conversion, tmp_path, fill, message
):
    model = tflite_test_model("mobile", "shift", *SIZE)
    path = tmp_path / "dc2.tflite"
    with pytest.raises(CalibrationError) as caught:
        tflite.export_tflite(model, path, precision="w8a8", calibration=_calibration(fill))
    assert str(caught.value).startswith(f"{path}: {message}")
    assert list(tmp_path.iterdir()) == []


def test_w8a8_without_a_calibration_set_is_refused_before_converting(no_conversion, tmp_path):
    path = tmp_path / "dc2.tflite"
    with pytest.raises(ExportError) as caught:
        tflite.export_tflite(tflite_test_model("mobile", "shift", *SIZE), path, precision="w8a8")
    assert str(caught.value) == f"{path}: w8a8 needs a calibration set"
    assert list(tmp_path.iterdir()) == []


def test_the_export_refuses_a_nan_calibration_set_and_publishes_nothing(no_conversion, tmp_path):
    options = ExportOptions(
        "mobile",
        *SIZE,
        "w8a8",
        weights=WeightsChoice.random(),
        calibration=_calibration(_nan_in_second),
    )
    with pytest.raises(CalibrationError, match="calibration sample 1: w holds NaN"):
        export_artifact("tflite", options, tmp_path)
    assert list(tmp_path.iterdir()) == []
