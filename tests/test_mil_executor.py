"""The numpy Core ML program executor: every op against torch/numpy, save → load, fp16, DC2Net."""

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import coremltools as ct
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from coremltools.converters.mil import Builder as mb
from coremltools.converters.mil.mil import types
from torch import nn

from dc2kit.convert.errors import (
    ExportError,
    Fp16OverflowError,
    InvalidProgramError,
    UnsupportedOpError,
)
from dc2kit.convert.mil_executor import SUPPORTED_OPS, execute, load_program
from dc2kit.convert.mil_ops import KERNELS
from dc2kit.convert.wrap import ExportWrapper
from dc2kit.metrics import psnr
from dc2kit.model import DC2Net, preset_config
from dc2kit.model.kernel_predict import IMPLEMENTATIONS, KernelPredict

IOS16 = ct.target.iOS16


def _program(body: Callable[..., Any], *shapes: tuple[int, ...]):
    """A MIL program whose fp32 inputs are `body`'s positional parameters (keyword-only ones bind
    loop variables)."""
    return mb.program(input_specs=[mb.TensorSpec(shape=s) for s in shapes], opset_version=IOS16)(
        body
    )


def _weights(*shape: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _via_torch(fn: Callable[..., torch.Tensor]) -> Callable[..., np.ndarray]:
    return lambda *arrays: fn(*(torch.from_numpy(a) for a in arrays)).numpy()


@dataclass(frozen=True)
class Case:
    """One op variant: a MIL body over inputs of `shapes`, and the same computation elsewhere."""

    id: str
    shapes: tuple[tuple[int, ...], ...]
    build: Callable[..., Any]
    reference: Callable[..., np.ndarray]


def _binary_cases() -> list[Case]:
    ops = {
        "add": np.add,
        "sub": np.subtract,
        "mul": np.multiply,
        "real_div": np.divide,
        "maximum": np.maximum,
        "minimum": np.minimum,
    }
    return [
        Case(op, ((2, 3, 4, 5), (1, 3, 1, 5)), lambda x, y, *, op=op: getattr(mb, op)(x=x, y=y), fn)
        for op, fn in ops.items()
    ]


def _conv_case(id: str, shape, weight, torch_kwargs, **mil_kwargs) -> Case:
    bias = _weights(weight.shape[0], seed=2)
    return Case(
        id,
        (shape,),
        lambda x: mb.conv(x=x, weight=weight, bias=bias, **mil_kwargs),
        _via_torch(
            lambda x: F.conv2d(x, torch.from_numpy(weight), torch.from_numpy(bias), **torch_kwargs)
        ),
    )


def _conv_cases() -> list[Case]:
    dilated = [
        _conv_case(
            f"conv-dilation{d}",
            (1, 4, 40, 40),
            _weights(5, 4, 3, 3),
            {"padding": d, "dilation": d},
            pad_type="custom",
            pad=[d] * 4,
            dilations=[d, d],
        )
        for d in (1, 2, 6, 12, 18)
    ]
    return [
        *dilated,
        _conv_case(
            "conv-depthwise",
            (1, 6, 12, 16),
            _weights(6, 1, 3, 3),
            {"padding": 1, "groups": 6},
            pad_type="custom",
            pad=[1] * 4,
            groups=6,
        ),
        _conv_case(  # as the im2col kernel prediction gathers taps: k² outputs per channel
            "conv-depthwise-multiplier",
            (1, 3, 8, 10),
            _weights(27, 1, 3, 3),
            {"groups": 3},
            pad_type="valid",
            groups=3,
        ),
        _conv_case(
            "conv-groups2",
            (1, 4, 12, 16),
            _weights(6, 2, 3, 3),
            {"padding": 1, "groups": 2},
            pad_type="custom",
            pad=[1] * 4,
            groups=2,
        ),
        _conv_case(
            "conv-stride2",
            (1, 4, 13, 16),
            _weights(8, 4, 3, 3),
            {"padding": 1, "stride": 2},
            pad_type="custom",
            pad=[1] * 4,
            strides=[2, 2],
        ),
        _conv_case(
            "conv-same-5x5", (2, 3, 9, 11), _weights(4, 3, 5, 5), {"padding": 2}, pad_type="same"
        ),
        _conv_case("conv-valid-1x1", (1, 7, 5, 6), _weights(3, 7, 1, 1), {}, pad_type="valid"),
    ]


def _conv_transpose_case(id: str, shape, weight, torch_kwargs, **mil_kwargs) -> Case:
    bias = _weights(weight.shape[1] * torch_kwargs.get("groups", 1), seed=2)
    return Case(
        id,
        (shape,),
        lambda x: mb.conv_transpose(x=x, weight=weight, bias=bias, **mil_kwargs),
        _via_torch(
            lambda x: F.conv_transpose2d(
                x, torch.from_numpy(weight), torch.from_numpy(bias), **torch_kwargs
            )
        ),
    )


def _conv_transpose_cases() -> list[Case]:
    weight = _weights(4, 3, 4, 4)
    up = {"pad_type": "custom", "pad": [1] * 4, "strides": [2, 2]}
    return [
        _conv_transpose_case(
            "conv_transpose-4x4s2p1",
            (1, 4, 6, 8),
            weight,
            {"stride": 2, "padding": 1},
            output_shape=[1, 3, 12, 16],
            **up,
        ),
        _conv_transpose_case(
            "conv_transpose-no-output-shape",
            (1, 4, 6, 8),
            weight,
            {"stride": 2, "padding": 1},
            **up,
        ),
        _conv_transpose_case(
            "conv_transpose-output-padding",
            (1, 4, 6, 8),
            weight,
            {"stride": 2, "padding": 1, "output_padding": 1},
            output_shape=[1, 3, 13, 17],
            **up,
        ),
        _conv_transpose_case(
            "conv_transpose-groups2-dilation2",
            (2, 4, 5, 7),
            _weights(4, 2, 3, 3),
            {"groups": 2, "dilation": 2},
            groups=2,
            dilations=[2, 2],
        ),
    ]


def _pool_cases() -> list[Case]:
    padded = {"kernel_sizes": [3, 3], "strides": [1, 1], "pad_type": "custom", "pad": [1] * 4}
    return [
        Case(
            "avg_pool-8x8s8",
            ((1, 3, 16, 24),),
            lambda x: mb.avg_pool(x=x, kernel_sizes=[8, 8], strides=[8, 8], pad_type="valid"),
            _via_torch(lambda x: F.avg_pool2d(x, 8)),
        ),
        Case(
            "avg_pool-3x3-exclude-padding",
            ((1, 2, 7, 9),),
            lambda x: mb.avg_pool(x=x, exclude_padding_from_average=True, **padded),
            _via_torch(lambda x: F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)),
        ),
        Case(
            "avg_pool-3x3-include-padding",
            ((1, 2, 7, 9),),
            lambda x: mb.avg_pool(x=x, exclude_padding_from_average=False, **padded),
            _via_torch(lambda x: F.avg_pool2d(x, 3, 1, 1, count_include_pad=True)),
        ),
        Case(
            "max_pool-3x3s2p1",
            ((1, 2, 9, 10),),
            lambda x: mb.max_pool(
                x=x, kernel_sizes=[3, 3], strides=[2, 2], pad_type="custom", pad=[1] * 4
            ),
            _via_torch(lambda x: F.max_pool2d(x, 3, 2, 1)),
        ),
    ]


