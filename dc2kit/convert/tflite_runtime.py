"""Run a .tflite in LiteRT's interpreter: one named signature on exactly its inputs, NCHW or NHWC.

`dc2kit.convert.tflite` re-exports `run_tflite` and `tflite_runner`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from dc2kit.convert.errors import ExportError

Runner = Callable[[Mapping[str, np.ndarray]], dict[str, np.ndarray]]


def _signature_runner(path: Path, signature_name: str | None, threads: int) -> Runner:
    """A callable running one signature (the only one by default) on exactly its named inputs."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=threads)
    signatures = interpreter.get_signature_list()
    if signature_name is None and len(signatures) == 1:
        signature_name = next(iter(signatures))
    if signature_name not in signatures:
        raise ExportError(f"{path}: name one of the signatures {sorted(signatures)}")
    expected = set(signatures[signature_name]["inputs"])
    runner = interpreter.get_signature_runner(signature_name)

    def run(inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        if set(inputs) != expected:
            raise ExportError(
                f"{path}: inputs {sorted(inputs)} given, signature takes {sorted(expected)}"
            )
        return runner(**{k: np.ascontiguousarray(v, np.float32) for k, v in inputs.items()})

    return run


def run_tflite(
    path: str | Path,
    inputs: Mapping[str, np.ndarray],
    *,
    threads: int = 2,
    signature_name: str | None = None,
) -> dict[str, np.ndarray]:
    """Run one signature (the only one by default) in LiteRT's interpreter on named inputs.

    Inputs are given in the artifact's own layout (NCHW, or NHWC for a channels-last export).
    """
    return _signature_runner(Path(path), signature_name, threads)(inputs)


def tflite_runner(
    path: str | Path,
    *,
    channels_last: bool = False,
    signature_name: str | None = None,
    threads: int = 2,
) -> Runner:
    """A reusable runner of the artifact at `path` taking and returning NCHW arrays.

    The form `dc2kit.convert.parity.check_parity` compares against PyTorch; for a channels-last
    artifact it transposes at the boundary.
    """
    run = _signature_runner(Path(path), signature_name, threads)
    if not channels_last:
        return run

    def run_channels_last(inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        outputs = run({name: value.transpose(0, 2, 3, 1) for name, value in inputs.items()})
        return {name: value.transpose(0, 3, 1, 2) for name, value in outputs.items()}

    return run_channels_last
