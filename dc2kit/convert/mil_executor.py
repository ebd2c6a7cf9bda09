"""Run a Core ML ML program with numpy, so exported models can be checked on Linux.

coremltools converts and saves on Linux but cannot predict there. This module reads the saved
program back (coremltools' milproto loader and weight-blob reader work on Linux) and evaluates its
main function op by op with the kernels in `mil_ops`.

    load_program(source) -> Program      # .mlpackage path, MLModel, or a pymil Program (mb.program)
    execute(source, inputs, fp16=False) -> ExecutionResult
    ExecutionResult                      # outputs by name; largest |activation| per op and op type
    SUPPORTED_OPS                        # the MIL op types `execute` implements

Precision: fp32 mode computes every op in float32 and treats fp16 tensors (and casts to fp16) as
float32, so it shows what the graph computes apart from activation rounding. fp16 mode computes
each op in float32 and rounds its result to float16, as an fp16 program (and the Neural Engine,
whatever the declared type) stores activations; a result beyond ±65504, inf or NaN raises
`Fp16OverflowError` naming the op. Inputs declared fp16 are rounded to fp16 in both modes.

Every op's result is checked against the shape and dtype the program declares for it, and a
kernel failing on its arguments (a damaged or hand-made program) raises `InvalidProgramError`
naming the op, so a wrong result never flows on silently.

Image inputs: for an ML program, coremltools writes an `ImageType`'s scale and bias into the
program as ops (`<input>__scaled__`, `<input>__biased__`), and a GRAYSCALE_FLOAT16 input is a
plain fp16 tensor. So pass pixels as (N, C, H, W) floats in 0-255 (fp16 values for
GRAYSCALE_FLOAT16), channels in the order the model declares: the program does the rest.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import coremltools as ct
import numpy as np
from coremltools.converters.mil.frontend.milproto.load import load as load_milproto
from coremltools.converters.mil.mil import Function, Operation, Program, Var, types

from dc2kit.convert.errors import (
    ExportError,
    Fp16OverflowError,
    InvalidProgramError,
    UnsupportedOpError,
    first_line,
)
from dc2kit.convert.mil_ops import KERNELS, NUMPY_DTYPES

SUPPORTED_OPS: frozenset[str] = frozenset({"const", *KERNELS})
FP16_MAX = float(np.finfo(np.float16).max)

ProgramSource = Program | ct.models.MLModel | str | os.PathLike


@dataclass(frozen=True)
class ExecutionResult:
    """A program's outputs (by output name) and the largest |value| each op produced.

    Float ops only (shape and index consts are left out); `max_abs_per_op_type` is the largest
    over all ops of a type and `op_type_counts` counts every executed op, consts included.
    """

    outputs: dict[str, np.ndarray]
    max_abs_per_op: dict[str, float]
    max_abs_per_op_type: dict[str, float]
    op_type_counts: dict[str, int]


def load_program(source: ProgramSource) -> Program:
    """A pymil Program from a saved .mlpackage, an MLModel, or a Program (returned as is)."""
    if isinstance(source, Program):
        return source
    if not isinstance(source, ct.models.MLModel) and not os.path.exists(source):
        raise ExportError(f"{source}: no such Core ML model")
    try:
        model = (
            source
            if isinstance(source, ct.models.MLModel)
            else ct.models.MLModel(os.fspath(source), skip_model_load=True)
        )
        spec = model.get_spec()
        kind = spec.WhichOneof("Type")
        if kind != "mlProgram":
            raise ExportError(f"{source}: a {kind} model, not an ML program; only those run here")
        return load_milproto(spec, spec.specificationVersion, model.weights_dir or "")
    except ExportError:
        raise
    except Exception as error:  # protobuf, the blob reader (C++) and the loader raise many types
        raise ExportError(f"{source}: not a loadable ML program ({first_line(error)})") from error


def execute(
    source: ProgramSource, inputs: Mapping[str, np.ndarray], *, fp16: bool = False
) -> ExecutionResult:
    """Run the main function on `inputs` (by input name) in float32, or emulating fp16."""
    function = load_program(source).functions["main"]
    values = _bind_inputs(function, inputs)
    max_abs_per_op: dict[str, float] = {}
    max_abs_per_op_type: dict[str, float] = {}
    counts: Counter[str] = Counter()
    for op in function.operations:
        value = _checked(op, _evaluate(op, values))
        counts[op.op_type] += 1
        if _is_float(value):
            peak = _max_abs(value)
            if fp16:
                _check_fp16_range(op, peak)
                value = value.astype(np.float16).astype(np.float32)
            max_abs_per_op[op.name] = peak
            max_abs_per_op_type[op.op_type] = max(peak, max_abs_per_op_type.get(op.op_type, 0.0))
        values[op.outputs[0].name] = value
    outputs = {var.name: np.array(values[var.name]) for var in function.outputs}
    return ExecutionResult(outputs, max_abs_per_op, max_abs_per_op_type, dict(counts))


def _bind_inputs(function: Function, inputs: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Check names and shapes, and give each input its declared dtype (fp16 is rounded)."""
    expected = set(function.inputs)
    if set(inputs) != expected:
        raise ValueError(
            f"program inputs are {sorted(expected)}, got {sorted(inputs)} "
            f"(missing {sorted(expected - set(inputs))}, unknown {sorted(set(inputs) - expected)})"
        )
    values: dict[str, Any] = {}
    for name, var in function.inputs.items():
        array = np.asarray(inputs[name])
        if not _shape_matches(var, array.shape):
            raise ValueError(f"input {name!r} has shape {array.shape}, program expects {var.shape}")
        values[name] = _as_declared_dtype(array, types.builtin_to_string(var.dtype))
    return values