def _resize_cases() -> list[Case]:
    return [
        Case(
            "upsample_nearest_neighbor-2",
            ((1, 3, 5, 7),),
            lambda x: mb.upsample_nearest_neighbor(
                x=x, scale_factor_height=2.0, scale_factor_width=2.0
            ),
            _via_torch(lambda x: F.interpolate(x, scale_factor=2, mode="nearest")),
        ),
        Case(
            "upsample_nearest_neighbor-3x2",
            ((1, 2, 4, 5),),
            lambda x: mb.upsample_nearest_neighbor(
                x=x, scale_factor_height=3, scale_factor_width=2
            ),
            _via_torch(lambda x: F.interpolate(x, scale_factor=(3, 2), mode="nearest")),
        ),
        *(
            Case(
                f"upsample_bilinear-align-corners-{align}",
                ((1, 2, 5, 7),),
                lambda x, *, align=align: mb.upsample_bilinear(
                    x=x, scale_factor_height=2.0, scale_factor_width=2.0, align_corners=align
                ),
                _via_torch(
                    lambda x, align=align: F.interpolate(
                        x, scale_factor=2, mode="bilinear", align_corners=align
                    )
                ),
            )
            for align in (False, True)
        ),
        Case(  # TensorFlow's legacy sampling: grid = i · in / out, clamped to the last pixel
            "upsample_bilinear-no-half-pixel",
            ((1, 1, 1, 2),),
            lambda x: mb.upsample_bilinear(
                x=x,
                scale_factor_height=1.0,
                scale_factor_width=2.0,
                half_pixel_centers=False,
                align_corners=False,
            ),
            lambda x: np.stack([x[..., 0], x.mean(-1), x[..., 1], x[..., 1]], axis=-1),
        ),
    ]


