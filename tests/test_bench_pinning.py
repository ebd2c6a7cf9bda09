"""A benchmark run pins the graph code once, in the parent: its children name, build and measure
the cache entry of that code, whatever happens to the sources in the meantime.

The changed sources are a copy of dc2kit/model and dc2kit/convert that the fingerprint is pointed
at (in this process), or, for a real child, a parent whose key the child's sources cannot give.
No test converts: the one TFLite artifact measured is the session's (`tflite_bench_run`).
"""

import json
import shutil
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from dc2kit.bench import runtimes
from dc2kit.bench.errors import BenchError
from dc2kit.bench.harness import build_in_child, measure_in_child
from dc2kit.bench.protocol import Job
from dc2kit.bench.registry import RUNTIMES
from dc2kit.bench.runtimes import (
    Workload,
    built_from_pinned_sources,
    check_graph_code,
    graph_code_fingerprint,
)
from dc2kit.model.builder import WeightsChoice, resolve_weights

TINY = (64, 96)  # (height, width), the session fixture's
ORIGIN = resolve_weights("mobile", WeightsChoice.random(0))
OTHER_CODE = "0123456789"  # a parent's key from sources the child's are not


def _job(runtime: str, workload: Workload, work_dir: Path) -> Job:
    return Job(runtime, workload, str(work_dir), 3, 0.0, 1, 0.1, "dc2kit bench", "abc123")


@pytest.fixture
def sources_copy(tmp_path, monkeypatch) -> Path:
    """The graph's sources copied to a folder the fingerprint reads instead of the package."""
    root = tmp_path / "dc2kit"
    for package in ("model", "convert"):
        shutil.copytree(runtimes.GRAPH_CODE_ROOT / package, root / package)
    monkeypatch.setattr(runtimes, "GRAPH_CODE_ROOT", root)
    return root


def _edit(root: Path) -> None:
    source = sorted((root / "model").glob("*.py"))[0]
    source.write_text(source.read_text() + "\n# edited mid-run\n")


def test_a_workload_keeps_its_key_when_the_sources_change(sources_copy, tmp_path):
    workload = Workload("mobile", *TINY, threads=1, weights=ORIGIN)
    runtime = RUNTIMES["tflite-fp32"]
    artifact = runtime.artifact_path(workload, tmp_path)
    assert artifact.name.endswith(f"-code{workload.graph_code}-fp32-ops.tflite")
    check_graph_code(workload)  # the sources it was made with

    _edit(sources_copy)
    changed = graph_code_fingerprint()
    assert changed != workload.graph_code
    child = Job.from_dict(json.loads(json.dumps(asdict(_job("tflite-fp32", workload, tmp_path)))))
    assert child.workload.graph_code == workload.graph_code  # the worker's payload carries it
    assert runtime.artifact_path(child.workload, tmp_path) == artifact
    assert Workload("mobile", *TINY, threads=1, weights=ORIGIN).graph_code == changed  # a new run
    with pytest.raises(BenchError, match=f"graph code {workload.graph_code}, now {changed}"):
        check_graph_code(child.workload)


def test_the_fingerprint_reads_names_and_contents(sources_copy):
    pinned = graph_code_fingerprint()
    renamed = sources_copy / "convert" / "zz_moved.py"
    (sources_copy / "convert" / "targets.py").rename(renamed)
    assert graph_code_fingerprint() != pinned
    renamed.rename(sources_copy / "convert" / "targets.py")
    assert graph_code_fingerprint() == pinned


def _build_while_editing(workload: Workload, artifact: Path, sources: Path, other: Path) -> None:
    """A build that writes its entry (a file and a package folder) while its sources change, and
    meanwhile another run writes an entry of its own key."""
    with built_from_pinned_sources(workload, artifact):
        artifact.write_bytes(b"built from sources edited meanwhile")
        (artifact.parent / f"{workload.artifact_key}-fp16.mlpackage" / "Data").mkdir(parents=True)
        other.write_bytes(b"another run's")
        _edit(sources)


def test_a_build_outlived_by_its_sources_leaves_no_entry_of_its_key(sources_copy, tmp_path):
    workload = Workload("mobile", *TINY, threads=1, weights=ORIGIN)
    artifact = RUNTIMES["tflite-int8"].artifact_path(workload, tmp_path)
    artifact.parent.mkdir(parents=True)
    earlier = artifact.with_name(artifact.name.replace("-int8-", "-fp32-"))
    earlier.write_bytes(b"built by an earlier run of the same code")
    other_key = artifact.with_name(artifact.name.replace(workload.graph_code, OTHER_CODE))
    with built_from_pinned_sources(workload, artifact):  # unchanged: what it built stays
        artifact.write_bytes(b"fresh")
    assert artifact.exists()
    artifact.unlink()

    with pytest.raises(BenchError, match="changed since the run started"):
        _build_while_editing(workload, artifact, sources_copy, other_key)
    assert sorted(p.name for p in artifact.parent.iterdir()) == sorted(
        [earlier.name, other_key.name]
    )


def test_a_build_child_refuses_sources_other_than_its_runs(tmp_path):
    workload = Workload("mobile", *TINY, threads=1, weights=ORIGIN, graph_code=OTHER_CODE)
    with pytest.raises(BenchError, match=r"^tflite-fp32: build failed .*changed since the run"):
        build_in_child(_job("tflite-fp32", workload, tmp_path))
    assert not (tmp_path / "tflite").exists()  # refused before converting anything


def test_an_eager_child_refuses_sources_other_than_its_runs(tmp_path):
    workload = Workload("mobile", *TINY, threads=1, weights=ORIGIN, graph_code=OTHER_CODE)
    with pytest.raises(BenchError, match=r"^torch: measure failed .*changed since the run"):
        measure_in_child(_job("torch", workload, tmp_path))


def test_a_measure_child_opens_the_entry_of_its_parents_key(tflite_bench_run, tmp_path):
    """The parent's key names an entry the child's own sources would not: the child measures it
    (recomputing the key, it could not open the file), and the row names the parent's code."""
    (row, _) = tflite_bench_run.measurements
    built = Workload(
        "mobile", *TINY, threads=1, weights=ORIGIN, graph_code=row.provenance["graph_code"]
    )
    runtime = RUNTIMES["tflite-fp32"]
    session_artifact = runtime.artifact_path(built, tflite_bench_run.work_dir)
    assert session_artifact.exists()  # the session run's row names the code of its artifact
    assert OTHER_CODE not in (built.graph_code, graph_code_fingerprint())

    parents = replace(built, graph_code=OTHER_CODE)
    pinned = runtime.artifact_path(parents, tmp_path)
    pinned.parent.mkdir(parents=True)
    shutil.copyfile(session_artifact, pinned)
    measurement = measure_in_child(_job("tflite-fp32", parents, tmp_path))
    assert measurement.timings.runs == 3
    assert measurement.provenance["graph_code"] == OTHER_CODE
    assert measurement.provenance["git_commit"] == "abc123"  # the parent's, not the child's
    assert measurement.placement == row.placement  # the same artifact, delegated the same way
