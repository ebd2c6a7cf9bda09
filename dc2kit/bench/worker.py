"""The benchmarks' child processes: `python -m dc2kit.bench.worker SPEC.json`, and how to start one.

Each configuration is measured in a fresh interpreter so that its peak RSS, allocator caches and
runtime arenas are its own. The parent writes a spec, `{"task": NAME, "payload": {...}}`, to a
temporary file and runs this module on it; the task's result is the last stdout line, as JSON.
A failing task ends with its traceback on stderr and a non-zero status, which the parent turns
into a one-line reason. This is internal plumbing, not a command line: the only one is `dc2kit`.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

# Task name → (module, function taking the payload dict and returning a JSON-able result).
# Named rather than imported: the child imports only what its task needs.
TASKS = {
    "model-build": ("dc2kit.bench.protocol", "build_task"),
    "model-measure": ("dc2kit.bench.protocol", "measure_task"),
    "kernel_predict-measure": ("dc2kit.bench.micro", "measure_task"),
}
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
USAGE = "usage: python -m dc2kit.bench.worker SPEC.json (started by dc2kit's benchmarks)"

# Runs a command and ends as it did (re-raising the signal that killed it, if one did).
_LAUNCHER = (
    sys.executable,
    "-c",
    "import os, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
    "os.kill(os.getpid(), -code) if code < 0 else sys.exit(code)",
)


def _unknown(task: object) -> str | None:
    """Why `task` cannot run, or None when it names a task."""
    return None if task in TASKS else f"unknown benchmark task {task!r}; known: {', '.join(TASKS)}"


def _child_environment(threads: int) -> dict[str, str]:
    """The parent's environment with BLAS/OpenMP pools sized to `threads` and this package first
    on the path (a source checkout measures its own code)."""
    package_root = str(Path(__file__).resolve().parents[2])
    path = os.pathsep.join(filter(None, (package_root, os.environ.get("PYTHONPATH"))))
    return {**os.environ, **dict.fromkeys(THREAD_VARIABLES, str(threads)), "PYTHONPATH": path}


def run_worker(task: str, payload: dict[str, Any], threads: int) -> subprocess.CompletedProcess:
    """Run `task` on `payload` in a fresh interpreter and return how it ended.

    Linux copies a process's peak RSS into its child across fork and exec, so a child of this
    (possibly torch-sized) process would report at least our peak. A small launcher in between is
    the measuring process's parent: what it inherits is the launcher's ~10 MiB.
    """
    problem = _unknown(task)
    if problem:
        raise ValueError(problem)
    with tempfile.TemporaryDirectory(prefix="dc2kit-bench-") as folder:
        spec = Path(folder) / "spec.json"
        spec.write_text(json.dumps({"task": task, "payload": payload}))
        return subprocess.run(
            [*_LAUNCHER, sys.executable, "-m", "dc2kit.bench.worker", str(spec)],
            capture_output=True,
            text=True,
            env=_child_environment(threads),
            check=False,
        )


def failure(completed: subprocess.CompletedProcess) -> str:
    """The child's last stderr line, or how it ended if it said nothing (e.g. killed for memory)."""
    lines = [line.strip() for line in completed.stderr.splitlines() if line.strip()]
    if lines:
        return lines[-1][:300]
    if completed.returncode < 0:
        return f"killed by signal {-completed.returncode}"
    return f"exit status {completed.returncode}"


def result(completed: subprocess.CompletedProcess) -> Any:
    """The task's result: the last line the child printed."""
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    """Run the task of one spec file and print its result as one JSON line."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(USAGE, file=sys.stderr)
        return 2
    spec = json.loads(Path(args[0]).read_text())
    problem = _unknown(spec.get("task"))
    if problem:
        print(problem, file=sys.stderr)
        return 2
    module, function = TASKS[spec["task"]]
    output = getattr(importlib.import_module(module), function)(spec["payload"])
    sys.stdout.write(json.dumps(output, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