def _interleaved(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    out = np.empty((*x.shape[:-1], 2 * x.shape[-1]), np.float32)
    out[..., 0::2], out[..., 1::2] = x, y
    return out


def _layout_cases() -> list[Case]:
    return [
        Case(
            "concat-axis1",
            ((1, 2, 3, 4), (1, 5, 3, 4)),
            lambda x, y: mb.concat(values=[x, y, x], axis=1),
            lambda x, y: np.concatenate([x, y, x], axis=1),
        ),
        Case(
            "concat-interleave",
            ((2, 3, 4), (2, 3, 4)),
            lambda x, y: mb.concat(values=[x, y], axis=-1, interleave=True),
            _interleaved,
        ),
        Case(
            "stack-axis0",
            ((1, 3, 4, 5), (1, 3, 4, 5)),
            lambda x, y: mb.stack(values=[x, y, y], axis=0),
            lambda x, y: np.stack([x, y, y]),
        ),
        Case(
            "slice_by_index-stride-negative-end-mask",
            ((2, 6, 8, 10),),
            lambda x: mb.slice_by_index(
                x=x,
                begin=[0, 1, -3, 0],
                end=[1, 5, 0, 10],
                stride=[1, 2, 1, 3],
                end_mask=[False, False, True, False],
            ),
            lambda x: x[0:1, 1:5:2, -3:, 0:10:3],
        ),
        Case(
            "slice_by_index-begin-mask-squeeze",
            ((2, 6, 8, 10),),
            lambda x: mb.slice_by_index(
                x=x,
                begin=[1, 4, 2, 7],
                end=[2, 6, 3, 9],
                begin_mask=[False, True, False, False],
                squeeze_mask=[True, False, True, False],
            ),
            lambda x: x[1, :6, 2, 7:9],
        ),
        Case(
            "reshape",
            ((2, 3, 4),),
            lambda x: mb.reshape(x=x, shape=[0, 4, -1]),
            lambda x: x.reshape(2, 4, 3),
        ),
        Case(
            "transpose",
            ((2, 3, 4, 5),),
            lambda x: mb.transpose(x=x, perm=[0, 2, 3, 1]),
            lambda x: x.transpose(0, 2, 3, 1),
        ),
        Case(
            "tile",
            ((1, 3, 2, 2),),
            lambda x: mb.tile(x=x, reps=[2, 1, 3, 1]),
            _via_torch(lambda x: x.repeat(2, 1, 3, 1)),
        ),
        Case(
            "expand_dims",
            ((3, 4),),
            lambda x: mb.expand_dims(x=x, axes=[0, 2]),
            lambda x: x[None, :, None, :],
        ),
        Case(
            "squeeze",
            ((2, 1, 3, 1),),
            lambda x: mb.squeeze(x=x, axes=[1]),
            lambda x: x[:, 0],
        ),
        Case(  # MIL ignores named axes whose size is not 1 (numpy would raise)
            "squeeze-ignores-non-1-axes",
            ((2, 1, 3, 1),),
            lambda x: mb.squeeze(x=x, axes=[0, 1, 2]),
            lambda x: x[:, 0],
        ),
        *(
            Case(
                f"pad-{mode}",
                ((1, 2, 5, 6),),
                lambda x, *, mode=mode: mb.pad(x=x, pad=[1, 2, 2, 1], mode=mode, constant_val=0.5),
                _via_torch(
                    lambda x, mode=mode: F.pad(
                        x, (2, 1, 1, 2), mode=mode, value=0.5 if mode == "constant" else None
                    )
                ),
            )
            for mode in ("constant", "reflect", "replicate")
        ),
        Case(
            "reduce_sum-axis0",
            ((4, 1, 3, 5),),
            lambda x: mb.reduce_sum(x=x, axes=[0], keep_dims=False),
            _via_torch(lambda x: x.sum(0)),
        ),
        Case(
            "reduce_mean-keep-dims",
            ((2, 3, 4, 5),),
            lambda x: mb.reduce_mean(x=x, axes=[2, 3], keep_dims=True),
            _via_torch(lambda x: x.mean((2, 3), keepdim=True)),
        ),
        Case(
            "reduce_max",
            ((2, 3, 4),),
            lambda x: mb.reduce_max(x=x, axes=[1]),
            _via_torch(lambda x: x.amax(1)),
        ),
    ]


def _unary_cases() -> list[Case]:
    return [
        Case("identity", ((2, 3),), lambda x: mb.identity(x=x), lambda x: x),
        Case("relu", ((2, 3, 4),), lambda x: mb.relu(x=x), _via_torch(F.relu)),
        Case(
            "leaky_relu",
            ((2, 3, 4),),
            lambda x: mb.leaky_relu(x=x, alpha=0.1),
            _via_torch(lambda x: F.leaky_relu(x, 0.1)),
        ),
        Case("sigmoid", ((2, 3, 4),), lambda x: mb.sigmoid(x=x), _via_torch(torch.sigmoid)),
        Case("tanh", ((2, 3, 4),), lambda x: mb.tanh(x=x), _via_torch(torch.tanh)),
        Case("abs", ((2, 3, 4),), lambda x: mb.abs(x=x), _via_torch(torch.abs)),
        Case(  # ties to even, as torch.round (the app-io graph's 8-bit rounding)
            "round",
            ((2, 3, 4),),
            lambda x: mb.round(x=mb.mul(x=x, y=4.0)),
            _via_torch(lambda x: torch.round(x * 4.0)),
        ),
        Case(  # the radial mask's squares and square roots
            "pow-square-root-of-a-square",
            ((2, 3, 4),),
            lambda x: mb.pow(x=mb.pow(x=x, y=2.0), y=0.5),
            _via_torch(lambda x: (x**2) ** 0.5),
        ),
        Case(
            "clip",
            ((2, 3, 4),),
            lambda x: mb.clip(x=x, alpha=-0.5, beta=0.5),
            _via_torch(lambda x: x.clamp(-0.5, 0.5)),
        ),
        Case(
            "cast-int32-truncates",
            ((2, 3, 4),),
            lambda x: mb.cast(x=mb.cast(x=mb.mul(x=x, y=3.0), dtype="int32"), dtype="fp32"),
            lambda x: (x * 3).astype(np.int32).astype(np.float32),
        ),
    ]


CASES = [
    *_binary_cases(),
    *_unary_cases(),
    *_conv_cases(),
    *_conv_transpose_cases(),
    *_pool_cases(),
    *_resize_cases(),
    *_layout_cases(),
]


def _inputs_for(program, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        name: rng.standard_normal(var.shape).astype(np.float32)
        for name, var in program.functions["main"].inputs.items()
    }


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_op_matches_an_independent_computation(case):
    program = _program(case.build, *case.shapes)
    inputs = _inputs_for(program)
    result = execute(program, inputs)
    (out,) = result.outputs.values()
    (declared,) = program.functions["main"].outputs
    expected = case.reference(*inputs.values())
    assert out.shape == tuple(declared.shape) == expected.shape
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_the_cases_cover_every_supported_op():
    checked = {
        op.op_type
        for case in CASES
        for op in _program(case.build, *case.shapes).functions["main"].operations
    }
    assert checked == SUPPORTED_OPS


@pytest.mark.parametrize("precision", [ct.precision.FLOAT32, ct.precision.FLOAT16])
def test_saved_program_with_weights_runs_after_loading(tmp_path, precision):
    weight, bias, up = _weights(8, 3, 3, 3), _weights(8, seed=2), _weights(8, 4, 4, 4, seed=3)

    def body(x):
        features = mb.conv(x=x, weight=weight, bias=bias, pad_type="custom", pad=[1] * 4)
        features = mb.leaky_relu(x=features, alpha=0.1)
        return mb.conv_transpose(
            x=features, weight=up, pad_type="custom", pad=[1] * 4, strides=[2, 2]
        )

    program = _program(body, (1, 3, 10, 12))
    model = ct.convert(
        program,
        convert_to="mlprogram",
        minimum_deployment_target=IOS16,
        compute_precision=precision,
    )
    path = tmp_path / "tiny.mlpackage"
    model.save(str(path))
    assert any(p.name == "weight.bin" for p in path.rglob("*"))
    inputs = _inputs_for(program)
    (out,) = execute(load_program(path), inputs).outputs.values()
    x = torch.from_numpy(inputs["x"])
    features = F.leaky_relu(
        F.conv2d(x, torch.from_numpy(weight), torch.from_numpy(bias), padding=1), 0.1
    )
    expected = F.conv_transpose2d(features, torch.from_numpy(up), stride=2, padding=1).numpy()
    assert psnr(expected, out) > (100 if precision == ct.precision.FLOAT32 else 50)


class _Preprocessed(nn.Module):
    def forward(self, image: torch.Tensor, gray: torch.Tensor) -> torch.Tensor:
        return image * gray


def test_image_inputs_take_pixels_and_the_program_applies_scale_and_bias(tmp_path):
    shape = (1, 3, 6, 8)
    example = (torch.rand(shape), torch.rand(1, 1, 6, 8))
    exported = torch.export.export(_Preprocessed(), example).run_decompositions({})
    model = ct.convert(
        exported,
        minimum_deployment_target=IOS16,
        convert_to="mlprogram",
        compute_precision=ct.precision.FLOAT32,
        inputs=[
            ct.ImageType(name="image", shape=shape, scale=1 / 127.5, bias=[-1, -1, -1]),
            ct.ImageType(
                name="gray", shape=(1, 1, 6, 8), color_layout=ct.colorlayout.GRAYSCALE_FLOAT16
            ),
        ],
    )
    model.save(str(tmp_path / "image.mlpackage"))
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, shape).astype(np.float32)
    gray = rng.random((1, 1, 6, 8)).astype(np.float16)
    result = execute(tmp_path / "image.mlpackage", {"image": pixels, "gray": gray})
    (out,) = result.outputs.values()
    np.testing.assert_allclose(out, (pixels / 127.5 - 1) * gray.astype(np.float32), atol=1e-5)


