"""Core ML export: the kernel_predict op translation, DC2Net packages, metadata, image I/O, errors.

Core ML cannot run on Linux, so converted programs run in dc2kit's numpy ML-program executor
(`dc2kit.convert.mil_executor`, itself checked op by op in test_mil_executor.py).
"""

import os
import re
import sys
from pathlib import Path

import coremltools as ct
import numpy as np
import pytest
import torch
from coremltools.proto import FeatureTypes_pb2
from torch import nn

from dc2kit import __version__
from dc2kit.convert.coreml import (
    CoreMLRuntimeUnavailableError,
    coreml_op_histogram,
    export_coreml,
    load_coreml_spec,
    predict_coreml,
    save_package,
)
from dc2kit.convert.coreml_io import IMAGE_BIAS, IMAGE_SCALE
from dc2kit.convert.coreml_ops import TORCH_OP_KIND
from dc2kit.convert.errors import ExportError
from dc2kit.convert.mil_executor import execute
from dc2kit.model import DC2Net
from dc2kit.model.dc2 import DC2Config, preset_config
from dc2kit.model.kernel_predict import kernel_predict

KERNEL_PREDICT_CALLS = 8
FORBIDDEN_OPS = ("gather", "gather_nd", "gather_along_axis", "scatter", "scatter_nd", "pad")


# ----------------------------------------------------------------------------- spec helpers


def _operations(spec):
    block = next(iter(spec.mlProgram.functions["main"].block_specializations.values()))
    return list(block.operations)


def _const_floats(spec, name: str) -> list[float]:
    for op in _operations(spec):
        if op.type == "const" and op.outputs[0].name == name:
            return list(op.attributes["val"].immediateValue.tensor.floats.values)
    raise AssertionError(f"no const {name}")


def _count_named(spec, op_type: str, suffix: str) -> int:
    """Ops of a type whose output name ends with `suffix` (fp16 programs append `_cast_fp16`)."""
    pattern = re.compile(rf"{suffix}(_cast_fp16)?$")
    return sum(
        1 for op in _operations(spec) if op.type == op_type and pattern.search(op.outputs[0].name)
    )


# ----------------------------------------------------------------------------- op translation


class _OnlyKernelPredict(nn.Module):
    def __init__(self, formulation: str) -> None:
        super().__init__()
        self.formulation = formulation

    def forward(self, image, kernels):
        return kernel_predict(image, kernels, self.formulation)


@pytest.mark.parametrize("k", [3, 5, 7])
@pytest.mark.parametrize("formulation", ["shift", "im2col"])
def test_op_translation_matches_torch(k, formulation):
    generator = torch.Generator().manual_seed(k)
    image = torch.randn(1, 3, 9, 12, generator=generator)
    kernels = torch.randn(1, k * k, 9, 12, generator=generator)
    program = torch.export.export(_OnlyKernelPredict(formulation), (image, kernels))
    mlmodel = ct.convert(
        program.run_decompositions({}),
        convert_to="mlprogram",
        minimum_deployment_target=ct.target.iOS16,
        compute_precision=ct.precision.FLOAT32,
        skip_model_load=True,
    )
    op_types = {op.op_type for op in mlmodel._mil_program.functions["main"].operations}
    emitted = {"const", "slice_by_index", "concat", "mul", "add"}
    assert op_types <= emitted | ({"tile", "conv"} if formulation == "im2col" else set())

    names = program.graph_signature.user_inputs
    feeds = dict(zip(names, [image.numpy(), kernels.numpy()], strict=True))
    (out,) = execute(mlmodel._mil_program, feeds).outputs.values()
    expected = kernel_predict(image.double(), kernels.double(), "reference").numpy()
    assert np.abs(out - expected).max() < 1e-5


def test_registration_is_idempotent_and_under_the_exir_name():
    import importlib

    from coremltools.converters.mil.frontend.torch.torch_op_registry import _TORCH_OPS_REGISTRY

    import dc2kit.convert.coreml_ops as ops

    importlib.reload(ops)
    assert _TORCH_OPS_REGISTRY.get_func(TORCH_OP_KIND).__module__ == ops.__name__
    assert torch.ops.dc2kit.kernel_predict.default.name() == TORCH_OP_KIND


