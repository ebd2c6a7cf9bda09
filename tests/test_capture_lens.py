"""EXIF lens data in every JPEG/HEIC reader, GFocus in `capture info`, and valid writer EXIF."""

from __future__ import annotations

import json
import math
import shutil
import struct
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import ExifTags, Image, TiffImagePlugin

from dc2kit.android_bridge import write_dynamic_depth
from dc2kit.capture.errors import CaptureError
from dc2kit.capture.exif_lens import SUBJECT_AREA, jpeg_exif, lens_exif
from dc2kit.capture.inputs import equivalent_blur_strength, prepare_render
from dc2kit.capture.jpeg_xmp import APP1, header_segments
from dc2kit.cli import main
from dc2kit.ios_bridge import write_iphone_portrait_jpeg
from dc2kit.readers import open_capture

GCAM = "data/captures/gcam_lensblur.jpg"
HEIC = "data/captures/iphone13pro_portrait.heic"
TYPE_RATIONAL, TYPE_DOUBLE = 5, 12


def run_json(capsys, argv: list[str]) -> dict:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def with_exif(source: bytes, exif: Image.Exif) -> bytes:
    """A JPEG whose EXIF segment is replaced by (or, without one, given) `exif`."""
    segments = header_segments(source, None)
    payload = exif.tobytes()
    segment = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    for old in segments:
        if old.marker == APP1 and source.startswith(b"Exif\x00\x00", old.payload_start):
            return source[: old.start] + segment + source[old.end :]
    return source[:2] + segment + source[2:]


def exif_of(**tags) -> Image.Exif:
    """EXIF with the given Exif-IFD tags as given: floats and (n, d) pairs as (S)RATIONAL."""
    exif = Image.Exif()
    ifd = exif.get_ifd(ExifTags.IFD.Exif)
    for name, value in tags.items():
        tag = SUBJECT_AREA if name == "SubjectArea" else ExifTags.Base[name]
        if isinstance(value, float):
            value = Fraction(value).limit_denominator(1000)
            value = TiffImagePlugin.IFDRational(value.numerator, value.denominator)
        elif name != "SubjectArea" and isinstance(value, tuple):
            value = TiffImagePlugin.IFDRational(*value)
        ifd[tag] = value
    return exif


@pytest.fixture
def lens_blur_with_exif(shared_file, tmp_path) -> Path:
    """The real Lens Blur file carrying the issue's GDepth EXIF: f/2.4, 4.6 mm, 34 mm equivalent."""
    source = shared_file(GCAM).read_bytes()
    path = tmp_path / "gcam_exif.jpg"
    lens = lens_exif(4.6, 2.4, 34)
    path.write_bytes(with_exif(source, lens))
    return path


def dynamic_depth_with_exif(path: Path, exif: Image.Exif) -> Path:
    y, x = np.mgrid[0:60, 0:80]
    image = np.stack([x * 3, y * 4, (x + y) * 2], axis=-1).astype(np.uint8)
    depth = (0.5 + 2.5 * x / 79).astype(np.float32)
    write_dynamic_depth(path, image, depth, exif=exif)
    return path


def expected_pitch(focal_mm: float, focal_35mm: float, width: int, height: int) -> float:
    """The EXIF definition, independently: diagonals in the ratio f35 / f."""
    return math.sqrt(36**2 + 24**2) * focal_mm / focal_35mm / math.hypot(width, height)


def test_gdepth_lens_exif_is_read_and_fnumber_renders(lens_blur_with_exif, tmp_path, capsys):
    info = run_json(capsys, ["capture", "info", str(lens_blur_with_exif), "--json"])
    assert info["focal_length_mm"] == pytest.approx(4.6)
    assert info["f_number"] == pytest.approx(2.4)
    assert info["extras"]["focal_length_35mm"] == 34
    assert info["pixel_pitch_mm"] == pytest.approx(expected_pitch(4.6, 34, 580, 1024), rel=1e-9)
    assert info["extras"]["lens_sources"]["f_number"] == "EXIF FNumber"
    assert "pixel_pitch_mm" not in info["missing"]
    out = tmp_path / "fnumber.png"
    report = run_json(
        capsys,
        [
            *("render", str(lens_blur_with_exif), "--focus", "290,300", "--fnumber", "2.8"),
            *("--max-side", "256", "--out", str(out), "--json"),
        ],
    )
    assert out.exists()
    # The 35 mm equivalent the render uses is the file's own: 34 mm, at f/2.8 and 256 px high,
    # whose diagonal then spans 43.27 mm.
    render_w, full_w = round(580 * 256 / 1024), 580
    pitch_eq = math.sqrt(36**2 + 24**2) / math.hypot(580, 1024) * full_w / render_w
    expected = (34e-3) ** 2 / (2 * 2.8 * pitch_eq * 1e-3)
    assert report["blur_strength"] == pytest.approx(expected, rel=1e-6)