def test_fp16_mode_rounds_every_op_result():
    def body(x):
        return mb.add(x=mb.mul(x=x, y=3.0), y=np.float32(1 / 3))

    inputs = {"x": np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32)}
    (out,) = execute(_program(body, (4, 5)), inputs, fp16=True).outputs.values()
    tripled = np.float16(inputs["x"] * np.float32(3)).astype(np.float32)
    third = np.float16(1 / 3).astype(np.float32)  # the const op's result is rounded too
    expected = np.float16(tripled + third).astype(np.float32)
    np.testing.assert_array_equal(out, expected)


def _scaled_twice(x):
    return mb.mul(x=mb.mul(x=x, y=1e3, name="scale_up"), y=1e3, name="scale_again")


def test_fp16_overflow_names_the_op():
    inputs = {"x": np.full((2, 3), 100.0, np.float32)}
    with pytest.raises(Fp16OverflowError, match="scale_up"):
        execute(_program(_scaled_twice, (2, 3)), inputs, fp16=True)


def test_fp32_mode_reports_the_largest_activation_per_op():
    inputs = {"x": np.full((2, 3), 100.0, np.float32)}
    result = execute(_program(_scaled_twice, (2, 3)), inputs)
    assert result.max_abs_per_op["scale_up"] == pytest.approx(1e5)
    assert result.max_abs_per_op["scale_again"] == pytest.approx(1e8)
    assert result.max_abs_per_op_type["mul"] == pytest.approx(1e8)
    assert result.op_type_counts["mul"] == 2


