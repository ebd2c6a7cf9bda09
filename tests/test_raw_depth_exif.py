"""A raw depth dump's record takes its photo's EXIF lens data and SubjectArea, turned to display.

EXIF SubjectArea refers to the photo's stored pixels; the record is as displayed, so its focus
point must follow the same turn as the pixels, whichever source gave the turn (the photo's EXIF
Orientation or --rotation). Expected points come from the geometry of a quarter turn of a
W×H image (clockwise: (x, y) → (H − y, x)), the pixel pitch from EXIF's 35 mm rule (sensor
diagonal = 43.27 mm · f / f35) and K from f² / (2 N p), all written out here.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import ExifTags, Image, TiffImagePlugin
from raw_dumps import gradient_photo

from dc2kit.android_bridge import encode_depth16
from dc2kit.cli import main

W, H = 64, 48  # the stored photo; the dump is 8×6, its aspect
SUBJECT = (10, 20)  # SubjectArea centre in stored pixels
F_NUMBER, FOCAL_MM, FOCAL_35MM = 1.8, 4.5, 26
TAGS = {
    "FNumber": ExifTags.Base.FNumber,
    "FocalLength": ExifTags.Base.FocalLength,
    "FocalLengthIn35mmFilm": ExifTags.Base.FocalLengthIn35mmFilm,
    "SubjectArea": 0x9214,  # Pillow names no constant for it
}
# The stored SubjectArea centre once displayed, per turn (EXIF code) that gives it.
DISPLAYED = {1: SUBJECT, 6: (H - 20, 10), 3: (W - 10, H - 20), 8: (20, W - 10)}


def _photo(tmp_path: Path, orientation: int | None, **tags: object) -> Path:
    """A JPEG with lens EXIF (FNumber, FocalLength, FocalLengthIn35mmFilm, SubjectArea)."""
    exif = Image.Exif()
    if orientation is not None:
        exif[ExifTags.Base.Orientation] = orientation
    ifd = exif.get_ifd(ExifTags.IFD.Exif)
    values = {
        "FNumber": TiffImagePlugin.IFDRational(18, 10),
        "FocalLength": TiffImagePlugin.IFDRational(45, 10),
        "FocalLengthIn35mmFilm": FOCAL_35MM,
        "SubjectArea": (*SUBJECT, 8, 6),  # centre x, y, width, height
    }
    ifd.update({TAGS[name]: value for name, value in (values | tags).items()})
    path = tmp_path / "photo.jpg"
    Image.open(gradient_photo(tmp_path, W, H)).save(path, quality=95, exif=exif)
    return path


def _depth16(tmp_path: Path) -> list[str]:
    path = tmp_path / "depth.raw"
    path.write_bytes(encode_depth16(np.linspace(0.5, 3, 48, dtype=np.float32).reshape(6, 8)))
    return ["--depth16", str(path), "--depth16-size", "8x6"]


def _arcore(tmp_path: Path) -> list[str]:
    path = tmp_path / "depth.png"
    Image.fromarray(np.arange(500, 548, dtype=np.uint16).reshape(6, 8)).save(path)
    return ["--arcore-depth", str(path)]


def _info(argv: list[str], capsys) -> dict:
    assert main(["capture", "info", *argv, "--json"]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def _pitch() -> float:
    sensor_diagonal = math.hypot(36, 24) * FOCAL_MM / FOCAL_35MM
    return sensor_diagonal / math.hypot(W, H)


@pytest.mark.parametrize("dump", [_depth16, _arcore])
@pytest.mark.parametrize(
    ("exif", "rotation", "turn"),
    [(None, None, 1), (6, None, 6), (8, None, 8), (None, "90", 6), (1, "180", 3), (6, "270", 8)],
)
def test_exif_lens_and_subject_area_follow_the_turn(tmp_path, capsys, dump, exif, rotation, turn):
    argv = [str(_photo(tmp_path, exif)), *dump(tmp_path)]
    summary = _info(argv + ([] if rotation is None else ["--rotation", rotation]), capsys)
    assert summary["orientation"] == turn
    assert summary["camera_focus"]["point"] == pytest.approx(list(DISPLAYED[turn]))
    assert summary["camera_focus"]["source"] == "EXIF SubjectArea"
    assert summary["f_number"] == pytest.approx(F_NUMBER)
    assert summary["focal_length_mm"] == pytest.approx(FOCAL_MM)
    assert summary["pixel_pitch_mm"] == pytest.approx(_pitch(), rel=1e-9)
    assert summary["extras"]["lens_sources"]["f_number"] == "EXIF FNumber"


def test_lens_flags_win_over_the_photos_exif_and_say_so(tmp_path, capsys):
    argv = [str(_photo(tmp_path, 6)), *_depth16(tmp_path)]
    summary = _info([*argv, "--focal-length-px", "60", "--pixel-pitch-mm", "0.05"], capsys)
    assert summary["focal_length_mm"] == pytest.approx(3.0)
    assert summary["pixel_pitch_mm"] == 0.05 and summary["f_number"] == pytest.approx(F_NUMBER)
    sources = summary["extras"]["lens_sources"]
    assert sources == {
        "f_number": "EXIF FNumber",
        "focal_length_mm": "--focal-length-px × --pixel-pitch-mm",
        "pixel_pitch_mm": "--pixel-pitch-mm",
    }


def test_render_takes_ws_own_focus_from_the_photos_exif(tmp_path, capsys):
    out = tmp_path / "out.png"
    argv = ["render", str(_photo(tmp_path, None)), *_depth16(tmp_path), "--rotation", "90"]
    argv += ["--focus", "20,30", "--blur-strength", "2", "--max-side", "0"]
    assert main([*argv, "--out", str(out), "--json"]) == 0, capsys.readouterr().err
    notes = json.loads(capsys.readouterr().out)["notes"]
    strength = (FOCAL_MM * 1e-3) ** 2 / (2 * F_NUMBER * _pitch() * 1e-3)  # px per 1/m, full size
    x, y = DISPLAYED[6]
    expected = f"focus point ({x:g}, {y:g}) (EXIF SubjectArea): K = {strength:.4g} px per 1/m"
    assert any(note.startswith("input W defocus from the camera: f/1.8, 4.5 mm") for note in notes)
    assert any(expected in note for note in notes), notes


@pytest.mark.parametrize(
    ("tags", "gone", "note"),
    [
        ({"FNumber": TiffImagePlugin.IFDRational(0, 1)}, "f_number", "EXIF FNumber=0.0 is not"),
        ({"SubjectArea": (70, 20, 4, 4)}, None, "SubjectArea centre (70, 20) lies outside"),
    ],
)
def test_unusable_exif_is_dropped_and_said(tmp_path, capsys, tags, gone, note):
    summary = _info([str(_photo(tmp_path, None, **tags)), *_depth16(tmp_path)], capsys)
    if gone is not None:
        assert summary[gone] is None
    else:
        assert summary["camera_focus"] is None
    assert any(note in line for line in summary["notes"]), summary["notes"]


def test_capture_info_names_rotation_not_exif_as_the_turns_source(tmp_path, capsys):
    argv = [str(_photo(tmp_path, None)), *_depth16(tmp_path), "--rotation", "90"]
    assert main(["capture", "info", *argv]) == 0, capsys.readouterr().err
    out = " ".join(capsys.readouterr().out.split())
    assert f"image {H}x{W} as displayed (orientation 6)" in out
    assert "EXIF orientation" not in out and "orientation 6 given by --rotation 90" in out