def test_dynamic_depth_lens_exif_is_read_and_fnumber_renders(tmp_path, capsys):
    path = dynamic_depth_with_exif(tmp_path / "dd.jpg", lens_exif(5.43, 1.85, 27))
    record = open_capture(path)
    assert (record.focal_length_mm, record.f_number) == (pytest.approx(5.43), 1.85)
    assert record.pixel_pitch_mm == pytest.approx(expected_pitch(5.43, 27, 80, 60), rel=1e-9)
    # --fnumber on this record: the equivalent focal length is the file's 27 mm.
    strength = equivalent_blur_strength(record, 2.0, 80)
    pitch_eq = math.sqrt(36**2 + 24**2) / 100.0
    assert strength == pytest.approx(27e-3**2 / (2 * 2.0 * pitch_eq * 1e-3), rel=1e-6)
    out = tmp_path / "dd.png"
    run_json(
        capsys,
        ["render", str(path), "--focus", "40,30", "--fnumber", "2", "--out", str(out), "--json"],
    )
    assert out.exists()


def test_every_reader_uses_one_exif_rule(tmp_path, shared_file):
    """HEIC and MPF JPEG (iPhone) read the same fields; the real HEIC's are 5.7 mm, f/1.5, 26."""
    heic = open_capture(shared_file(HEIC))
    assert (heic.focal_length_mm, heic.f_number) == (pytest.approx(5.7), pytest.approx(1.5))
    assert heic.extras["focal_length_35mm"] == 26
    # Apple's measured pixel size wins over the one the 35 mm equivalent implies (~1% apart).
    assert heic.pixel_pitch_mm == 0.0019
    assert heic.extras["lens_sources"]["pixel_pitch_mm"] == "depthData:PixelSize"
    assert expected_pitch(5.7, 26, 4032, 3024) == pytest.approx(0.0019, rel=0.02)
    jpeg = tmp_path / "portrait.jpg"
    image = np.full((48, 64, 3), 128, np.uint8)
    disparity = np.linspace(0.5, 2.0, 24 * 32, dtype=np.float32).reshape(24, 32)
    write_iphone_portrait_jpeg(
        jpeg, image, disparity, focal_length_mm=5.7, f_number=1.5, focal_length_35mm=26
    )
    record = open_capture(jpeg)
    assert (record.focal_length_mm, record.f_number) == (pytest.approx(5.7), 1.5)
    assert record.pixel_pitch_mm == pytest.approx(expected_pitch(5.7, 26, 64, 48), rel=1e-9)


@pytest.mark.parametrize(
    ("tags", "dropped", "note"),
    [
        ({"FNumber": 0.0, "FocalLength": 4.6}, "f_number", "FNumber"),
        ({"FNumber": 2.4, "FocalLength": (0, 1)}, "focal_length_mm", "FocalLength"),
        ({"FNumber": 2.4, "FocalLength": -4.6}, "focal_length_mm", "FocalLength"),
        ({"FNumber": (24, 0), "FocalLength": 4.6}, "f_number", "FNumber"),
        (
            {"FNumber": 2.4, "FocalLength": 4.6, "FocalLengthIn35mmFilm": 0},
            "pixel_pitch_mm",
            "FocalLengthIn35mm",
        ),
    ],
)
def test_bad_lens_exif_is_dropped_and_said(tmp_path, capsys, tags, dropped, note):
    path = dynamic_depth_with_exif(tmp_path / "bad.jpg", exif_of(**tags))
    record = open_capture(path)
    assert getattr(record, dropped) is None
    assert any(note in line and "ignored" in line for line in record.notes), record.notes
    info = run_json(capsys, ["capture", "info", str(path), "--json"])
    assert dropped in info["missing"]
    assert any("ignored" in line for line in info["notes"])
    if dropped != "f_number":  # --fnumber needs the focal length and pixel pitch
        with pytest.raises(CaptureError, match="focal length and pixel pitch"):
            prepare_render(record, focus_disparity=1.0, f_number=2.8)


def test_subject_area_outside_the_image_is_dropped_and_said(tmp_path):
    path = dynamic_depth_with_exif(tmp_path / "area.jpg", exif_of(SubjectArea=(500, 20, 10, 10)))
    record = open_capture(path)
    assert record.camera_focus is None
    assert any("SubjectArea" in note and "outside" in note for note in record.notes)
    inside = open_capture(
        dynamic_depth_with_exif(tmp_path / "in.jpg", exif_of(SubjectArea=(30, 20, 10, 8)))
    )
    assert inside.camera_focus.point == (30.0, 20.0)
    assert inside.camera_focus.source == "EXIF SubjectArea"