def test_unknown_op_type_is_named():
    program = _program(lambda x: mb.exp(x=x, name="the_exp"), (2, 3))
    with pytest.raises(UnsupportedOpError, match=r"'exp'.*'the_exp'"):
        execute(program, _inputs_for(program))


def test_unimplemented_variant_is_named():
    weight = _weights(2, 3, 3, 3)
    program = _program(
        lambda x: mb.conv_transpose(x=x, weight=weight, pad_type="same", name="up"), (1, 2, 4, 4)
    )
    with pytest.raises(UnsupportedOpError, match=r"'up'.*same"):
        execute(program, _inputs_for(program))


def test_integer_division_and_mean_stay_int32_rounding_toward_zero():
    def body(x, y):
        return mb.real_div(x=x, y=y, name="quotient"), mb.reduce_mean(x=x, axes=[1], name="mean")

    specs = [mb.TensorSpec(shape=(2, 3), dtype=types.int32) for _ in range(2)]
    program = mb.program(input_specs=specs, opset_version=IOS16)(body)
    x = np.array([[7, -7, -9], [1, 2, 2]], np.int32)
    y = np.array([[2, 2, 4], [3, -1, 3]], np.int32)
    outputs = execute(program, {"x": x, "y": y}).outputs
    assert outputs["quotient"].dtype == outputs["mean"].dtype == np.int32
    np.testing.assert_array_equal(outputs["quotient"], [[3, -3, -2], [0, -2, 0]])
    np.testing.assert_array_equal(outputs["mean"], [-3, 1])  # -9/3 and 5/3


