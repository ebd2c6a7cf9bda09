"""Read what a .tflite file holds: its ops per subgraph, and LiteRT's own analysis of it.

The ops come from the flatbuffer (ai-edge-litert's bundled schema), so a composite is reported by
its name (`STABLEHLO_COMPOSITE(dc2kit.kernel_predict)`) and its decomposition subgraphs are
listed too: what an NPU compiler sees as one op, the CPU runs as that subgraph. The GPU-delegate
verdict is LiteRT's model analyzer's, parsed from its text.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ai_edge_litert import _pywrap_analyzer_wrapper
from ai_edge_litert import schema_py_generated as schema
from flatbuffers import flexbuffers

from dc2kit.convert.errors import ExportError

COMPOSITE_OP = "STABLEHLO_COMPOSITE"
_OP_NAMES = {code: name for name, code in vars(schema.BuiltinOperator).items() if name.isupper()}
_GPU_OK = re.compile(r"looks compatible with GPU delegate")
_GPU_WARNING = re.compile(r"GPU COMPATIBILITY WARNING")


@dataclass(frozen=True)
class TFLiteOp:
    """One operator: its label (composites carry their name) and its tensor indices."""

    name: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    composite_name: str | None = None
    composite_attributes: dict[str, object] | None = None


@dataclass(frozen=True)
class TFLiteSubgraph:
    """One subgraph in execution order; subgraph 0 is the model, later ones are decompositions."""

    index: int
    name: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    ops: tuple[TFLiteOp, ...]
    max_rank: int = 0  # the highest tensor rank in the subgraph

    def consumers(self, tensor: int) -> tuple[str, ...]:
        """Names of the ops that read `tensor` (e.g. a graph input)."""
        return tuple(op.name for op in self.ops if tensor in op.inputs)

    def producers(self, tensor: int) -> tuple[str, ...]:
        """Names of the ops that write `tensor` (e.g. a graph output)."""
        return tuple(op.name for op in self.ops if tensor in op.outputs)


@dataclass(frozen=True)
class TFLiteReport:
    """Ops of every subgraph and the analyzer's GPU-delegate verdict (`None`: it gave none)."""

    path: Path
    subgraphs: tuple[TFLiteSubgraph, ...]
    op_histogram: dict[str, int]
    gpu_compatible: bool | None
    gpu_verdict: tuple[str, ...]
    analyzer_text: str


def composite_label(name: str) -> str:
    """The histogram key of a StableHLO composite op with this name."""
    return f"{COMPOSITE_OP}({name})"


def _composite(op: schema.Operator) -> tuple[str, dict[str, object]] | None:
    """(name, attributes) of a StableHLO composite op; attributes are a flexbuffer map."""
    if op.BuiltinOptions2Type() != schema.BuiltinOptions2.StableHLOCompositeOptions:
        return None
    table = op.BuiltinOptions2()
    options = schema.StableHLOCompositeOptions()
    options.Init(table.Bytes, table.Pos)
    attributes = (
        {}
        if options.CompositeAttributesIsNone()
        else flexbuffers.Loads(options.CompositeAttributesAsNumpy().tobytes())
    )
    return options.Name().decode(), attributes


def _op(model: schema.Model, op: schema.Operator) -> TFLiteOp:
    code = model.OperatorCodes(op.OpcodeIndex())
    builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
    label = _OP_NAMES.get(builtin, f"BUILTIN_{builtin}")
    composite_name, attributes = _composite(op) or (None, None)
    if composite_name is not None:
        label = composite_label(composite_name)
    elif label == "CUSTOM":
        label = f"CUSTOM({(code.CustomCode() or b'').decode()})"
    return TFLiteOp(
        name=label,
        inputs=tuple(int(t) for t in op.InputsAsNumpy()) if op.InputsLength() else (),
        outputs=tuple(int(t) for t in op.OutputsAsNumpy()) if op.OutputsLength() else (),
        composite_name=composite_name,
        composite_attributes=attributes,
    )


def _subgraph(model: schema.Model, index: int) -> TFLiteSubgraph:
    graph = model.Subgraphs(index)
    ops = [_op(model, graph.Operators(i)) for i in range(graph.OperatorsLength())]
    return TFLiteSubgraph(
        index=index,
        name=(graph.Name() or b"").decode(),
        inputs=tuple(int(t) for t in graph.InputsAsNumpy()),
        outputs=tuple(int(t) for t in graph.OutputsAsNumpy()),
        ops=tuple(ops),
        max_rank=max(
            (graph.Tensors(i).ShapeLength() for i in range(graph.TensorsLength())), default=0
        ),
    )


def read_tflite_subgraphs(path: str | Path) -> tuple[TFLiteSubgraph, ...]:
    """Every subgraph of the flatbuffer at `path` with its ops (no weights are decoded)."""
    try:
        buffer = Path(path).read_bytes()
        model = schema.Model.GetRootAs(buffer, 0)
        return tuple(_subgraph(model, i) for i in range(model.SubgraphsLength()))
    except (OSError, ValueError, IndexError, UnicodeDecodeError) as error:
        raise ExportError(f"{path}: cannot read the TFLite flatbuffer ({error})") from error


def count_ops(subgraphs: tuple[TFLiteSubgraph, ...]) -> dict[str, int]:
    """Op label → count over `subgraphs`, composites counted by name."""
    return dict(Counter(op.name for graph in subgraphs for op in graph.ops))


def composite_names(subgraphs: tuple[TFLiteSubgraph, ...]) -> tuple[str, ...]:
    """The name of every StableHLO composite op, in subgraph and execution order."""
    return tuple(op.composite_name for g in subgraphs for op in g.ops if op.composite_name)


def tflite_op_histogram(path: str | Path) -> dict[str, int]:
    """Op label → count over all subgraphs (decompositions included), composites by name."""
    return count_ops(read_tflite_subgraphs(path))


def parse_gpu_verdict(text: str) -> tuple[bool | None, tuple[str, ...]]:
    """(compatible, verdict lines) from the analyzer's text; `None` when it states neither."""
    warnings = tuple(line.strip() for line in text.splitlines() if _GPU_WARNING.search(line))
    if warnings:
        return False, warnings
    verdict = tuple(line.strip() for line in text.splitlines() if _GPU_OK.search(line))
    return (True, verdict) if verdict else (None, ())


def analyze_tflite(path: str | Path) -> TFLiteReport:
    """The ops of `path` and LiteRT's model-analyzer report, GPU-delegate check included."""
    subgraphs = read_tflite_subgraphs(path)
    # The analyzer returns its report as a string (nothing reaches stdout in ai-edge-litert 2.3).
    text = _pywrap_analyzer_wrapper.ModelAnalyzer(str(path), True, True)
    compatible, verdict = parse_gpu_verdict(text)
    return TFLiteReport(
        path=Path(path),
        subgraphs=subgraphs,
        op_histogram=count_ops(subgraphs),
        gpu_compatible=compatible,
        gpu_verdict=verdict,
        analyzer_text=text,
    )
