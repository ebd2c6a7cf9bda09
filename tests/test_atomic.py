"""Atomic outputs: whole or absent, usual permissions, and killed runs' temporaries swept."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from dc2kit.atomic import (
    atomic_output,
    clean_stale_staging,
    move_into_place,
    staging_folder,
    write_atomically,
)

# A child that opens an atomic output (a file, or a staging folder), then waits to be killed.
_CHILD = """
import sys
from pathlib import Path
from dc2kit.atomic import atomic_output, staging_folder
folder = Path(sys.argv[1])
with atomic_output(folder / "model.tflite") as temporary, staging_folder(folder, "export") as stage:
    temporary.write_bytes(b"half")
    (stage / "model.tflite").write_bytes(b"half")
    print("ready", flush=True)
    sys.stdin.read()
"""


def _writer(folder: Path) -> subprocess.Popen:
    root = str(Path(__file__).resolve().parents[1])
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(folder)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": root},
        text=True,
    )
    assert child.stdout.readline().strip() == "ready"
    return child


def test_a_killed_runs_temporaries_are_swept_by_the_next_output(tmp_path):
    killed = _writer(tmp_path)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    left = sorted(p.name for p in tmp_path.iterdir())
    assert len(left) == 2 and all(name.startswith(f".dc2kit-{killed.pid}@") for name in left)
    foreign = [tmp_path / ".model.tflite.abc", tmp_path / f".dc2kit-{killed.pid}@0000beef.x.y"]
    for path in foreign:  # not ours (no tag), or ours from another host sharing the folder
        path.write_text("keep")
    write_atomically(tmp_path / "other.bin", b"x")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["other.bin", *(p.name for p in foreign)]
    )


def test_a_live_runs_temporaries_are_kept(tmp_path):
    live = _writer(tmp_path)
    try:
        clean_stale_staging(tmp_path)
        assert len(list(tmp_path.iterdir())) == 2
    finally:
        live.kill()
        live.wait()


def test_failure_keeps_the_old_output_and_leaves_no_temporary(tmp_path):
    destination = tmp_path / "out.bin"
    destination.write_bytes(b"old")

    def crash_mid_write() -> None:
        with atomic_output(destination) as temporary:
            temporary.write_bytes(b"new, half")
            raise RuntimeError("converter crashed")

    with pytest.raises(RuntimeError):
        crash_mid_write()
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]
    assert destination.read_bytes() == b"old"


def test_a_folder_replaces_a_folder_or_a_file(tmp_path):
    destination = tmp_path / "model.mlpackage"
    for old in ("folder", "file"):
        if old == "folder":
            destination.mkdir()
            (destination / "stale").write_text("old")
        else:
            destination.write_text("old")
        with staging_folder(tmp_path, "build") as stage:
            built = stage / "model.mlpackage"
            built.mkdir()
            (built / "weights.bin").write_bytes(b"new")
            move_into_place(built, destination)
        assert sorted(p.name for p in destination.iterdir()) == ["weights.bin"]
        assert [p.name for p in tmp_path.iterdir()] == ["model.mlpackage"]
        (destination / "weights.bin").unlink()
        destination.rmdir()


def test_outputs_get_umask_permissions_inside_folders_too(tmp_path):
    previous = os.umask(0o027)
    try:
        with atomic_output(tmp_path / "model.mlpackage", directory=True) as temporary:
            inner = temporary / "Data"
            inner.mkdir(mode=0o700)
            (inner / "model.mlmodel").write_bytes(b"spec")
            os.chmod(inner / "model.mlmodel", 0o600)  # as coremltools leaves it
        write_atomically(tmp_path / "manifest.json", b"{}")
    finally:
        os.umask(previous)
    modes = {
        p.relative_to(tmp_path).as_posix(): p.stat().st_mode & 0o777 for p in tmp_path.rglob("*")
    }
    assert modes == {
        "model.mlpackage": 0o750,
        "model.mlpackage/Data": 0o750,
        "model.mlpackage/Data/model.mlmodel": 0o640,
        "manifest.json": 0o640,
    }