# ----------------------------------------------------------------------------- DC2Net packages


def _export(tmp_path_factory, preset, size, formulation, precision, **kwargs):
    torch.manual_seed(0)  # the same weights whatever ran before (tolerances below depend on them)
    model = DC2Net(preset_config(preset, *size, formulation=formulation))
    folder = tmp_path_factory.mktemp(f"{preset}_{formulation}_{precision}")
    path = folder / "dc2.mlpackage"
    return model, export_coreml(model, path, precision=precision, **kwargs)


@pytest.fixture(scope="module")
def mobile_fp16(tmp_path_factory):
    return _export(tmp_path_factory, "mobile", (64, 96), "shift", "fp16")


@pytest.fixture(scope="module")
def mobile_fp32_images(tmp_path_factory):
    return _export(
        tmp_path_factory, "mobile", (64, 96), "im2col", "fp32", image_io=True, outputs="all"
    )


@pytest.fixture(scope="module", params=["fp16", "fp32"])
def paper(request, tmp_path_factory):
    return _export(tmp_path_factory, "paper", (64, 64), "im2col", request.param)


def _assert_portable(artifact, k: int):
    histogram = coreml_op_histogram(artifact.path)
    assert histogram == artifact.op_histogram
    assert not any(op.startswith(FORBIDDEN_OPS) for op in histogram), histogram
    assert artifact.path.is_dir()
    spec = load_coreml_spec(artifact.path)
    if artifact.formulation == "shift":
        assert _count_named(spec, "slice_by_index", "_window_0") == KERNEL_PREDICT_CALLS
        assert _count_named(spec, "mul", "_term_0") == KERNEL_PREDICT_CALLS
        assert _count_named(spec, "slice_by_index", f"_window_{k * k - 1}") == KERNEL_PREDICT_CALLS
    else:
        for channel in range(3):  # one gather and one tap sum per colour channel, no tiling
            assert _count_named(spec, "conv", f"_patches_{channel}") == KERNEL_PREDICT_CALLS
            assert _count_named(spec, "conv", f"_sum_{channel}") == KERNEL_PREDICT_CALLS
        assert "tile" not in histogram


def test_mobile_fp16_converts_without_gather(mobile_fp16):
    model, artifact = mobile_fp16
    _assert_portable(artifact, model.config.kernel_size)
    assert artifact.precision == "fp16"
    assert artifact.deployment_target == "iOS16"
    assert artifact.coremltools_version == ct.__version__
    spec = load_coreml_spec(artifact.path)
    assert spec.WhichOneof("Type") == "mlProgram"
    dtypes = {f.name: f.type.multiArrayType.dataType for f in spec.description.input}
    assert set(dtypes.values()) == {FeatureTypes_pb2.ArrayFeatureType.FLOAT16}


def test_package_holds_the_spec_and_weights_only_with_usual_modes(mobile_fp16):
    _, artifact = mobile_fp16
    files = sorted(p for p in artifact.path.rglob("*") if p.is_file())
    assert [p.relative_to(artifact.path).as_posix() for p in files] == [
        "Data/com.apple.CoreML/model.mlmodel",
        "Data/com.apple.CoreML/weights/weight.bin",
        "Manifest.json",
    ]
    umask = os.umask(0)
    os.umask(umask)
    assert {p.stat().st_mode & 0o777 for p in files} == {0o666 & ~umask}


def test_mobile_fp32_converts_without_gather(mobile_fp32_images):
    model, artifact = mobile_fp32_images
    _assert_portable(artifact, model.config.kernel_size)
    assert artifact.precision == "fp32"


def test_paper_converts_without_gather(paper):
    model, artifact = paper
    _assert_portable(artifact, model.config.kernel_size)
    spec = load_coreml_spec(artifact.path)
    expected = {"fp16": "float16", "fp32": "float32"}[artifact.precision]
    assert {s.dtype for s in artifact.inputs} == {expected}
    (output,) = spec.description.output
    expected_proto = {
        "fp16": FeatureTypes_pb2.ArrayFeatureType.FLOAT16,
        "fp32": FeatureTypes_pb2.ArrayFeatureType.FLOAT32,
    }[artifact.precision]
    assert output.type.multiArrayType.dataType == expected_proto


