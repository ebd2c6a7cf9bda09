"""`dc2kit train`, `evaluate` and `inspect` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from dc2kit.cli import main

CAPTURES = Path(__file__).resolve().parents[2] / "shared" / "data" / "captures"
HEIC = CAPTURES / "iphone13pro_portrait.heic"


def _json(capsys) -> dict:
    return json.loads(capsys.readouterr().out)


def _argv(command: str, *words: str, **options: object) -> list[str]:
    """`command`, `words`, then `--name value` per option (`--name` alone for True)."""
    argv = [command, *words]
    for name, value in options.items():
        argv.append("--" + name.replace("_", "-"))
        if value is not True:
            argv.append(str(value))
    return argv


def test_train_twenty_steps_lowers_the_loss(tmp_path, capsys):
    out = tmp_path / "run.safetensors"
    options = {"steps": 20, "crop": 64, "batch": 2, "lr": 0.0012, "warmup": 5, "threads": 1}
    argv = _argv("train", **options, validate_every=10, validation_batches=1, out=out, json=True)
    assert main(argv) == 0
    result = _json(capsys)
    assert result["steps"] == 20 and out.exists()
    first, last = result["validation"][0]["validation_psnr"], result["validation"][-1]
    assert last["validation_psnr"] > first
    config = result["config"]  # each flag reached its TrainConfig field
    assert (config["learning_rate"], config["warmup_steps"], config["threads"]) == (0.0012, 5, 1)
    assert (config["crop"], config["batch"], config["validate_every"]) == (64, 2, 10)


@pytest.mark.parametrize(
    "extra",
    [
        ["--steps", "0"],
        ["--steps", "5", "--batch", "0"],
        ["--steps", "5", "--crop", "1000"],
        ["--steps", "5", "--crop", "60"],
    ],
)
def test_bad_training_options_are_one_line_and_write_nothing(tmp_path, capsys, extra):
    out = tmp_path / "x.safetensors"
    assert main(["train", *extra, "--out", str(out)]) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith("dc2kit: error:") and "\n" not in error
    assert not out.exists()


def test_a_corrupt_resume_file_is_refused(tmp_path, capsys):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 64)
    out = tmp_path / "x.safetensors"
    assert main(["train", "--steps", "5", "--resume", str(bad), "--out", str(out)]) == 1
    assert "bad.safetensors" in capsys.readouterr().err
    assert not out.exists()


def test_evaluate_writes_a_report_labelled_random(tmp_path, capsys):
    report = tmp_path / "quality"
    argv = _argv("evaluate", random_weights=True, scenes=2, crop=32, report=report, json=True)
    assert main(argv) == 0
    result = _json(capsys)
    assert set(result["results"]) == {
        "refocus_near_far",
        "refocus_far_near",
        "all_in_focus",
        "shallow",
    }
    text = (report / "REPORT.md").read_text()
    assert "RANDOM" in text and "| all-in-focus | classical renderer on W |" in text
    assert Image.open(report / "examples.png").size[0] > 0


@pytest.mark.skipif(not HEIC.exists(), reason="needs ../shared/data/captures")
def test_inspect_writes_its_panel_on_a_real_capture(tmp_path, capsys):
    panel = tmp_path / "panel.png"
    render = {"focus": "2000,1500", "blur_strength": 8, "max_side": 256}
    w_defocus = {"w_focus_disparity": 2, "w_blur_strength": 4}
    options = {**render, **w_defocus, "random_weights": True, "out": panel, "json": True}
    argv = _argv("inspect", str(HEIC), **options)
    assert main(argv) == 0
    result = _json(capsys)
    assert "RANDOM" in result["weights"]["label"]
    assert [row["factor"] for row in result["scales"]] == [8, 4, 2, 1]
    for row in result["scales"]:
        assert 0 <= row["uw_weight_mean"] <= 1
        assert row["uw_weight_where_w_blurred"] is not None  # W was given its own blur
    with Image.open(panel) as image:
        assert image.size[0] > 500


def test_init_from_an_earlier_checkpoint_is_recorded_and_a_bad_one_is_one_line(tmp_path, capsys):
    from dataclasses import replace

    from dc2kit.model import DC2Net, preset_config, save_dc2

    earlier = tmp_path / "earlier.safetensors"
    save_dc2(DC2Net(replace(preset_config("mobile", 32, 32), fusion_sees_defocus=False)), earlier)
    out = tmp_path / "run.safetensors"
    options = {"steps": 1, "crop": 32, "batch": 1, "threads": 1, "validation_batches": 1}
    assert main(_argv("train", **options, init_from=earlier, out=out, json=True)) == 0
    assert _json(capsys)["config"]["init_from"] == str(earlier)
    from dc2kit.model.dc2_io import read_dc2_metadata

    facts = json.loads(read_dc2_metadata(out)["training"])
    assert facts["initialised_from"]["file"] == "earlier.safetensors"

    not_a_checkpoint = tmp_path / "notes.safetensors"
    not_a_checkpoint.write_bytes(b"not safetensors")
    bad = tmp_path / "bad.safetensors"
    assert main(_argv("train", **options, init_from=not_a_checkpoint, out=bad)) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith("dc2kit: error:") and "notes.safetensors" in error
    assert "\n" not in error and not bad.exists()
