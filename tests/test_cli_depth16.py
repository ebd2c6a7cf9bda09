"""A raw Camera2 DEPTH16 dump from the command line: `FILE --depth16 RAW --depth16-size WxH`.

The buffers are built here sample by sample (range in mm | confidence code << 13, padded rows),
not with dc2kit's encoder, and the values that come back are checked against the DEPTH16
formula of docs/capture-formats.md: range = v & 0x1FFF mm (0: no estimate), c = v >> 13,
confidence = 1 if c == 0 else (c − 1)/7. Rotations are checked against numpy's.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import ExifTags, Image
from raw_dumps import NUMPY_TURNS, assert_read_as_displayed, gradient_photo, padded_rows

from dc2kit.cli import build_parser, main
from dc2kit.cli.capture import open_record

WIDTH, HEIGHT, STRIDE = 8, 6, 24  # 16 bytes of samples and 8 of padding per row
PHOTO_SCALE = 8  # the photo is 64×48: the buffer's aspect
SIZE, ROW = f"{WIDTH}x{HEIGHT}", str(STRIDE)


def _samples() -> tuple[np.ndarray, np.ndarray]:
    """(range in mm, confidence code) with every code, the extremes 1 and 8191 mm, and holes."""
    millimetres = (np.arange(WIDTH * HEIGHT, dtype=np.uint16).reshape(HEIGHT, WIDTH) * 173) % 8192
    millimetres[0, 1], millimetres[5, 7] = 1, 8191
    millimetres[2, 3] = 0  # a hole whose confidence bits are set: still a hole
    codes = (np.arange(WIDTH * HEIGHT, dtype=np.uint16).reshape(HEIGHT, WIDTH) * 3) % 8
    return millimetres, codes


def _dump(tmp_path: Path, stride: int = STRIDE) -> Path:
    millimetres, codes = _samples()
    samples = (millimetres | (codes << 13)).astype("<u2")
    path = tmp_path / "depth.raw"
    path.write_bytes(padded_rows(samples.view(np.uint8).reshape(HEIGHT, 2 * WIDTH), stride))
    return path


def _photo(tmp_path: Path) -> Path:
    return gradient_photo(tmp_path, WIDTH * PHOTO_SCALE, HEIGHT * PHOTO_SCALE)


def _expected(rotation: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Depth in metres (NaN: no estimate) and confidence by the formula, turned for display."""
    millimetres, codes = _samples()
    depth = np.where(millimetres > 0, millimetres / 1000.0, np.nan)
    confidence = np.where(codes == 0, 1.0, (codes - 1) / 7.0)
    confidence = np.where(millimetres > 0, confidence, 0.0)  # dc2kit's: none where no estimate
    turns = NUMPY_TURNS[rotation]
    return np.rot90(depth, turns), np.rot90(confidence, turns)


def _argv(tmp_path: Path, *extra: str) -> list[str]:
    return [str(_photo(tmp_path)), "--depth16", str(_dump(tmp_path)), *extra]


@pytest.mark.parametrize("rotation", [None, 0, 90, 180, 270])
def test_a_depth16_dump_reads_by_the_formula_and_turns_for_display(tmp_path, rotation):
    extra = ["--depth16-size", f"{WIDTH}x{HEIGHT}", "--depth16-stride", str(STRIDE)]
    extra += [] if rotation is None else ["--rotation", str(rotation)]
    args = build_parser().parse_args(["capture", "info", *_argv(tmp_path, *extra)])
    record = open_record(args)
    assert_read_as_displayed(record, tmp_path / "photo.png", *_expected(None), rotation)
    assert record.source_format == "depth16"


def test_capture_info_reports_the_dump(tmp_path, capsys):
    argv = ["capture", "info", *_argv(tmp_path, "--depth16-size", f"{WIDTH}x{HEIGHT}")]
    argv += ["--depth16-stride", str(STRIDE), "--rotation", "90", "--json"]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    millimetres, _ = _samples()
    assert summary["format"] == "depth16" and summary["orientation"] == 6
    assert summary["image"] == {"width": HEIGHT * PHOTO_SCALE, "height": WIDTH * PHOTO_SCALE}
    depth = summary["depth"]
    assert (depth["width"], depth["height"]) == (HEIGHT, WIDTH)
    assert (depth["kind"], depth["units"], depth["accuracy"]) == ("depth", "m", "absolute")
    assert depth["holes"] == int(np.count_nonzero(millimetres == 0)) and depth["confidence"]
    assert depth["min"] == pytest.approx(0.001) and depth["max"] == pytest.approx(8.191)


