"""The shipped real captures: listed, licensed, packaged, and usable as `sample:<name>`."""

from __future__ import annotations

import fnmatch
import hashlib
import json
import tomllib
from pathlib import Path

import pytest

from dc2kit.cli import main
from dc2kit.samples import NOTICE, SAMPLES, SAMPLES_DIR, SampleError, resolve_capture

ROOT = Path(__file__).resolve().parents[1]
SHARED_SOURCES = ROOT.parent / "shared" / "data" / "captures" / "SOURCES.md"
LICENCE_MARKERS = {
    "BSD-3-Clause": "Redistributions in binary form must reproduce",
    "MIT": "Permission is hereby granted, free of charge",
}


def _listing(capsys) -> dict:
    assert main(["samples", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_listing_names_every_sample_with_its_path_size_and_licence(capsys):
    rows = {row["name"]: row for row in _listing(capsys)["samples"]}
    assert set(rows) == {"iphone", "lensblur"}
    for name, row in rows.items():
        path = Path(row["path"])
        assert path.is_file() and path.parent == SAMPLES_DIR
        assert row["bytes"] == path.stat().st_size > 10_000
        assert row["licence"] == SAMPLES[name].licence
    assert main(["samples"]) == 0
    text = capsys.readouterr().out
    assert "sample:iphone" in text and "BSD-3-Clause" in text and "MIT" in text


def test_notice_carries_each_licence_text_copyright_and_checksum():
    notice = NOTICE.read_text(encoding="utf-8")
    for sample in SAMPLES.values():
        digest = hashlib.sha256(sample.path.read_bytes()).hexdigest()
        assert digest in notice, sample.file
        assert sample.copyright in notice and LICENCE_MARKERS[sample.licence] in notice


@pytest.mark.skipif(not SHARED_SOURCES.is_file(), reason="../shared/data/captures is absent")
def test_samples_are_the_files_sources_md_allows_to_ship():
    sources = SHARED_SOURCES.read_text(encoding="utf-8")
    for sample in SAMPLES.values():
        digest = hashlib.sha256(sample.path.read_bytes()).hexdigest()
        row = next(line for line in sources.splitlines() if line.startswith(f"| `{sample.file}`"))
        assert digest in row and sample.licence in row


def test_package_data_ships_every_sample_file_and_the_notice():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["dc2kit.samples"]
    for path in [NOTICE, *(sample.path for sample in SAMPLES.values())]:
        assert any(fnmatch.fnmatch(path.name, pattern) for pattern in patterns), path.name


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_sample_name_opens_the_real_capture(name, capsys):
    assert main(["capture", "info", f"sample:{name}", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    sample = SAMPLES[name]
    assert summary["file"] == str(sample.path)
    assert summary["format"] == sample.format
    assert (summary["image"]["width"], summary["image"]["height"]) == (sample.width, sample.height)
    assert summary["depth"]["min"] < summary["depth"]["max"]


def test_render_takes_a_sample_name(tmp_path, capsys):
    out = tmp_path / "lensblur.png"
    argv = ["render", "sample:lensblur", "--focus", "290,700", "--blur-strength", "6"]
    assert main([*argv, "--max-side", "128", "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert out.is_file() and report["size"]["height"] == 128 // 8 * 8


def test_an_unknown_sample_is_refused_in_one_line(tmp_path, capsys):
    with pytest.raises(SampleError, match="sample:iphone, sample:lensblur"):
        resolve_capture("sample:pixel9")
    out = tmp_path / "x.png"
    argv = ["render", "sample:pixel9", "--focus", "1,1", "--blur-strength", "4"]
    assert main([*argv, "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such sample" in err and not out.exists()


def test_a_plain_path_is_a_path():
    assert resolve_capture("photos/sample.jpg") == Path("photos/sample.jpg")