def test_gfocus_fields_are_in_capture_info(shared_file, capsys):
    info = run_json(capsys, ["capture", "info", str(shared_file(GCAM)), "--json"])
    assert info["extras"]["focus"] == {
        "BlurAtInfinity": pytest.approx(0.028747642),
        "FocalDistance": pytest.approx(26.707642),
        "FocalPointX": pytest.approx(0.3993915),
        "FocalPointY": pytest.approx(0.4957108),
    }
    render = info["render_focus"]
    assert render["distance"] == pytest.approx(26.707642)
    assert render["point"] == pytest.approx([0.3993915 * 580, 0.4957108 * 1024])
    assert "GFocus:BlurAtInfinity" in render["source"]
    assert "original_image" not in info["extras"]  # arrays stay out of the JSON


def tiff_field_types(exif_payload: bytes) -> dict[int, tuple[int, tuple]]:
    """{tag: (TIFF type, values)} of the Exif sub-IFD, parsed here without Pillow."""
    tiff = exif_payload[6:]
    order = {b"II": "<", b"MM": ">"}[tiff[:2]]

    def entries(offset: int) -> dict[int, tuple[int, int, int]]:
        (count,) = struct.unpack_from(order + "H", tiff, offset)
        found = {}
        for index in range(count):
            tag, kind, number, value = struct.unpack_from(
                order + "HHII", tiff, offset + 2 + 12 * index
            )
            found[tag] = (kind, number, value)
        return found

    ifd0 = entries(struct.unpack_from(order + "I", tiff, 4)[0])
    exif_ifd = entries(ifd0[0x8769][2])
    result = {}
    for tag, (kind, _, value) in exif_ifd.items():
        if kind == TYPE_RATIONAL:
            result[tag] = (kind, struct.unpack_from(order + "II", tiff, value))
        else:
            result[tag] = (kind, (value,))
    return result


def test_mpf_writer_stores_fnumber_and_focal_length_as_rational(tmp_path):
    path = tmp_path / "portrait.jpg"
    image = np.full((48, 64, 3), 90, np.uint8)
    disparity = np.linspace(0.5, 2.0, 24 * 32, dtype=np.float32).reshape(24, 32)
    write_iphone_portrait_jpeg(
        path, image, disparity, focal_length_mm=5.7, f_number=1.5, focal_length_35mm=26
    )
    fields = tiff_field_types(jpeg_exif(path.read_bytes(), path))
    assert fields[ExifTags.Base.FNumber] == (TYPE_RATIONAL, (3, 2))
    assert fields[ExifTags.Base.FocalLength] == (TYPE_RATIONAL, (57, 10))
    assert fields[ExifTags.Base.FocalLengthIn35mmFilm][0] == 3  # SHORT
    with Image.open(path) as photo:  # Pillow, independently
        ifd = photo.getexif().get_ifd(ExifTags.IFD.Exif)
        assert isinstance(ifd[ExifTags.Base.FNumber], TiffImagePlugin.IFDRational)
        assert float(ifd[ExifTags.Base.FNumber]) == 1.5
        assert float(ifd[ExifTags.Base.FocalLength]) == pytest.approx(5.7)
        # EXIF 2.32's mandatory tags for a JPEG, the size being the primary's.
        assert ifd[ExifTags.Base.ExifVersion] == b"0232" and ifd[ExifTags.Base.ColorSpace] == 1
        assert (ifd[ExifTags.Base.ExifImageWidth], ifd[ExifTags.Base.ExifImageHeight]) == (64, 48)
        assert float(photo.getexif()[ExifTags.Base.XResolution]) == 72
    if shutil.which("exiftool") is None:
        pytest.skip("exiftool is not installed: Pillow and the TIFF parse above checked it")
    result = subprocess.run(
        ["exiftool", "-j", "-validate", "-warning", "-FNumber", "-FocalLength", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    (tags,) = json.loads(result.stdout)
    assert (tags["FNumber"], tags["FocalLength"]) == (1.5, "5.7 mm")
    assert "Non-standard format" not in result.stdout
    # Pillow cannot type ComponentsConfiguration UNDEFINED, so it is the one tag left out.
    assert tags.get("Warning", "") in (
        "",
        "Missing required JPEG ExifIFD tag 0x9101 ComponentsConfiguration",
    )