def _random_inputs(model: DC2Net) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    inputs = [torch.rand(t.shape, generator=generator) * 2 - 1 for t in model.example_inputs()]
    inputs[2:] = [t.abs() * 4 for t in inputs[2:]]
    return inputs


def _as_held_by(spec, tensor: torch.Tensor) -> torch.Tensor:
    """What an input of `spec` holds: a grayscale fp16 image (the defocus maps of an image-io
    program) keeps its values in fp16 on the device, and the fusion sees those maps directly."""
    return tensor.half().float() if (spec.kind, spec.dtype) == ("image", "float16") else tensor


@pytest.mark.parametrize(
    ("fixture", "tolerance"), [("mobile_fp16", 2e-2), ("mobile_fp32_images", 2e-5)]
)
def test_saved_program_matches_torch_in_the_mil_executor(request, fixture, tolerance):
    """The whole saved DC2Net program, run by dc2kit's numpy executor (fp16 emulated)."""
    model, artifact = request.getfixturevalue(fixture)
    inputs = [
        _as_held_by(spec, t) for spec, t in zip(artifact.inputs, _random_inputs(model), strict=True)
    ]
    with torch.no_grad():
        expected = model.eval()(*inputs).image.numpy()
    feeds = {s.name: t.numpy() for s, t in zip(artifact.inputs, inputs, strict=True)}
    if artifact.image_io:
        feeds["w"], feeds["uw"] = ((feeds[n] + 1.0) * 127.5 for n in ("w", "uw"))
    result = execute(artifact.path, feeds, fp16=artifact.precision == "fp16")
    image = result.outputs["image"]
    if artifact.image_io:
        image = image / 127.5 - 1.0
    assert np.abs(image - expected).max() < tolerance


def test_metadata_is_complete(mobile_fp16):
    model, artifact = mobile_fp16
    metadata = load_coreml_spec(artifact.path).description.metadata
    assert "DC²" in metadata.shortDescription
    assert (metadata.author, metadata.license, metadata.versionString) == (
        "dc2kit",
        "Apache-2.0",
        __version__,
    )
    assert DC2Config.from_json(metadata.userDefined["dc2kit.config"]) == model.config
    assert metadata.userDefined["dc2kit.formulation"] == "shift"
    assert metadata.userDefined["dc2kit.outputs"] == "image"
    description = load_coreml_spec(artifact.path).description
    texts = {f.name: f.shortDescription for f in [*description.input, *description.output]}
    assert set(texts) == {"w", "uw", "defocus_w", "defocus_t", "image"}
    assert "pixels" in texts["defocus_t"] and "≥ 0" in texts["defocus_t"]
    assert "-1 to 1" in texts["w"] and "-1 to 1" in texts["image"]
    assert [s.name for s in artifact.inputs] == ["w", "uw", "defocus_w", "defocus_t"]
    assert artifact.inputs[0].shape == (1, 3, 64, 96) and artifact.inputs[0].layout == "NCHW"


def test_image_io_inputs_and_output(mobile_fp32_images):
    _, artifact = mobile_fp32_images
    spec = load_coreml_spec(artifact.path)
    image_type = FeatureTypes_pb2.ImageFeatureType
    spaces = {f.name: f.type.imageType.colorSpace for f in spec.description.input}
    assert spaces == {
        "w": image_type.RGB,
        "uw": image_type.RGB,
        "defocus_w": image_type.GRAYSCALE_FLOAT16,
        "defocus_t": image_type.GRAYSCALE_FLOAT16,
    }
    for name in ("w", "uw"):
        assert _const_floats(spec, f"{name}__scaled___y_0") == pytest.approx([IMAGE_SCALE])
        assert _const_floats(spec, f"{name}__biased___y_0") == pytest.approx([IMAGE_BIAS] * 3)
    output = spec.description.output[0]
    assert output.name == "image" and output.type.imageType.colorSpace == image_type.RGB
    assert (output.type.imageType.height, output.type.imageType.width) == (64, 96)
    assert artifact.outputs[0].value_range == (0.0, 255.0)
    # The graph ends by mapping [-1, 1] to 0–255: image = (x + 1) · 127.5.
    producers = {op.outputs[0].name: op for op in _operations(spec)}
    scale = producers["image"]
    shift = producers[scale.inputs["x"].arguments[0].name]
    assert (scale.type, shift.type) == ("mul", "add")
    assert _const_floats(spec, scale.inputs["y"].arguments[0].name) == [127.5]
    assert _const_floats(spec, shift.inputs["y"].arguments[0].name) == [1.0]


