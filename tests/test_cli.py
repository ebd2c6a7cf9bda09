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
    assert report["modules"]["total"]["gmac"] == pytest.approx(float(match.group(1)), rel=0.05)


def test_info_table_labels_estimates(capsys):
    assert main(["info", "--preset", "paper", "--size", "256x256"]) == 0
    out = capsys.readouterr().out
    assert "refiner_uw" in out and "fusion" in out
    assert out.count("estimate") >= 3


def test_forward_reports_every_output(capsys):
    report = _json(capsys, ["forward", "--size", "64x32", "--runs", "1", "--json"])
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
    assert report["outputs"]["image"] == [1, 3, 32, 48]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["info", "--size", "1001x768"], "width must be a positive multiple of 8"),
        (["forward", "--size", "64x36"], "height must be a positive multiple of 8"),
        (["forward", "--checkpoint", "/nonexistent.safetensors"], "nonexistent.safetensors"),
    ],
)
def test_bad_input_is_one_line_and_nonzero(argv, message, capsys):
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and err.startswith("dc2kit: error:")


def test_console_script_exit_codes():
    ok = subprocess.run([sys.executable, "-m", "dc2kit.cli", "info", "--json"], capture_output=True)
    assert ok.returncode == 0 and json.loads(ok.stdout)["preset"] == "mobile"
    bad = subprocess.run(
        [sys.executable, "-m", "dc2kit.cli", "info", "--size", "big"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "WxH" in bad.stderr


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
    ]
    assert main(argv) == 0
    assert "torch" in capsys.readouterr().out
    (result,) = json.loads(out.read_text())
    assert result["runtime"] == "torch"
    assert result["source"] == "measured"
    assert result["config"]["threads"] == 1
    provenance = result["provenance"]
    assert {"git_commit", "cpu_model", "cores", "threads", "os", "date", "command"} <= set(
        provenance
    )
    assert len(log.read_text().splitlines()) == 1


def test_bench_rejects_an_unknown_runtime(tmp_path, capsys):
    argv = ["bench", "--runtimes", "torch,onnx", "--work-dir", str(tmp_path)]
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
    assert report.read_text().count("**no data**") == 3
