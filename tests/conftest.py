"""Shared fixtures. The expensive ones (a real conversion, a real benchmark run) are produced once
per test session, even across pytest-xdist workers, in a folder all workers share."""

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from filelock import FileLock

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture
def shared_file():
    """Path to a file under ../shared, skipping the test when the folder is absent."""

    def resolve(relative: str) -> Path:
        path = SHARED / relative
        if not path.exists():
            pytest.skip(f"{path} is absent (a user checkout has no ../shared)")
        return path

    return resolve


@pytest.fixture(scope="session")
def session_dir(tmp_path_factory, worker_id) -> Path:
    """A folder every xdist worker of this session sees (the base temp's parent under xdist)."""
    base = tmp_path_factory.getbasetemp()
    return base if worker_id == "master" else base.parent


def produced_once(root: Path, name: str, produce: Callable[[Path], None]) -> Path:
    """`root/name`, filled by `produce` by whichever worker gets there first; the others wait.
    A failed production leaves no marker, so the next worker tries again and fails the same way."""
    folder = root / name
    with FileLock(str(root / f"{name}.lock")):
        if not (folder / ".produced").exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            produce(folder)
            (folder / ".produced").touch()
    return folder


@dataclass(frozen=True)
class CliRun:
    returncode: int
    stdout: str
    stderr: str
    out: Path  # the command's --out folder


MOBILE_TFLITE_SIZE = (64, 96)  # (height, width)


@pytest.fixture(scope="session")
def mobile_tflite_cli(session_dir) -> CliRun:
    """`dc2kit export --target tflite` of the mobile preset (fp32, RANDOM weights, default
    lowering, --json), run once per session as a user runs it: a fresh interpreter whose stdout,
    stderr and --out folder the tests read. One conversion serves the export, verify, console and
    residency tests."""
    height, width = MOBILE_TFLITE_SIZE

    def produce(folder: Path) -> None:
        argv = [sys.executable, "-m", "dc2kit.cli", "export", "--target", "tflite"]
        argv += ["--preset", "mobile", "--size", f"{width}x{height}", "--precision", "fp32"]
        argv += ["--random-weights", "--json", "--out", str(folder / "export")]
        done = subprocess.run(argv, capture_output=True, text=True, env=os.environ)
        record = {"returncode": done.returncode, "stdout": done.stdout, "stderr": done.stderr}
        (folder / "run.json").write_text(json.dumps(record))

    folder = produced_once(session_dir, "mobile_tflite_cli", produce)
    record = json.loads((folder / "run.json").read_text())
    return CliRun(**record, out=folder / "export")


BENCH_TINY = (64, 96)  # (height, width)


@dataclass(frozen=True)
class BenchRun:
    work_dir: Path  # the harness's artifact cache, kept for the tests' second runs
    stages: list[tuple[str, str]]  # (runtime, stage) progress events, in order
    measurements: list  # dc2kit.bench.results.Measurement, one per runtime


@pytest.fixture(scope="session")
def tflite_bench_run(session_dir) -> BenchRun:
    """One real benchmark run of `tflite-fp32` then `tflite-fp32-lowmem` (mobile, tiny size, 1
    thread, RANDOM weights): one export shared by both runtimes and by the cache tests."""
    from dc2kit.bench.harness import run_benchmarks
    from dc2kit.bench.results import append_results, read_results
    from dc2kit.model.builder import WeightsChoice

    def produce(folder: Path) -> None:
        events = []
        measurements = run_benchmarks(
            "mobile",
            BENCH_TINY,
            ["tflite-fp32", "tflite-fp32-lowmem"],
            1,
            work_dir=folder / "work",
            progress=events.append,
            runs=3,
            seconds=0.0,
            warmup=1,
            weights=WeightsChoice.random(0),
        )
        append_results(folder / "results.jsonl", measurements)
        stages = [(event.runtime, event.stage) for event in events]
        (folder / "stages.json").write_text(json.dumps(stages))

    folder = produced_once(session_dir, "tflite_bench_run", produce)
    stages = [tuple(pair) for pair in json.loads((folder / "stages.json").read_text())]
    return BenchRun(folder / "work", stages, read_results(folder / "results.jsonl"))