@pytest.mark.parametrize(
    ("body", "error", "message"),
    [
        (
            lambda x: mb.upsample_nearest_neighbor(x=x, scale_factor_height=1.5, name="up"),
            UnsupportedOpError,
            r"'up'.*non-integer 1.5",
        ),
        (
            lambda x: mb.upsample_bilinear(
                x=x, scale_factor_height=2.0, align_corners=True, half_pixel_centers=True, name="up"
            ),
            InvalidProgramError,
            r"'up'.*cannot both be set",
        ),
        (
            lambda x: mb.pad(x=x, pad=[0, 0, 4, 0], mode="reflect", name="wide"),
            InvalidProgramError,
            r"'wide'.*reflect padding of 4 on a dimension of 4",
        ),
        (
            lambda x: mb.pad(x=x, pad=[5, 0, 0, 0], mode="replicate", name="tall"),
            InvalidProgramError,
            r"'tall'.*replicate padding of 5 on a dimension of 3",
        ),
    ],
    ids=[
        "nearest-fractional",
        "bilinear-both-conventions",
        "reflect-too-wide",
        "replicate-too-tall",
    ],
)
def test_variants_outside_the_definition_are_refused(body, error, message):
    program = _program(body, (1, 2, 3, 4))
    with pytest.raises(error, match=message):
        execute(program, _inputs_for(program))


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (lambda args: args["x"].astype(np.float64), r"'r'.*float64.*declares fp32"),
        (lambda args: args["x"][:, :1], r"'r'.*shape \(2, 1\).*declares \(2, 3\)"),
    ],
    ids=["dtype", "shape"],
)
def test_every_result_is_checked_against_its_declaration(monkeypatch, wrong, message):
    monkeypatch.setitem(KERNELS, "relu", wrong)  # a kernel bug, as a user's op variant could hit
    program = _program(lambda x: mb.relu(x=x, name="r"), (2, 3))
    with pytest.raises(InvalidProgramError, match=message):
        execute(program, _inputs_for(program))