def test_capture_info_describes_a_dump_without_its_photo(tmp_path, capsys):
    argv = ["capture", "info", "--depth16", str(_dump(tmp_path)), "--depth16-size", SIZE]
    assert main([*argv, "--depth16-stride", ROW, "--rotation", "180", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["image"] is None and summary["orientation"] == 3
    assert summary["notes"] == [
        "no photo given: the depth alone, beside a black stand-in of its size",
        "orientation 3 given by --rotation 180 applied to the photo and to the depth map, "
        "taken to share the photo's stored pixels",
    ]
    depth, _ = _expected(180)
    assert (summary["depth"]["width"], summary["depth"]["height"]) == (WIDTH, HEIGHT)
    assert summary["depth"]["max"] == pytest.approx(np.nanmax(depth))
    assert summary["depth"]["holes"] == int(np.isnan(depth).sum())
    assert main([*argv, "--depth16-stride", ROW]) == 0
    assert "no photo: the depth alone" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["capture", "info"], "FILE is required; only a raw dump (--depth16, --arcore-depth)"),
        (["render", "--depth16", "d.raw", "--depth16-size", "8x6"], "arguments are required: file"),
    ],
)
def test_only_capture_info_goes_without_the_photo(argv, message, capsys):
    assert (
        main([*argv, "--focus", "1,1", "--blur-strength", "2"] if argv[0] == "render" else argv)
        == 1
    )
    err = capsys.readouterr().err
    assert err.startswith("dc2kit: error:") and message in err and err.count("\n") == 1


def test_render_a_depth16_dump_with_its_lens_given_as_flags(tmp_path, capsys):
    out = tmp_path / "out.png"
    argv = ["render", *_argv(tmp_path, "--depth16-size", f"{WIDTH}x{HEIGHT}")]
    argv += ["--depth16-stride", str(STRIDE), "--rotation", "270", "--focus", "20,30"]
    argv += ["--fnumber", "2", "--focal-length-px", "60", "--pixel-pitch-mm", "0.05"]
    argv += ["--max-side", "0", "--out", str(out), "--json"]
    assert main(argv) == 0, capsys.readouterr().err
    assert Image.open(out).size == (HEIGHT * PHOTO_SCALE, WIDTH * PHOTO_SCALE)  # displayed


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--depth16-size", "7x6"], "argument --depth16-size: DEPTH16 sides must be even"),
        (["--depth16-size", "0x6"], "argument --depth16-size: width must be positive"),
        (["--depth16-size", "8x-6"], "argument --depth16-size"),
        (["--depth16-size", "16384x16384"], "exceeds the 16000000 depth pixels"),
        (["--depth16-size", "eight"], "size must look like 512x384"),
        (["--depth16-size", SIZE, "--depth16-stride", "0"], "must be in [2, 65536], got 0"),
        (["--depth16-size", SIZE, "--depth16-stride", "1e3"], "expected an integer"),
        (["--depth16-size", SIZE, "--depth16-stride", "70000"], "must be in [2, 65536]"),
        (["--depth16-size", SIZE, "--rotation", "45"], "argument --rotation: invalid choice: 45"),
        (["--depth16-size", SIZE, "--depth16-stride", "14"], "row stride 14 is not an integer"),
        (["--depth16-size", SIZE], "buffer has 136 bytes; 8x6 with stride 16 needs 96"),
        (["--depth16-size", "8x8", "--depth16-stride", ROW], "with stride 24 needs 184 to 192"),
        ([], "depth.raw: a raw DEPTH16 dump needs --depth16-size WxH"),
        (
            ["--depth16-size", SIZE, "--depth", "d.png"],
            "--depth and --depth16: give one separate depth map",
        ),
        (["--depth16-size", SIZE, "--depth-scale", "2"], "--depth-scale: used with --depth only"),
        (["--depth16-size", SIZE, "--focal-length-px", "0"], "--focal-length-px: must be"),
    ],
)
def test_a_bad_depth16_command_line_is_one_line_and_writes_nothing(
    tmp_path, capsys, extra, message
):
    out = tmp_path / "out" / "render.png"
    out.parent.mkdir()
    argv = ["render", *_argv(tmp_path, *extra), "--focus", "1,1", "--blur-strength", "2"]
    assert main([*argv, "--out", str(out)]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert captured.err.startswith("dc2kit: error:") and message in captured.err
    assert list(out.parent.iterdir()) == []


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--depth16-size", SIZE], "--depth16-size: used with --depth16 only"),
        (["--rotation", "0"], "--rotation: used with --depth16 or --arcore-depth only"),
        (["--depth16-stride", ROW], "--depth16-stride: used with --depth16 only"),
    ],
)
def test_depth16_options_without_a_dump_are_refused(tmp_path, capsys, extra, message):
    assert main(["capture", "info", str(_photo(tmp_path)), *extra]) == 1
    err = capsys.readouterr().err
    assert err.startswith("dc2kit: error:") and message in err and err.count("\n") == 1


