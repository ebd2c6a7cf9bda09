"""The decoder guard every reader shares: expected formats only, pixel bounds, typed failures."""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from dc2kit.capture import limits
from dc2kit.capture.decoders import PNG_ONLY, decode_image, decoder_guard
from dc2kit.capture.errors import CaptureError
from dc2kit.capture.limits import (
    CAPTURE_LIMITS,
    MAX_IMAGE_PIXELS,
    MAX_PIXELS_PER_FILE_BYTE,
    PIXELS_ALWAYS_ALLOWED,
    pixel_limit,
)
from dc2kit.capture.pair import read_pair

RGB = np.random.default_rng(4).integers(0, 256, (30, 40, 3), dtype=np.uint8)
# Formats Pillow can write here that no reader expects as a depth map or a colour photo.
FOREIGN_FORMATS = ["AVIF", "BMP", "DDS", "GIF", "ICO", "IM", "JPEG2000", "PCX", "PPM", "QOI"]
FOREIGN_FORMATS += ["SGI", "SPIDER", "TGA", "WEBP"]
CONVERSIONS = {"SPIDER": "F", "QOI": "RGB"}  # modes those writers need


def encoded(pixels: np.ndarray, image_format: str) -> bytes:
    buffer = io.BytesIO()
    image = Image.fromarray(pixels)
    if image_format in CONVERSIONS:
        image = image.convert(CONVERSIONS[image_format])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Pillow deprecates writing IM
        image.save(buffer, format=image_format)
    return buffer.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims width×height (8-bit grey) with no pixel data after it."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + payload))
        return struct.pack(">I", len(payload)) + kind + payload + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    Image.fromarray(RGB).save(path)
    return path


# --- formats -----------------------------------------------------------------------------------


@pytest.mark.parametrize("image_format", FOREIGN_FORMATS)
def test_depth_files_in_other_formats_are_refused(tmp_path, photo, image_format):
    data = encoded(RGB[:, :, 0], image_format)
    for suffix, expected in ((".png", "PNG"), (".tif", "TIFF")):
        path = tmp_path / f"depth{suffix}"
        path.write_bytes(data)
        with pytest.raises(CaptureError, match=rf"depth\{suffix}: .*not a readable {expected}"):
            read_pair(photo, path, kind="depth", units="m")


@pytest.mark.parametrize("image_format", FOREIGN_FORMATS)
def test_colour_images_in_other_formats_are_refused(tmp_path, image_format):
    path = tmp_path / "photo.jpg"
    path.write_bytes(encoded(RGB, image_format))
    np.save(tmp_path / "depth.npy", np.ones((30, 40), np.float32))
    with pytest.raises(CaptureError, match=r"photo\.jpg: .*not a readable JPEG or PNG or TIFF"):
        read_pair(path, tmp_path / "depth.npy", kind="depth", units="m")


def test_gif_posing_as_png_is_refused_but_the_same_map_as_png_is_read(tmp_path, photo):
    codes = RGB[:, :, 0]
    (tmp_path / "depth.png").write_bytes(encoded(codes, "GIF"))
    with pytest.raises(CaptureError, match=r"depth\.png: cannot decode depth map: not a readable"):
        read_pair(photo, tmp_path / "depth.png", kind="depth", units="m")
    (tmp_path / "depth.png").write_bytes(encoded(codes, "PNG"))
    record = read_pair(photo, tmp_path / "depth.png", kind="depth", units="m")
    expected = np.where(codes > 0, codes, np.nan).astype(np.float32)  # code 0: no distance
    np.testing.assert_array_equal(record.depth, expected)


def test_decoder_warnings_stay_off_the_console(tmp_path, photo):
    tiff = encoded(np.arange(12, dtype=np.float32).reshape(3, 4), "TIFF")
    (tmp_path / "cut.tif").write_bytes(tiff[:8])  # Pillow warns "Corrupt EXIF data" here
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(CaptureError, match=r"cut\.tif: cannot decode depth map"):
            read_pair(photo, tmp_path / "cut.tif", kind="depth", units="m")
    assert caught == []


def test_guard_types_every_failure_on_one_line_and_passes_capture_errors():
    one_line = r"^f\.png: cannot decode map \(broken plugin\)$"
    with pytest.raises(CaptureError, match=one_line), decoder_guard("f.png", "map"):
        raise RuntimeError("broken\n  plugin")
    unnamed = r"^f\.png: cannot decode map \(TypeError\)$"
    with pytest.raises(CaptureError, match=unnamed), decoder_guard("f.png", "map"):
        raise TypeError
    original = CaptureError("f.png", "own problem")
    with pytest.raises(CaptureError) as caught, decoder_guard("f.png", "map"):
        raise original
    assert caught.value is original


FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
EDITS = st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), min_size=1, max_size=6)


@pytest.mark.parametrize(
    ("suffix", "pixels"),
    [
        (".tif", np.linspace(0.5, 4, 30 * 40, dtype=np.float32).reshape(30, 40)),
        (".png", (np.arange(30 * 40).reshape(30, 40) * 50).astype(np.uint16)),
    ],
    ids=["float-tiff", "16-bit-png"],
)
@FUZZ
@given(edits=EDITS, cut=st.integers(1, 1 << 14))
def test_fuzzed_depth_files_give_only_capture_errors(tmp_path, photo, suffix, pixels, edits, cut):
    data = bytearray(encoded(pixels, "TIFF" if suffix == ".tif" else "PNG"))
    for position, value in edits:
        data[position % len(data)] = value
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(bytes(data[:cut]))
    try:
        record = read_pair(photo, path, kind="depth", units="m")
    except CaptureError as error:
        message = str(error)
    else:
        assert record.depth.ndim == 2 and record.depth.dtype == np.float32
        return
    assert "\n" not in message
    assert "fuzz" in message


# --- pixel bounds ------------------------------------------------------------------------------


def test_pixel_limit_is_the_smaller_of_absolute_and_per_byte_with_a_floor():
    assert pixel_limit(MAX_IMAGE_PIXELS, 1_000_000) == 64_000_000
    assert pixel_limit(MAX_IMAGE_PIXELS, 10) == 2048 * 2048
    assert pixel_limit(1000, 10**9) == 1000
    assert MAX_PIXELS_PER_FILE_BYTE == 64
    assert PIXELS_ALWAYS_ALLOWED == 2048 * 2048


def test_per_byte_bound_is_checked_from_the_header_at_its_exact_edge():
    """3000×3000 needs a 140625-byte file at 64 pixels per byte (the PNG has no pixel data, so
    passing the bound shows as a decoding error and failing it as the bound's own message)."""
    claim = png_claiming(3000, 3000)
    pixels = 3000 * 3000
    enough = -(-pixels // MAX_PIXELS_PER_FILE_BYTE)
    assert enough == 140_625
    with pytest.raises(CaptureError, match=r"cannot decode image \("):
        decode_image(claim, "p.png", "image", MAX_IMAGE_PIXELS, formats=PNG_ONLY, file_bytes=enough)
    with pytest.raises(CaptureError, match=r"exceeds 8999936 pixels, the bound for a 140624-byte"):
        decode_image(
            claim, "p.png", "image", MAX_IMAGE_PIXELS, formats=PNG_ONLY, file_bytes=enough - 1
        )


def test_small_images_are_exempt_however_well_they_compress():
    floor_side = 2048
    flat = encoded(np.zeros((floor_side, floor_side), np.uint8), "PNG")
    assert floor_side * floor_side > MAX_PIXELS_PER_FILE_BYTE * len(flat)  # ~1000 px per byte
    image = decode_image(flat, "flat.png", "map", MAX_IMAGE_PIXELS, formats=PNG_ONLY)
    assert image.size == (floor_side, floor_side)
    wider = encoded(np.zeros((floor_side, floor_side + 1), np.uint8), "PNG")
    with pytest.raises(CaptureError, match=r"flat\.png: map of 2049x2048 exceeds 4194304 pixels"):
        decode_image(wider, "flat.png", "map", MAX_IMAGE_PIXELS, formats=PNG_ONLY)


def test_every_limit_is_documented_in_the_readme_with_its_value():
    constants = {name for name in vars(limits) if name.isupper() and name != "CAPTURE_LIMITS"}
    assert {limit.name for limit in CAPTURE_LIMITS} == constants
    assert all(getattr(limits, limit.name) == limit.value for limit in CAPTURE_LIMITS)
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    for limit in CAPTURE_LIMITS:
        assert f"| `{limit.name}` | {limit.value:,} {limit.unit} | {limit.meaning} |" in readme
    assert (
        CAPTURE_LIMITS[-1].line()
        == "MAX_MPF_FRAMES = 64 frames: frames of a multi-picture (MPF) JPEG"
    )