def test_inputs_are_checked_by_name_and_shape(tmp_path):
    program = _program(lambda x: mb.relu(x=x), (1, 2, 3))
    with pytest.raises(ValueError, match="missing"):
        execute(program, {})
    with pytest.raises(ValueError, match="shape"):
        execute(program, {"x": np.zeros((1, 3, 2), np.float32)})
    with pytest.raises(ExportError, match="no such"):
        load_program(tmp_path / "absent.mlpackage")


# --- end to end: DC2Net (mobile, 64×96) -----------------------------------------------------


class _PlainKernelPredict(nn.Module):
    """Kernel prediction as plain aten ops, so coremltools converts it without a registration."""

    def __init__(self, formulation: str) -> None:
        super().__init__()
        self.formulation = formulation

    def forward(self, image: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
        return IMPLEMENTATIONS[self.formulation](image, kernels)


def _with_plain_kernel_predict(model: nn.Module, formulation: str) -> nn.Module:
    model = copy.deepcopy(model)
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, KernelPredict):
                setattr(parent, name, _PlainKernelPredict(formulation))
    return model


@pytest.fixture(scope="module")
def dc2_conversion():
    """Mobile DC2Net, 64×96, im2col kernel prediction: PyTorch output, inputs, fp32/fp16 models."""
    torch.manual_seed(0)
    height, width = 64, 96
    model = DC2Net(preset_config("mobile", height, width)).eval()
    wrapper = ExportWrapper(_with_plain_kernel_predict(model, "im2col"))
    generator = torch.Generator().manual_seed(0)
    images = [torch.rand(1, 3, height, width, generator=generator) * 2 - 1 for _ in range(2)]
    maps = [torch.rand(1, 1, height, width, generator=generator) * 10 for _ in range(2)]
    args = (*images, *maps)
    with torch.no_grad():
        (reference,) = wrapper(*args)
    exported = torch.export.export(wrapper, args).run_decompositions({})
    models = {
        precision: ct.convert(
            exported,
            minimum_deployment_target=IOS16,
            convert_to="mlprogram",
            compute_precision=precision,
        )
        for precision in (ct.precision.FLOAT32, ct.precision.FLOAT16)
    }
    inputs = {name: a.numpy() for name, a in zip(wrapper.input_names, args, strict=True)}
    return reference.numpy(), inputs, models


def test_dc2net_fp32_program_matches_pytorch(dc2_conversion):
    reference, inputs, models = dc2_conversion
    (out,) = execute(models[ct.precision.FLOAT32], inputs).outputs.values()
    assert psnr(reference, out) >= 80


def test_dc2net_fp16_program_in_fp16_matches_pytorch(dc2_conversion):
    reference, inputs, models = dc2_conversion
    result = execute(models[ct.precision.FLOAT16], inputs, fp16=True)
    (out,) = result.outputs.values()
    assert psnr(reference, out) >= 45
    assert max(result.max_abs_per_op.values()) < 65504