def test_help_describes_the_depth16_form(capsys):
    assert main(["capture", "info", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    for phrase in ("--depth16 RAW", "--depth16-size WxH", "--depth16-stride BYTES", "--rotation"):
        assert phrase in text
    assert "low 13 bits" in text and "clockwise degrees" in text


def _jpeg_photo(tmp_path: Path, orientation: int | None) -> Path:
    """The test photo as a JPEG with EXIF `orientation` (None: no EXIF Orientation at all)."""
    exif = Image.Exif()
    if orientation is not None:
        exif[ExifTags.Base.Orientation] = orientation
    path = tmp_path / "photo.jpg"
    Image.open(_photo(tmp_path)).save(path, quality=95, exif=exif)
    return path


SHARED = "applied to the photo and to the depth map, taken to share the photo's stored pixels"


@pytest.mark.parametrize(
    ("exif", "rotation", "notes"),
    [
        (None, "90", [f"orientation 6 given by --rotation 90 {SHARED}"]),
        (3, "90", ["orientation 6 given by --rotation 90; the image's EXIF says 3, not used"]),
        (6, None, [f"the photo's EXIF Orientation 6 {SHARED}"]),
        (1, None, ["the photo's EXIF Orientation 1: upright, nothing turned"]),
        (None, "0", ["orientation 1 given by --rotation 0: upright, nothing turned"]),
        (None, None, ["no orientation given and no EXIF Orientation: pixels used as stored"]),
    ],
)
def test_the_notes_say_where_the_turn_came_from(tmp_path, capsys, exif, rotation, notes):
    """The flag, the photo's EXIF, or neither: each named, never EXIF for the flag's turn."""
    argv = ["capture", "info", str(_jpeg_photo(tmp_path, exif)), "--depth16", str(_dump(tmp_path))]
    argv += ["--depth16-size", SIZE, "--depth16-stride", ROW, "--json"]
    argv += [] if rotation is None else ["--rotation", rotation]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["notes"][: len(notes)] == notes
    expected = {None: exif or 1, "0": 1, "90": 6}[rotation]
    assert summary["orientation"] == expected
    if rotation is not None:
        assert not any("EXIF Orientation" in note for note in summary["notes"])
        if exif not in (None, 1):
            assert f"orientation 6 given by --rotation 90 {SHARED}" in summary["notes"]


def test_render_notes_name_the_rotation_flag(tmp_path, capsys):
    out = tmp_path / "out.png"
    argv = ["render", *_argv(tmp_path, "--depth16-size", SIZE, "--depth16-stride", ROW)]
    argv += ["--rotation", "90", "--focus", "20,30", "--blur-strength", "2"]
    assert main([*argv, "--max-side", "0", "--out", str(out), "--json"]) == 0
    notes = json.loads(capsys.readouterr().out)["notes"]
    assert f"orientation 6 given by --rotation 90 {SHARED}" in notes
    assert not any("EXIF Orientation" in note for note in notes)
