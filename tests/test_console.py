"""The console tells dc2kit's story: other libraries' output goes to dc2kit.log unless --verbose.

Each test runs a fresh interpreter, since native libraries print some lines once per process and
the capture works on the process's file descriptors.
"""

import json
import os
import subprocess
import sys
import textwrap

# Written by every kind of writer that bypasses our consoles: native code on fds 1 and 2 (libc
# printf included), Python's streams, warnings, logging and a child process.
NOISY_COMMAND = textwrap.dedent(
    """
    import argparse, ctypes, logging, os, subprocess, sys, warnings
    from dc2kit.cli.common import console, emit_json, errors
    from dc2kit.cli.quiet import other_libraries_logged, phases

    args = argparse.Namespace(command="demo", out=sys.argv[1], verbose=sys.argv[2] == "verbose")
    with other_libraries_logged(args, "demo"):
        os.write(1, b"NOISE native stdout\\n")
        os.write(2, b"NOISE native stderr\\n")
        ctypes.CDLL(None).printf(b"NOISE libc printf\\n")
        print("NOISE python print")
        print("NOISE python stderr", file=sys.stderr)
        warnings.warn("NOISE warning")
        logging.getLogger("library").warning("NOISE logging")
        subprocess.run(["sh", "-c", "echo NOISE child; echo NOISE child stderr >&2"], check=True)
        with phases(json_output=True) as timer:  # stdout carries JSON: phase lines on stderr
            timer.step("first phase")
            timer.step("second phase")
        errors.print("OURS progress")
        emit_json({"ours": True})
        if sys.argv[3] == "fail":
            raise SystemExit(1)
    """
)
NOISE = (
    "native stdout",
    "native stderr",
    "libc printf",
    "python print",
    "python stderr",
    "warning",
    "logging",
    "child",
    "child stderr",
)


def _noisy(tmp_path, mode="quiet", outcome="succeed"):
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    scratch = tmp_path / "tmp"
    scratch.mkdir(exist_ok=True)
    env = {**os.environ, "TMPDIR": str(scratch)}  # the log of a failed run goes there
    argv = [sys.executable, "-c", NOISY_COMMAND, str(out / "result.png"), mode, outcome]
    return subprocess.run(argv, capture_output=True, text=True, env=env), out, scratch


def test_every_kind_of_foreign_output_goes_to_the_log(tmp_path):
    done, out, _ = _noisy(tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"ours": True}  # stdout stays pure JSON
    log = (out / "dc2kit.log").read_text()
    assert log.startswith("==== dc2kit demo (started ")
    for noise in NOISE:
        assert f"NOISE {noise}\n" in log, noise
    lines = done.stderr.splitlines()
    assert [line.split()[:2] for line in lines[:2]] == [["first", "phase"], ["second", "phase"]]
    assert all(line.endswith(" s") for line in lines[:2])
    assert lines[2:] == ["OURS progress", f"other libraries' output: {out / 'dc2kit.log'}"]


def test_verbose_shows_everything_and_writes_no_log(tmp_path):
    done, out, _ = _noisy(tmp_path, mode="verbose")
    assert done.returncode == 0
    for noise in NOISE:
        assert f"NOISE {noise}" in done.stdout + done.stderr, noise
    assert "OURS progress" in done.stderr and '"ours": true' in done.stdout
    assert not (out / "dc2kit.log").exists()


def test_a_failed_run_leaves_its_log_out_of_the_output_folder(tmp_path):
    done, out, scratch = _noisy(tmp_path, outcome="fail")
    assert done.returncode == 1
    assert list(out.iterdir()) == []
    assert "NOISE native stderr" in (scratch / "dc2kit.log").read_text()
    assert "NOISE" not in done.stdout + done.stderr


def _cli(*argv):
    command = [sys.executable, "-m", "dc2kit.cli", *argv]
    return subprocess.run(command, capture_output=True, text=True, env=os.environ)


THIRD_PARTY_LINES = (
    "Created TensorFlow Lite XNNPACK delegate",  # LiteRT's C++ (native stderr)
    "absl::InitializeLog",  # absl's C++ logging
    "FutureWarning",  # torch.export through Python's warnings
)


def test_an_export_prints_our_phases_and_logs_the_libraries(mobile_tflite_cli):
    exported, out = mobile_tflite_cli, mobile_tflite_cli.out
    assert exported.returncode == 0, exported.stderr
    (artifact,) = json.loads(exported.stdout)["artifacts"]
    for phase in ("building the model", "converting", "checking parity", "writing manifest"):
        assert f"tflite: {phase}" in exported.stderr
    log = (out / "dc2kit.log").read_text()
    for line in THIRD_PARTY_LINES:
        assert line in log and line not in exported.stdout + exported.stderr, line
    assert exported.stderr.endswith(f"other libraries' output: {out / 'dc2kit.log'}\n")

    verbose = _cli("verify", "--verbose", str(out / artifact["artifact"]))
    assert verbose.returncode == 0, verbose.stderr
    assert THIRD_PARTY_LINES[0] in verbose.stderr


def test_phase_lines_are_the_report_and_a_failed_phase_prints_none(tmp_path):
    script = textwrap.dedent(
        """
        from dc2kit.cli.quiet import phases
        with phases() as timer:
            timer.step("done phase")
        try:
            with phases() as timer:
                timer.step("failing phase")
                raise RuntimeError
        except RuntimeError:
            pass
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.splitlines()
    assert line.split()[:2] == ["done", "phase"] and line.endswith(" s")
    assert done.stderr == ""


def test_litert_torch_progress_lines_are_off_unless_verbose(monkeypatch, tmp_path):
    """litert-torch reads LITERT_TORCH_SHOW_PROGRESS when it converts (in this process or in a
    bench child, which inherits the environment); --verbose leaves its [START]/[DONE] lines on."""
    import argparse

    from dc2kit.cli.quiet import other_libraries_logged

    for verbose, expected in ((True, None), (False, "n")):
        monkeypatch.delenv("LITERT_TORCH_SHOW_PROGRESS", raising=False)
        args = argparse.Namespace(command="demo", out=str(tmp_path / "x"), verbose=verbose)
        with other_libraries_logged(args, "demo"):
            seen = os.environ.get("LITERT_TORCH_SHOW_PROGRESS")
        assert seen == expected
