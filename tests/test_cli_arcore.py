"""ARCore depth from the command line: `FILE --arcore-depth RAW|PNG [--arcore-depth-size WxH]`.

Buffers are built here from the formula of docs/capture-formats.md (uint16 millimetres in all
16 bits, little-endian, 0: no estimate; confidence uint8 0..255), not with dc2kit's code, and
read back through the CLI; rotations are checked against numpy's. The size, stride and rotation
flags share DEPTH16's definitions (cli/raw_depth.py), so the bad-input cases here are the ones
that differ: odd sides, PNG dumps, the confidence image.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from raw_dumps import assert_read_as_displayed, gradient_photo, padded_rows

from dc2kit.cli import build_parser, main
from dc2kit.cli.capture import open_record

WIDTH, HEIGHT = 7, 5  # odd sides: ARCore has no DEPTH16 evenness rule
DEPTH_STRIDE, CONFIDENCE_STRIDE = 16, 8  # 14 + 2 and 7 + 1 bytes of padding per row
PHOTO_SCALE = 8
SIZE = f"{WIDTH}x{HEIGHT}"


def _millimetres() -> np.ndarray:
    """Every row different, holes (0), and values above DEPTH16's 13 bits (up to 65535)."""
    values = (np.arange(WIDTH * HEIGHT, dtype=np.uint32).reshape(HEIGHT, WIDTH) * 1871) % 65536
    values[1, 2], values[4, 6] = 0, 65535
    return values.astype(np.uint16)


def _confidence() -> np.ndarray:
    return ((np.arange(WIDTH * HEIGHT).reshape(HEIGHT, WIDTH) * 37) % 256).astype(np.uint8)


def _raw_dumps(tmp_path: Path) -> tuple[Path, Path]:
    depth, confidence = tmp_path / "depth.raw", tmp_path / "confidence.raw"
    depth_bytes = _millimetres().astype("<u2").view(np.uint8).reshape(HEIGHT, 2 * WIDTH)
    depth.write_bytes(padded_rows(depth_bytes, DEPTH_STRIDE))
    confidence.write_bytes(padded_rows(_confidence(), CONFIDENCE_STRIDE))
    return depth, confidence


def _png_dumps(tmp_path: Path) -> tuple[Path, Path]:
    depth, confidence = tmp_path / "depth.png", tmp_path / "confidence.png"
    Image.fromarray(_millimetres()).save(depth)
    Image.fromarray(_confidence()).save(confidence)
    return depth, confidence


def _photo(tmp_path: Path) -> Path:
    return gradient_photo(tmp_path, WIDTH * PHOTO_SCALE, HEIGHT * PHOTO_SCALE)


def _expected() -> tuple[np.ndarray, np.ndarray]:
    """Depth in metres (NaN: no estimate) and confidence by the formula, as stored."""
    millimetres = _millimetres().astype(np.float64)
    return np.where(millimetres > 0, millimetres / 1000, np.nan), _confidence() / 255.0


def _raw_argv(tmp_path: Path) -> list[str]:
    depth, confidence = _raw_dumps(tmp_path)
    return [
        *("--arcore-depth", str(depth), "--arcore-depth-size", SIZE),
        *("--arcore-depth-stride", str(DEPTH_STRIDE), "--arcore-confidence", str(confidence)),
        *("--arcore-confidence-stride", str(CONFIDENCE_STRIDE)),
    ]


def _png_argv(tmp_path: Path) -> list[str]:
    depth, confidence = _png_dumps(tmp_path)
    return ["--arcore-depth", str(depth), "--arcore-confidence", str(confidence)]


@pytest.mark.parametrize("form", [_raw_argv, _png_argv])
@pytest.mark.parametrize("rotation", [None, 90, 180, 270])
def test_arcore_depth_reads_by_the_formula_and_turns_for_display(tmp_path, form, rotation):
    argv = ["capture", "info", str(_photo(tmp_path)), *form(tmp_path)]
    argv += [] if rotation is None else ["--rotation", str(rotation)]
    record = open_record(build_parser().parse_args(argv))
    assert_read_as_displayed(record, tmp_path / "photo.png", *_expected(), rotation)
    assert record.source_format == "arcore_depth16" and record.units.value == "m"
    if rotation is not None:
        code = {90: 6, 180: 3, 270: 8}[rotation]
        assert record.orientation == code
        assert any(f"orientation {code} given by --rotation {rotation}" in n for n in record.notes)


