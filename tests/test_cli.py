"""The `dc2kit` command: info, forward, errors and exit codes."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dc2kit.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"


def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_info_mobile_fits_the_budget(capsys):
    report = _json(capsys, ["info", "--preset", "mobile", "--size", "1024x768", "--json"])
    assert report["size"] == {"width": 1024, "height": 768}
    total = report["modules"]["total"]
    assert total["gmac"] <= 60
    parts = ("refiner_w", "refiner_uw", "fusion")
    assert total["gmac"] == pytest.approx(sum(report["modules"][m]["gmac"] for m in parts))
    assert total["params"] == sum(report["modules"][m]["params"] for m in parts)
    for estimate in report["estimates"]:
        assert estimate["label"] == "estimate" and estimate["assumptions"]
        assert estimate["compute_ms"] == pytest.approx(2 * total["gmac"] / 8.7, rel=0.05)
        assert estimate["latency_ms"] == max(estimate["compute_ms"], estimate["memory_ms"])
    assert {e["device"].split(" (")[0] for e in report["estimates"]} == {
        "Snapdragon 8 Gen 2 NPU",
        "A16 Neural Engine",
    }


def test_info_paper_matches_the_readme_hand_derivation(capsys):
    match = re.search(r"hand-derived total: \*\*([\d.]+) GMAC\*\*", README.read_text())
    assert match, "README must state the hand-derived paper total at 512x512"
    report = _json(capsys, ["info", "--preset", "paper", "--size", "512x512", "--json"])
    stated = float(match.group(1))  # one decimal: a wrong row of the derivation moves it more
    assert report["modules"]["total"]["gmac"] == pytest.approx(stated, abs=0.05)


def test_info_table_labels_estimates(capsys):
    assert main(["info", "--preset", "paper", "--size", "256x256"]) == 0
    out = capsys.readouterr().out
    assert "refiner_uw" in out and "fusion" in out
    assert out.count("estimate") >= 3


def test_forward_reports_every_output(capsys):
    argv = ["forward", "--size", "64x32", "--runs", "1", "--random-weights", "--json"]
    report = _json(capsys, argv)
    assert report["weights"]["kind"] == "random"
    assert report["weights"]["label"] == "RANDOM (untrained) weights, seed 0"
    assert report["outputs"]["image"] == [1, 3, 32, 64]
    assert [s["factor"] for s in report["outputs"]["scales"]] == [8, 4, 2, 1]
    assert report["outputs"]["scales"][0]["mask_w"] == [1, 1, 4, 8]
    low, high = report["image_range"]
    assert -1 <= low <= high <= 1
    assert report["timing_ms"]["runs"] == 1


def test_forward_from_checkpoint(tmp_path, capsys):
    import torch

    from dc2kit.model import DC2Net, preset_config, save_dc2

    path = tmp_path / "paper.safetensors"
    torch.manual_seed(0)
    save_dc2(DC2Net(preset_config("paper", 32, 32)), path)
    report = _json(capsys, ["forward", "--checkpoint", str(path), "--size", "48x32", "--json"])
    assert report["preset"] == "paper"
    assert report["weights"]["kind"] == "checkpoint" and report["weights"]["path"] == str(path)
    assert report["outputs"]["image"] == [1, 3, 32, 48]


def test_a_missing_checkpoint_is_one_line_and_nonzero(capsys):
    assert main(["forward", "--checkpoint", "/nonexistent.safetensors"]) == 1
    err = capsys.readouterr().err.strip()
    assert "nonexistent.safetensors" in err and "\n" not in err
    assert err.startswith("dc2kit: error:")


def test_console_script_exit_codes():
    ok = subprocess.run([sys.executable, "-m", "dc2kit.cli", "info", "--json"], capture_output=True)
    assert ok.returncode == 0 and json.loads(ok.stdout)["preset"] == "mobile"
    bad = subprocess.run(
        [sys.executable, "-m", "dc2kit.cli", "info", "--size", "big"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 1 and "WxH" in bad.stderr
    assert bad.stderr.count("\n") == 1 and bad.stderr.startswith("dc2kit: error:")


def test_help_imports_no_heavy_library():
    script = (
        "import sys\n"
        "from dc2kit.cli import main\n"
        "for argv in (['--help'], ['render', '--help'], ['export', '--help'], ['bench', '-h']):\n"
        "    assert main(argv) == 0\n"
        "heavy = {'torch', 'coremltools', 'pillow_heif', 'ai_edge_litert', 'litert_torch'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_help_lists_every_capture_limit(capsys):
    from dc2kit.capture.limits import CAPTURE_LIMITS

    assert main(["--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())  # wrapped lines joined
    for limit in CAPTURE_LIMITS:
        assert " ".join(limit.line().split()) in help_text


def test_model_names_match_the_model_registries():
    from dc2kit.model import FORMULATIONS, PRESETS
    from dc2kit.names import FORMULATIONS as FORMULATION_NAMES
    from dc2kit.names import PRESET_NAMES

    assert set(PRESET_NAMES) == set(PRESETS)
    assert tuple(FORMULATION_NAMES) == tuple(FORMULATIONS)


BAD_COMMAND_LINES = [
    (["capture", "synth", "--size", "0x0", "--out", "{tmp}/a.jpg"], "--size"),
    (["capture", "synth", "--out", "{tmp}/missing/a.jpg"], "does not exist"),
    (["capture", "synth", "--out", "{tmp}/a.png"], "cannot write a .png"),
    (["forward", "--runs", "0"], "--runs"),
    (["forward", "--batch", "0"], "--batch"),
    (["forward", "--seed", "-1"], "--seed"),
    (["forward", "--size", "64x36"], "height must be a positive multiple of 8"),
    (["info", "--size", "1001x768"], "width must be a positive multiple of 8"),
    (["info", "--size", "16384x8"], "at most 8192"),
    (["info", "--preset", "huge"], "invalid choice: 'huge'"),
    (
        ["render", "x.jpg", "--focus", "1,1", "--blur-strength", "1e6", "--out", "{tmp}/a.png"],
        "--blur-strength",
    ),
    (
        ["render", "x.jpg", "--focus", "1,1", "--blur-strength", "nan", "--out", "{tmp}/a.png"],
        "--blur-strength",
    ),
    (["render", "x.jpg", "--focus", "1,1", "--fnumber", "0", "--out", "{tmp}/a.png"], "--fnumber"),
    (
        ["render", "x.jpg", "--focus", "1,1", "--blur-strength", "3", "--out", "{tmp}/x.txt"],
        "cannot write a .txt",
    ),
    (
        ["render", "x.jpg", "--focus", "inf,1", "--blur-strength", "3", "--out", "{tmp}/a.png"],
        "--focus",
    ),
    (
        [
            "render",
            "x.jpg",
            "--focus",
            "1,1",
            "--blur-strength",
            "3",
            "--max-side",
            "-1",
            "--out",
            "{tmp}/a.png",
        ],
        "--max-side",
    ),
    (
        ["render", "x.jpg", "--focus", "1,1", "--blur-strength", "3", "--out", "{tmp}"],
        "is a folder",
    ),
    (
        ["sweep", "x.jpg", "--blur-strength", "3", "--frames", "1", "--out", "{tmp}/a.mp4"],
        "--frames",
    ),
    (["sweep", "x.jpg", "--blur-strength", "3", "--fps", "0", "--out", "{tmp}/a.mp4"], "--fps"),
    (["sweep", "x.jpg", "--blur-strength", "3", "--out", "{tmp}/a.avi"], "cannot write a .avi"),
    (["export", "--target", "tflite", "--precision", "int4", "--out", "{tmp}/e"], "int4"),
    (
        ["export", "--target", "coreml", "--precision", "int8", "--out", "{tmp}/e"],
        "precision int8 is not available for coreml",
    ),
    (["bench", "--threads", "0"], "--threads"),
    (["bench", "--seconds", "-1"], "--seconds"),
    (["bench", "--runs", "0"], "--runs"),
    (["bench", "--json", "{tmp}/missing/out.json"], "does not exist"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    ([], "the following arguments are required: command"),
]


@pytest.mark.parametrize(("argv", "message"), BAD_COMMAND_LINES)
def test_a_bad_command_line_is_one_line_and_writes_nothing(argv, message, tmp_path, capsys):
    argv = [arg.replace("{tmp}", str(tmp_path)) for arg in argv]
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err
    assert err.startswith("dc2kit: error:") and err.count("\n") == 1 and message in err
    assert list(tmp_path.iterdir()) == []


NO_PAPER_WEIGHTS = (
    "no shipped weights for preset 'paper'; pass --checkpoint FILE or --random-weights"
)


@pytest.mark.parametrize(
    "argv",
    [
        ["forward", "--preset", "paper", "--size", "32x32"],
        ["export", "--target", "tflite", "--preset", "paper", "--out", "{tmp}/e"],
        ["bench", "--preset", "paper", "--runtimes", "torch", "--work-dir", "{tmp}/w"],
    ],
)
def test_no_shipped_weights_is_one_line_naming_both_ways_out(argv, tmp_path, capsys):
    assert main([arg.replace("{tmp}", str(tmp_path)) for arg in argv]) == 1
    captured = capsys.readouterr()
    assert captured.err == f"dc2kit: error: {NO_PAPER_WEIGHTS}\n"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["forward", "--seed", "3"], "--seed applies to --random-weights only"),
        (["forward", "--random-weights", "--checkpoint", "x.safetensors"], "not allowed with"),
    ],
)
def test_weights_options_that_do_not_fit_together(argv, message, capsys):
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("dc2kit: error:") and message in err and err.count("\n") == 1


def test_errors_are_json_with_json(tmp_path, capsys):
    assert main(["forward", "--runs", "0", "--json"]) == 1
    assert "--runs" in json.loads(capsys.readouterr().out)["error"]
    assert main(["forward", "--checkpoint", str(tmp_path / "none.safetensors"), "--json"]) == 1
    captured = capsys.readouterr()
    assert "none.safetensors" in json.loads(captured.out)["error"]
    assert captured.err.startswith("dc2kit: error:") and captured.err.count("\n") == 1


def test_every_layer_error_is_a_dc2kit_error():
    from dc2kit.bench.errors import BenchError
    from dc2kit.capture.align import AlignmentError
    from dc2kit.capture.errors import CaptureError
    from dc2kit.convert.errors import ExportError
    from dc2kit.errors import Dc2kitError
    from dc2kit.model import ModelError
    from dc2kit.render.bokeh import RenderInputError
    from dc2kit.render.pipeline import RenderError

    for error in (
        BenchError,
        AlignmentError,
        CaptureError,
        ExportError,
        ModelError,
        RenderInputError,
        RenderError,
    ):
        assert issubclass(error, Dc2kitError), error


def _crash(args):
    raise ZeroDivisionError("division by zero")


def test_a_bug_says_so_in_one_line(monkeypatch, capsys):
    from dc2kit.cli import info

    monkeypatch.setattr(info, "cmd_info", _crash)  # a command with a defect
    assert main(["info"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "a bug in dc2kit: ZeroDivisionError: division by zero" in err and "report" in err
    assert main(["info", "--verbose"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.rstrip().endswith(
        "please report it with the command line (rerun with --verbose for the traceback)"
    )


def test_bench_writes_results_with_provenance(tmp_path, capsys):
    out, log = tmp_path / "out.json", tmp_path / "model.jsonl"
    argv = [
        "bench",
        "--size",
        "64x48",
        "--runtimes",
        "torch",
        "--runs",
        "2",
        "--seconds",
        "0",
        "--warmup",
        "0",
        "--threads",
        "1",
        "--work-dir",
        str(tmp_path / "cache"),
        "--json",
        str(out),
        "--append",
        str(log),
        "--random-weights",
    ]
    assert main(argv) == 0
    assert "weights: RANDOM (untrained)" in capsys.readouterr().out
    (result,) = json.loads(out.read_text())
    assert result["runtime"] == "torch"
    assert result["config"]["weights"] == "RANDOM (untrained) weights, seed 0"
    assert result["source"] == "measured"
    assert result["config"]["threads"] == 1
    provenance = result["provenance"]
    assert {"git_commit", "cpu_model", "cores", "threads", "os", "date", "command"} <= set(
        provenance
    )
    assert len(log.read_text().splitlines()) == 1


def test_bench_rejects_an_unknown_runtime(tmp_path, capsys):
    argv = ["bench", "--runtimes", "torch,onnx", "--work-dir", str(tmp_path), "--random-weights"]
    assert main(argv) == 1
    assert "onnx" in capsys.readouterr().err


def test_bench_report_from_no_results(tmp_path, capsys):
    report = tmp_path / "REPORT.md"
    argv = [
        "bench-report",
        "--results",
        str(tmp_path / "none"),
        "--report",
        str(report),
        "--plots",
        str(tmp_path / "plots"),
    ]
    assert main(argv) == 0
    from dc2kit.bench.report.targets import compute_targets

    assert report.read_text().count("**no data**") == len(compute_targets([])) == 5
