"""Full-integer (w8a8) TFLite: the calibrated static int8 recipe on a real (small) converted
graph, XNNPACK's coverage of the result, and the refusals (Core ML, NaN, degenerate ranges)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from dc2kit.cli import main
from dc2kit.convert.errors import ExportError
from dc2kit.convert.parity import max_abs_error
from dc2kit.convert.quantize import CalibrationError, CalibrationSet, check_ranges, quantize_w8a8
from dc2kit.convert.tflite_quantize import quantize_tflite
from dc2kit.metrics import psnr

SHAPE = (1, 3, 24, 32)


class TinyConvNet(nn.Module):
    """Convolutions, LeakyReLU, add and average pooling: the op kinds the w8a8 recipe sees."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.first = nn.Conv2d(3, 8, 3, padding=1)
        self.second = nn.Conv2d(8, 3, 3, padding=1)
        self.pool = nn.AvgPool2d(3, stride=1, padding=1)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        hidden = nn.functional.leaky_relu(self.first(x), 0.1)
        return {"y": x + self.pool(self.second(hidden))}


def _inputs(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"x": rng.uniform(-1, 1, SHAPE).astype(np.float32)}


@pytest.fixture(scope="module")
def tiny() -> tuple[nn.Module, bytes]:
    import litert_torch

    module = TinyConvNet().eval()
    sample = {"x": torch.from_numpy(_inputs(0)["x"])}
    converter = litert_torch.signature("render", module, sample_kwargs=sample)
    return module, converter.convert().model_content()


def test_w8a8_is_full_integer_float_io_delegated_and_close(tiny, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    from dc2kit.convert.residency import xnnpack_residency

    module, flatbuffer = tiny
    calibration = CalibrationSet(tuple(_inputs(seed) for seed in range(1, 9)))
    path = tmp_path / "tiny_w8a8.tflite"
    path.write_bytes(quantize_w8a8(flatbuffer, calibration, "render", path))
    interpreter = Interpreter(model_path=str(path))
    details = interpreter.get_tensor_details()
    conv_weights = [d for d in details if d["dtype"] == np.int8 and len(d["shape"]) == 4]
    assert conv_weights, "no int8 tensors: not quantized"
    runner = interpreter.get_signature_runner("render")
    assert [d["dtype"] for d in runner.get_input_details().values()] == [np.float32]
    probe = _inputs(100)  # not in the calibration set
    output = runner(**probe)["y"]
    with torch.no_grad():
        reference = module(torch.from_numpy(probe["x"]))["y"].numpy()
    assert psnr(reference, output) >= 30.0
    assert 0 < max_abs_error(reference, output) < 0.1  # quantized, yet close
    residency = xnnpack_residency(path)
    assert residency.complete, residency


def test_constant_calibration_gives_a_degenerate_range_error(tiny, tmp_path):
    _, flatbuffer = tiny
    zeros = CalibrationSet(({"x": np.zeros(SHAPE, np.float32)},))
    with pytest.raises(CalibrationError, match="zero-width range"):
        quantize_w8a8(flatbuffer, zeros, "render", tmp_path / "z.tflite")


@pytest.mark.parametrize(
    ("ranges", "message"),
    [
        ({"t": {"min": np.array([np.nan]), "max": np.array([1.0])}}, "non-finite range"),
        ({"t": {"min": np.array([0.5]), "max": np.array([0.5])}}, "zero-width range"),
    ],
)
def test_unusable_ranges_are_refused_naming_the_tensor(ranges, message):
    with pytest.raises(CalibrationError, match=f"'t' a {message}"):
        check_ranges(ranges)
    check_ranges({"t": {"min": np.array([-1.0]), "max": np.array([2.0])}})  # a usable one


def test_calibration_samples_are_checked_and_laid_out():
    shapes = {"x": SHAPE}
    with pytest.raises(CalibrationError, match="NaN"):
        CalibrationSet(({"x": np.full(SHAPE, np.nan, np.float32)},)).checked(shapes, Path("a"))
    with pytest.raises(CalibrationError, match="the model takes"):
        CalibrationSet(({"x": np.zeros((1, 3, 8, 8), np.float32)},)).checked(shapes, Path("a"))
    with pytest.raises(CalibrationError, match="empty"):
        CalibrationSet(()).checked(shapes, Path("a"))
    sample = _inputs(3)
    nhwc = CalibrationSet((sample,)).checked(shapes, Path("a"), channels_last=True)
    np.testing.assert_array_equal(nhwc.samples[0]["x"], sample["x"].transpose(0, 2, 3, 1))


def test_w8a8_for_coreml_is_refused_before_any_work(tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["export", "--target", "coreml", "--precision", "w8a8", "--out", str(out)]
    assert main([*argv, "--random-weights", "--size", "96x128"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "w8a8 is not available for coreml" in err[0]
    assert not out.exists()


def test_activation_ranges_span_every_calibration_sample(tiny, tmp_path):
    """The int8 range of the input is its min and max over the whole set: one wide sample among
    many narrow ones still fits (a moving average of per-sample ranges would clip it)."""
    from ai_edge_litert.interpreter import Interpreter

    _, flatbuffer = tiny
    wide = {"x": _inputs(1)["x"] * 4.0}  # [-4, 4], first: the one an average forgets most
    narrow = [{"x": _inputs(seed)["x"] * 0.5} for seed in range(2, 30)]
    path = tmp_path / "ranges.tflite"
    path.write_bytes(quantize_w8a8(flatbuffer, CalibrationSet((wide, *narrow)), "render", path))
    (quantized,) = [
        d
        for d in Interpreter(model_path=str(path)).get_tensor_details()
        if d["dtype"] == np.int8 and tuple(d["shape"]) == SHAPE and d["name"].startswith("render_x")
    ]
    (scale,), (zero,) = (
        quantized["quantization_parameters"]["scales"],
        quantized["quantization_parameters"]["zero_points"],
    )
    low, high = (-128 - zero) * scale, (127 - zero) * scale
    assert low <= wide["x"].min() + scale and high >= wide["x"].max() - scale


def test_requantizing_a_file_checks_the_calibration_set_against_its_inputs(tiny, tmp_path):
    """The benchmarks' path (a published fp32 file, quantized again): the set is checked against
    the file's own signature before anything is calibrated, and only a usable set writes."""
    _, flatbuffer = tiny
    source, destination = tmp_path / "tiny.tflite", tmp_path / "tiny_w8a8.tflite"
    source.write_bytes(flatbuffer)
    nan = CalibrationSet(({"x": np.full(SHAPE, np.nan, np.float32)},))
    small = CalibrationSet(({"x": np.zeros((1, 3, 8, 8), np.float32)},))
    for calibration, message in ((nan, "sample 0: x holds NaN"), (small, "the model takes")):
        with pytest.raises(CalibrationError, match=message):
            quantize_tflite(source, destination, "w8a8", calibration)
    with pytest.raises(ExportError, match="w8a8 needs a calibration set"):
        quantize_tflite(source, destination, "w8a8")
    assert [path.name for path in tmp_path.iterdir()] == [source.name]
    usable = CalibrationSet(tuple(_inputs(seed) for seed in range(1, 5)))
    assert quantize_tflite(source, destination, "w8a8", usable).stat().st_size > 0