def test_capture_info_reports_arcore_depth_alone(tmp_path, capsys):
    assert main(["capture", "info", *_raw_argv(tmp_path), "--rotation", "90", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["image"] is None and summary["format"] == "arcore_depth16"
    depth = summary["depth"]
    assert (depth["width"], depth["height"]) == (HEIGHT, WIDTH) and depth["confidence"]
    assert (depth["kind"], depth["units"], depth["accuracy"]) == ("depth", "m", "absolute")
    assert depth["max"] == pytest.approx(65.535) and depth["holes"] == 2  # index 0 and [1, 2]
    assert (
        summary["notes"][0]
        == "no photo given: the depth alone, beside a black stand-in of its size"
    )


def test_render_arcore_depth_with_its_lens_given_as_flags(tmp_path, capsys):
    out = tmp_path / "out.png"
    argv = ["render", str(_photo(tmp_path)), *_png_argv(tmp_path), "--rotation", "270"]
    argv += ["--focus", "20,30", "--fnumber", "2", "--focal-length-px", "60"]
    argv += ["--pixel-pitch-mm", "0.05", "--max-side", "0", "--out", str(out), "--json"]
    assert main(argv) == 0, capsys.readouterr().err
    assert Image.open(out).size == (HEIGHT * PHOTO_SCALE, WIDTH * PHOTO_SCALE)  # displayed


def _with(argv: list[str], flag: str, value: str | None) -> list[str]:
    """`argv` with `flag`'s value replaced (or the flag and its value left out, for None)."""
    at = argv.index(flag)
    return (
        argv[:at] + argv[at + 2 :] if value is None else [*argv[: at + 1], value, *argv[at + 2 :]]
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a, t: _with(a, "--arcore-depth-size", None), "needs --arcore-depth-size WxH"),
        (lambda a, t: _with(a, "--arcore-depth-size", "7x0"), "height must be positive"),
        (lambda a, t: _with(a, "--arcore-depth-size", "5000x4000"), "exceeds the 16000000"),
        (
            lambda a, t: _with(a, "--arcore-depth-size", "7x6"),
            "depth.raw: buffer has 78 bytes; 7x6 with stride 16 needs 94 to 96",
        ),
        (lambda a, t: _with(a, "--arcore-depth-stride", "12"), "row stride 12 is not an"),
        (lambda a, t: _with(a, "--arcore-depth-stride", "1"), "must be in [2, 65536], got 1"),
        (lambda a, t: _with(a, "--arcore-confidence-stride", "0"), "must be in [1, 65536]"),
        (lambda a, t: _with(a, "--arcore-confidence-stride", "9"), "confidence.raw: buffer has"),
        (lambda a, t: _with(a, "--arcore-confidence", None), "used with --arcore-confidence only"),
        (lambda a, t: [*a, "--rotation", "45"], "argument --rotation: invalid choice: 45"),
        (lambda a, t: [*a, "--depth16", "d.raw"], "--depth16 and --arcore-depth: give one"),
        (lambda a, t: [*a, "--depth-missing", "0"], "--depth-missing: used with --depth only"),
        (
            lambda a, t: [*_png_argv(t), "--arcore-depth-size", SIZE],
            "depth.png: --arcore-depth-size: a PNG carries its own size and rows",
        ),
        (
            lambda a, t: [*_png_argv(t), "--arcore-confidence-stride", "8"],
            "confidence.png: --arcore-confidence-stride: a PNG carries its own size and rows",
        ),
        (
            lambda a, t: _with(_png_argv(t), "--arcore-depth", str(t / "confidence.png")),
            "ARCore depth PNG must be 16-bit, found 8-bit",
        ),
    ],
)
def test_a_bad_arcore_command_line_is_one_line_and_writes_nothing(
    tmp_path, capsys, change, message
):
    out = tmp_path / "out" / "render.png"
    out.parent.mkdir()
    argv = ["render", str(_photo(tmp_path)), *change(_raw_argv(tmp_path), tmp_path)]
    assert main([*argv, "--focus", "1,1", "--blur-strength", "2", "--out", str(out)]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert captured.err.startswith("dc2kit: error:") and message in captured.err
    assert list(out.parent.iterdir()) == []


@pytest.mark.parametrize("extra", [["--arcore-depth-size", SIZE], ["--arcore-confidence", "c.png"]])
def test_arcore_options_without_a_dump_are_refused(tmp_path, capsys, extra):
    assert main(["capture", "info", str(_photo(tmp_path)), *extra]) == 1
    err = capsys.readouterr().err
    assert f"{extra[0]}: used with --arcore-depth only" in err and err.count("\n") == 1


def test_help_describes_the_arcore_form(capsys):
    assert main(["render", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    for phrase in ("--arcore-depth RAW|PNG", "--arcore-depth-size WxH", "--arcore-confidence"):
        assert phrase in text
    assert "acquireDepthImage16Bits" in text and "0: no estimate" in text
