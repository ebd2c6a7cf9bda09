"""Where a .tflite runs: how much of its graph LiteRT's CPU delegate (XNNPACK) takes, measured.

Two views from LiteRT itself, never inferred from the op list:

- the interpreter's: after `allocate_tensors` (which applies the default XNNPACK delegate), each
  partition XNNPACK claims is one extra `DELEGATE` node in subgraph 0. The ops of a partition are
  found by walking back from the delegate node's outputs to its inputs; every op left over runs
  on the interpreter's own kernels (and splits the graph into more partitions);
- `CompiledModel.is_fully_accelerated()`: LiteRT's newer runtime's verdict for the CPU accelerator.

Only subgraph 0 (the model) is counted: a composite's decomposition subgraph runs only when the
interpreter calls it, so a composite op is itself an undelegated op.
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from dc2kit.convert.errors import ExportError, first_line
from dc2kit.convert.tflite_report import read_tflite_subgraphs

DELEGATE_NODE = "DELEGATE"  # the interpreter's name for a node that a delegate replaced ops with


@dataclass(frozen=True)
class Residency:
    """How the CPU delegate covers subgraph 0: partitions, op counts, and what it left out."""

    delegate: str
    partitions: int
    delegated_ops: int
    undelegated_ops: int
    undelegated: dict[str, int]  # op label → count, as in the op histogram
    fully_accelerated: bool  # LiteRT CompiledModel.is_fully_accelerated()

    @property
    def complete(self) -> bool:
        """One partition holding every op, and LiteRT's CompiledModel agrees."""
        return self.partitions == 1 and self.undelegated_ops == 0 and self.fully_accelerated

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def as_placement(self) -> dict[str, Any]:
        """A benchmark row's `placement`, shaped as the phone runners' (one entry per delegate)."""
        delegate = {
            "delegate": self.delegate,
            "delegated_nodes": self.delegated_ops,
            "undelegated_nodes": self.undelegated_ops,
            "partitions": self.partitions,
        }
        return {
            "delegates": [delegate],
            "undelegated": self.undelegated,
            "fully_accelerated": self.fully_accelerated,
        }


@contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Keep LiteRT's native INFO lines (written to fd 2) off the console while it loads."""
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _partition_members(
    delegate_inputs: set[int], delegate_outputs: list[int], producer: dict[int, int], ops: list
) -> set[int]:
    """Indices of the original ops inside one partition: producers reached from its outputs
    without crossing its inputs (constants and graph inputs have no producer)."""
    members: set[int] = set()
    pending = [t for t in delegate_outputs if t not in delegate_inputs]
    while pending:
        index = producer.get(pending.pop())
        if index is None or index in members:
            continue
        members.add(index)
        pending.extend(int(t) for t in ops[index]["inputs"] if int(t) not in delegate_inputs)
    return members


def _interpreter_view(path: Path) -> tuple[int, set[int], int]:
    """(partitions, indices of delegated ops, number of original ops) of subgraph 0."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=1)
    interpreter.allocate_tensors()
    nodes = interpreter._get_ops_details()  # LiteRT's only per-node view
    original = [node for node in nodes if node["op_name"] != DELEGATE_NODE]
    producer = {int(t): i for i, node in enumerate(original) for t in node["outputs"]}
    delegated: set[int] = set()
    partitions = 0
    for node in nodes:
        if node["op_name"] == DELEGATE_NODE:
            partitions += 1
            inputs = {int(t) for t in node["inputs"]}
            outputs = [int(t) for t in node["outputs"]]
            delegated |= _partition_members(inputs, outputs, producer, original)
    return partitions, delegated, len(original)


def _compiled_model_fully_accelerated(path: Path) -> bool:
    from ai_edge_litert.compiled_model import CompiledModel

    model = CompiledModel.from_file(str(path))
    try:
        return bool(model.is_fully_accelerated())
    finally:
        model.close()


def xnnpack_residency(path: str | Path) -> Residency:
    """Measure how LiteRT's default CPU delegate (XNNPACK) covers the model at `path`."""
    path = Path(path)
    labels = [op.name for op in read_tflite_subgraphs(path)[0].ops]
    try:
        with _quiet_stderr():
            partitions, delegated, op_count = _interpreter_view(path)
            fully_accelerated = _compiled_model_fully_accelerated(path)
    except (ValueError, RuntimeError) as error:
        raise ExportError(
            f"{path}: LiteRT cannot load it to measure delegation ({first_line(error)})"
        ) from error
    if op_count != len(labels):
        raise ExportError(
            f"{path}: the interpreter sees {op_count} ops, the flatbuffer {len(labels)}"
        )
    left_out = Counter(label for index, label in enumerate(labels) if index not in delegated)
    return Residency(
        delegate="XNNPACK",
        partitions=partitions,
        delegated_ops=len(delegated),
        undelegated_ops=op_count - len(delegated),
        undelegated=dict(sorted(left_out.items())),
        fully_accelerated=fully_accelerated,
    )