def _shape_matches(var: Var, shape: tuple[int, ...]) -> bool:
    """Equal rank, and equal size wherever the program fixes one (symbols match anything)."""
    declared = var.shape
    return len(declared) == len(shape) and all(
        not isinstance(d, (int, np.integer)) or d == s for d, s in zip(declared, shape, strict=True)
    )


def _as_declared_dtype(array: np.ndarray, dtype: str) -> np.ndarray:
    if dtype == "fp16":
        return array.astype(np.float16).astype(np.float32)
    if dtype == "fp32":
        return array.astype(np.float32)
    return array.astype(types.nptype_from_builtin(types.string_to_builtin(dtype)))


def _evaluate(op: Operation, values: Mapping[str, Any]) -> Any:
    if op.op_type == "const":
        value = op.outputs[0].val
        return (
            value if isinstance(value, str) else _as_declared_dtype(np.asarray(value), _dtype(op))
        )
    kernel = KERNELS.get(op.op_type)
    if kernel is None:
        raise UnsupportedOpError(
            f"op type {op.op_type!r} (op {op.name!r}) is not implemented by the MIL executor; "
            f"it supports {sorted(SUPPORTED_OPS)}"
        )
    args = {name: _resolve(var, values) for name, var in op.inputs.items()}
    try:
        return kernel(args)
    except NotImplementedError as error:
        raise UnsupportedOpError(
            f"op {op.name!r} ({op.op_type}): {error} is not implemented by the MIL executor"
        ) from error
    except (ValueError, IndexError, TypeError, ArithmeticError) as error:
        raise InvalidProgramError(
            f"op {op.name!r} ({op.op_type}) fails on its arguments: {first_line(error)}"
        ) from error


def _dtype(op: Operation) -> str:
    return types.builtin_to_string(op.outputs[0].dtype)


def _checked(op: Operation, value: Any) -> Any:
    """`value` if it has the shape and dtype the program declares for the op's output."""
    if isinstance(value, str):
        return value
    value = np.asarray(value)
    declared = _dtype(op)
    expected = NUMPY_DTYPES.get(declared)
    if expected is not None and value.dtype != np.dtype(expected):
        raise InvalidProgramError(
            f"op {op.name!r} ({op.op_type}) gave {value.dtype} values where the program "
            f"declares {declared}"
        )
    if not _shape_matches(op.outputs[0], value.shape):
        raise InvalidProgramError(
            f"op {op.name!r} ({op.op_type}) gave shape {value.shape} where the program "
            f"declares {tuple(op.outputs[0].shape)}"
        )
    return value


def _resolve(var: Var | tuple[Var, ...], values: Mapping[str, Any]) -> Any:
    if isinstance(var, (list, tuple)):
        return [values[v.name] for v in var]
    return values[var.name]


def _is_float(value: Any) -> bool:
    return isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.floating)


def _max_abs(value: np.ndarray) -> float:
    return float(np.max(np.abs(value))) if value.size else 0.0


def _check_fp16_range(op: Operation, peak: float) -> None:
    if not peak <= FP16_MAX:  # also catches NaN
        raise Fp16OverflowError(
            f"op {op.name!r} ({op.op_type}) produces |x| = {peak:.6g}, beyond float16's "
            f"{FP16_MAX:g}: an fp16 program would give inf/NaN there"
        )