def test_all_outputs_are_named_and_described(mobile_fp32_images):
    _, artifact = mobile_fp32_images
    names = [f.name for f in load_coreml_spec(artifact.path).description.output]
    assert names == [s.name for s in artifact.outputs]
    assert names[0] == "image" and "mask_w_8" in names and len(names) == 1 + 4 * 5
    mask = next(s for s in artifact.outputs if s.name == "mask_w_8")
    assert mask.shape == (1, 1, 8, 12) and mask.value_range == (0.0, 1.0)
    assert mask.kind == "tensor" and mask.dtype == "float32"


# ----------------------------------------------------------------------------- errors


@pytest.fixture(scope="module")
def tiny_model():
    return DC2Net(preset_config("mobile", 32, 32, formulation="im2col"))


def test_converter_crash_is_one_line_and_leaves_nothing(tiny_model, tmp_path, monkeypatch):
    from coremltools.converters.mil.frontend.torch.converter import TorchConverter

    def explode(self):
        raise RuntimeError("boom in the middle of conversion\nwith a long traceback-ish tail")

    monkeypatch.setattr(TorchConverter, "convert", explode)
    destination = tmp_path / "crash.mlpackage"
    with pytest.raises(ExportError) as caught:
        export_coreml(tiny_model, destination)
    message = str(caught.value)
    assert "\n" not in message and str(destination) in message and "boom" in message
    assert list(tmp_path.iterdir()) == []


def test_failed_save_keeps_an_existing_package(tmp_path):
    destination = tmp_path / "keep.mlpackage"
    destination.mkdir()
    (destination / "marker").write_text("old")

    class HalfWritingModel:
        def save(self, path):
            Path(path).mkdir(exist_ok=True)
            (Path(path) / "partial").write_text("half")
            raise OSError("disk full")

    with pytest.raises(ExportError, match="disk full"):
        save_package(HalfWritingModel(), destination)
    assert [p.name for p in tmp_path.iterdir()] == ["keep.mlpackage"]
    assert (destination / "marker").read_text() == "old"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"precision": "int8"}, "precision"),
        ({"outputs": "some"}, "outputs"),
    ],
)
def test_bad_arguments_raise_export_error(tiny_model, tmp_path, kwargs, match):
    with pytest.raises(ExportError, match=match):
        export_coreml(tiny_model, tmp_path / "bad.mlpackage", **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_destination_must_be_an_mlpackage(tiny_model, tmp_path):
    with pytest.raises(ExportError, match=r"\.mlpackage"):
        export_coreml(tiny_model, tmp_path / "model.mlmodel")


@pytest.mark.skipif(sys.platform == "darwin", reason="checks the non-macOS refusal")
def test_predict_refuses_off_macos(tmp_path):
    with pytest.raises(CoreMLRuntimeUnavailableError, match="macOS"):
        predict_coreml(tmp_path / "any.mlpackage", {})


@pytest.mark.skipif(sys.platform != "darwin", reason="Core ML predictions need macOS")
def test_predict_matches_torch_on_macos(mobile_fp16):
    model, artifact = mobile_fp16
    inputs = _random_inputs(model)
    with torch.no_grad():
        expected = model(*inputs).image.numpy()
    feeds = {s.name: t.numpy() for s, t in zip(artifact.inputs, inputs, strict=True)}
    assert np.abs(predict_coreml(artifact.path, feeds)["image"] - expected).max() < 5e-2
