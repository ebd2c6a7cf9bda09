"""Android readers and writers: the real Lens Blur file, round trips, and hostile input."""

from __future__ import annotations

import base64
import contextlib
import io
import re
import struct
import tracemalloc
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from dc2kit.android_bridge import (
    decode_arcore_confidence,
    decode_arcore_depth,
    decode_depth16,
    encode_depth16,
    read_android_capture,
    read_arcore_depth,
    read_depth16,
    read_dynamic_depth,
    read_gdepth,
    write_depth16,
    write_dynamic_depth,
)
from dc2kit.capture.errors import CaptureError, NoDepthError, UnsupportedCaptureError
from dc2kit.capture.jpeg_xmp import extended_xmp_guid, insert_xmp, read_jpeg_xmp
from dc2kit.capture.record import Accuracy, DepthKind, DepthUnits, Intrinsics

CAPTURES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "captures"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"


def real_file(name: str) -> Path:
    path = CAPTURES / name
    if not path.exists():
        pytest.skip(f"real capture {name} not available (needs ../shared/data/captures)")
    return path


# --- independent reference formulas (docs/capture-formats.md) --------------------------------


def reference_decode(dn, depth_format, near, far):
    if depth_format == "RangeLinear":
        return dn * (far - near) + near
    return far * near / (far - (far - near) * dn)


def reference_encode(depth, depth_format, near, far):
    if depth_format == "RangeLinear":
        return (depth - near) / (far - near)
    return far * (depth - near) / (depth * (far - near))


def quantisation_bound(depth, depth_format, near, far, bits):
    """Largest depth error from rounding dn to 1/(2^bits − 1): decode dn ± half a step."""
    half_step = 0.5 / ((1 << bits) - 1)
    dn = reference_encode(depth.astype(np.float64), depth_format, near, far)
    low = reference_decode(np.clip(dn - half_step, 0, 1), depth_format, near, far)
    high = reference_decode(np.clip(dn + half_step, 0, 1), depth_format, near, far)
    return np.maximum(np.abs(high - depth), np.abs(depth - low))


def smooth_image(height, width, seed=0):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 / width, y * 255 / height, (x + y) * 127 / (width + height)], -1)
    return np.clip(base + rng.normal(0, 2, base.shape), 0, 255).astype(np.uint8)


def scene_depth(height, width):
    """A slanted plane from 0.5 m to 4 m with a nearer box: smooth and edged."""
    y, x = np.mgrid[0:height, 0:width]
    depth = 0.5 + 3.5 * (x + y) / (width + height - 2)
    depth[height // 4 : height // 2, width // 4 : width // 2] = 0.8
    return depth.astype(np.float32)


# --- GDepth: the real Lens Blur file ---------------------------------------------------------


def test_real_lens_blur_file_acceptance():
    path = real_file("gcam_lensblur.jpg")
    record = read_gdepth(path)
    assert record.image.shape == (1024, 580, 3)
    assert record.image.dtype == np.uint8
    assert record.depth.shape == (1024, 580)
    assert record.depth.dtype == np.float32
    assert record.extras["depth_format"] == "RangeInverse"
    assert record.extras["near"] == pytest.approx(9.6155, abs=1e-4)
    assert record.extras["far"] == pytest.approx(44.636, abs=1e-3)
    assert np.nanmin(record.depth) == pytest.approx(9.62, abs=0.05)
    assert np.nanmax(record.depth) == pytest.approx(42.8, abs=0.05)
    assert (record.kind, record.units, record.accuracy) == (
        DepthKind.DEPTH,
        DepthUnits.RELATIVE,
        Accuracy.RELATIVE,
    )
    assert record.extras["focus"]["FocalDistance"] == pytest.approx(26.707642)
    assert record.extras["focus"]["FocalPointX"] == pytest.approx(0.3993915)
    original = record.extras["original_image"]
    assert original.shape == (1024, 580, 3)
    assert original.std() > 20  # a real photograph, not a flat fill
    # The primary is the blurred render of the same scene as the original.
    correlation = np.corrcoef(original.mean(-1).ravel(), record.image.mean(-1).ravel())[0, 1]
    assert correlation > 0.8


def test_real_lens_blur_depth_matches_the_formula_on_the_embedded_png():
    path = real_file("gcam_lensblur.jpg")
    extended = read_jpeg_xmp(path.read_bytes(), path).extended
    encoded = re.search(rb'GDepth:Data="([^"]+)"', extended).group(1)
    codes = np.asarray(Image.open(io.BytesIO(base64.b64decode(encoded))))[..., 0]
    expected = reference_decode(codes / 255.0, "RangeInverse", 9.61550521850586, 44.63623809814453)
    np.testing.assert_allclose(read_gdepth(path).depth, expected, rtol=1e-6)
    assert read_android_capture(path).source_format == "gdepth"


def test_real_lens_blur_truncated_anywhere_is_a_capture_error(tmp_path):
    data = real_file("gcam_lensblur.jpg").read_bytes()
    target = tmp_path / "cut.jpg"
    for cut in [*range(0, len(data), len(data) // 23), 945, 66407, 298564, len(data) - 1]:
        target.write_bytes(data[:cut])
        with pytest.raises(CaptureError, match=r"cut\.jpg"):
            read_android_capture(target)


def gdepth_file(
    path: Path, depth_data: str, image_data: str | None = None, extra_xmp: str = ""
) -> Path:
    """A minimal Lens Blur style JPEG with the given base64 fields (and any further elements)
    in its extended XMP."""
    fields = f'GDepth:Data="{depth_data}"' + (f' GImage:Data="{image_data}"' if image_data else "")
    extended = (
        f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="{RDF}"><rdf:Description '
        'xmlns:GDepth="http://ns.google.com/photos/1.0/depthmap/" '
        f'xmlns:GImage="http://ns.google.com/photos/1.0/image/" {fields}>{extra_xmp}'
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
    ).encode()
    standard = (
        f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="{RDF}"><rdf:Description '
        'xmlns:GDepth="http://ns.google.com/photos/1.0/depthmap/" '
        'xmlns:xmpNote="http://ns.adobe.com/xmp/note/" GDepth:Format="RangeLinear" '
        'GDepth:Near="1" GDepth:Far="3" GDepth:Mime="image/png" '
        f'xmpNote:HasExtendedXMP="{extended_xmp_guid(extended)}"/></rdf:RDF></x:xmpmeta>'
    ).encode()
    buffer = io.BytesIO()
    Image.fromarray(smooth_image(20, 30)).save(buffer, format="JPEG")
    path.write_bytes(insert_xmp(buffer.getvalue(), standard, extended))
    return path


def png_base64(array: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_gdepth_range_linear_depth_is_stretched_to_the_image(tmp_path):
    codes = np.array([[0, 255], [255, 0]], dtype=np.uint8).repeat(10, 0).repeat(15, 1)[::2, ::3]
    record = read_gdepth(gdepth_file(tmp_path / "g.jpg", png_base64(codes)))
    assert record.depth.shape == (20, 30)
    assert record.depth.min() == pytest.approx(1.0)
    assert record.depth.max() == pytest.approx(3.0)
    assert record.depth[0, 0] == pytest.approx(1.0)
    assert record.depth[0, -1] == pytest.approx(3.0)
    assert "original_image" not in record.extras


@pytest.mark.parametrize(
    ("depth_data", "image_data"),
    [
        ("!!not*base64!!", None),
        ("QUJD", None),  # valid base64, not an image
        (png_base64(np.zeros((4, 6), np.uint8)), "@@@@"),
        (png_base64(np.zeros((4, 6), np.uint8)), base64.b64encode(b"\xff\xd8\xff").decode()),
    ],
)
def test_gdepth_garbage_payloads_are_capture_errors(tmp_path, depth_data, image_data):
    path = gdepth_file(tmp_path / "bad.jpg", depth_data, image_data)
    with pytest.raises(CaptureError, match=r"bad\.jpg"):
        read_android_capture(path)


def encoded(pixels: np.ndarray, image_format: str) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Pillow deprecates writing IM
        Image.fromarray(pixels).save(buffer, format=image_format)
    return buffer.getvalue()


def zero_png(width: int, height: int) -> bytes:
    """A valid all-zero 8-bit grey PNG, compressed in slices: ~100 KB for 10000×10000."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + payload))
        return struct.pack(">I", len(payload)) + kind + payload + crc

    compressor = zlib.compressobj(9)
    row = bytes(width + 1)  # filter type 0, then the pixels
    rows_per_slice = 100
    slices = [compressor.compress(row * rows_per_slice) for _ in range(height // rows_per_slice)]
    pixels = b"".join(slices) + compressor.compress(row * (height % rows_per_slice))
    pixels += compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def test_gdepth_hiding_a_10000_square_png_is_refused_before_decoding(tmp_path):
    bomb = zero_png(10000, 10000)
    assert len(bomb) < 150_000
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        image = Image.open(io.BytesIO(bomb))  # a genuine 10⁸-pixel PNG
    with image:
        assert (image.size, image.mode) == ((10000, 10000), "L")
    depth = png_base64(np.zeros((20, 30), np.uint8))
    path = gdepth_file(tmp_path / "bomb.jpg", depth, base64.b64encode(bomb).decode())
    size = path.stat().st_size
    with pytest.raises(
        CaptureError,
        match=rf"bomb\.jpg: GImage:Data of 10000x10000 exceeds {64 * size} pixels, "
        rf"the bound for a {size}-byte file",
    ):
        read_android_capture(path)
    path = gdepth_file(tmp_path / "bomb.jpg", base64.b64encode(bomb).decode())
    with pytest.raises(CaptureError, match=r"GDepth:Data of 10000x10000 exceeds 16000000 pixels"):
        read_android_capture(path)


@pytest.mark.parametrize("image_format", ["TIFF", "AVIF", "IM", "PCX", "GIF", "BMP", "WEBP"])
def test_gdepth_depth_in_other_formats_is_refused(tmp_path, image_format):
    depth = base64.b64encode(encoded(np.zeros((20, 30), np.uint8), image_format)).decode()
    path = gdepth_file(tmp_path / "other.jpg", depth)
    with pytest.raises(
        CaptureError, match=r"other\.jpg: cannot decode GDepth:Data: not a readable PNG or JPEG"
    ):
        read_android_capture(path)


def test_xmp_with_too_many_elements_or_attributes_is_refused(tmp_path):
    depth = png_base64(np.zeros((20, 30), np.uint8))

    def bag(count: int) -> str:
        return "<rdf:Bag>" + "<rdf:li/>" * count + "</rdf:Bag>"

    path = gdepth_file(tmp_path / "many.jpg", depth, extra_xmp=bag(60_000))
    with pytest.raises(CaptureError, match=r"many\.jpg: XMP packet has 600\d\d .*over 50000"):
        read_android_capture(path)
    attributes = "<rdf:li " + " ".join(f'GDepth:k{i}="1"' for i in range(60_000)) + "/>"
    path = gdepth_file(tmp_path / "many.jpg", depth, extra_xmp=attributes)
    with pytest.raises(CaptureError, match=r"many\.jpg: XMP packet has 600\d\d .*over 50000"):
        read_android_capture(path)
    record = read_android_capture(gdepth_file(tmp_path / "few.jpg", depth, extra_xmp=bag(40_000)))
    assert record.depth.shape == (20, 30)


# --- Dynamic Depth ---------------------------------------------------------------------------

IMAGE = smooth_image(48, 64)
DEPTH = scene_depth(24, 32)
INTRINSICS = Intrinsics(52.5, 52.0, 31.75, 23.5, 64, 48)


@pytest.mark.parametrize("extended", [False, True], ids=["standard", "extended"])
@pytest.mark.parametrize("bits", [8, 16])
@pytest.mark.parametrize("depth_format", ["RangeInverse", "RangeLinear"])
def test_dynamic_depth_round_trip(tmp_path, depth_format, bits, extended):
    rng = np.random.default_rng(bits)
    confidence = rng.random(DEPTH.shape).astype(np.float32)
    original = smooth_image(48, 64, seed=7)
    path = tmp_path / "dd.jpg"
    near, far = 0.4, 5.0
    write_dynamic_depth(
        path,
        IMAGE,
        DEPTH,
        format=depth_format,
        near=near,
        far=far,
        bit_depth=bits,
        confidence=confidence,
        intrinsics=INTRINSICS,
        original_image=original,
        extended_xmp=extended,
    )
    record = read_dynamic_depth(path)
    bound = quantisation_bound(DEPTH, depth_format, near, far, bits)
    error = np.abs(record.depth.astype(np.float64) - DEPTH)
    assert np.all(error <= bound + 1e-6 * DEPTH), float((error - bound).max())
    assert np.abs(record.confidence - confidence).max() <= 0.5 / 255 + 1e-6
    assert record.depth.shape == DEPTH.shape
    assert np.abs(record.image.astype(int) - IMAGE).mean() < 3  # JPEG quality 95
    assert np.abs(record.extras["original_image"].astype(int) - original).mean() < 3
    assert record.intrinsics == INTRINSICS
    assert (record.kind, record.units, record.accuracy) == (
        DepthKind.DEPTH,
        DepthUnits.METERS,
        Accuracy.ABSOLUTE,
    )
    assert record.extras["depth_format"] == depth_format
    data = path.read_bytes()
    xmp = read_jpeg_xmp(data, path)
    assert (xmp.extended is not None) == extended
    # The stored depth PNG holds exactly the spec's codes round(dn · (2^bits − 1)).
    lengths = [int(n) for n in re.findall(rb'Item:Length="(\d+)"', xmp.extended or xmp.standard)]
    start = xmp.primary_end + lengths[0]
    stored = np.asarray(Image.open(io.BytesIO(data[start : start + lengths[1]])))
    expected_codes = np.rint(
        reference_encode(DEPTH.astype(np.float64), depth_format, near, far) * ((1 << bits) - 1)
    )
    np.testing.assert_array_equal(stored, expected_codes)
    assert read_android_capture(path).source_format == "dynamic_depth"


def test_sixteen_bit_depth_is_finer_than_eight_bit(tmp_path):
    errors = {}
    for bits in (8, 16):
        write_dynamic_depth(tmp_path / f"{bits}.jpg", IMAGE, DEPTH, bit_depth=bits)
        errors[bits] = np.abs(read_dynamic_depth(tmp_path / f"{bits}.jpg").depth - DEPTH).max()
    assert errors[16] < errors[8] / 100
    assert errors[8] > 0


@pytest.mark.parametrize(
    ("units", "expected"),
    [
        ("Meters", (DepthUnits.METERS, Accuracy.ABSOLUTE)),
        ("Diopters", (DepthUnits.DIOPTERS, Accuracy.RELATIVE)),
        ("None", (DepthUnits.RELATIVE, Accuracy.RELATIVE)),
    ],
)
def test_dynamic_depth_units(tmp_path, units, expected):
    write_dynamic_depth(tmp_path / "u.jpg", IMAGE, DEPTH, units=units)
    record = read_dynamic_depth(tmp_path / "u.jpg")
    assert (record.units, record.accuracy) == expected
    assert record.confidence is None
    assert record.intrinsics is None
    assert "original_image" not in record.extras
    # Defaults span the data: extremes are exact codes 0 and 255.
    assert record.depth.min() == pytest.approx(DEPTH.min(), rel=1e-6)
    assert record.depth.max() == pytest.approx(DEPTH.max(), rel=1e-6)


def rewrite_xmp(path: Path, edit) -> None:
    """Apply `edit` to the Dynamic Depth XMP text, keeping the appended item payloads."""
    data = path.read_bytes()
    xmp = read_jpeg_xmp(data, path)
    path.write_bytes(
        insert_xmp(data[: xmp.primary_end], edit(xmp.standard.decode()).encode())
        + data[xmp.primary_end :]
    )


def test_item_length_past_end_of_file(tmp_path):
    path = tmp_path / "long.jpg"
    write_dynamic_depth(path, IMAGE, DEPTH)
    rewrite_xmp(path, lambda text: re.sub(r'Item:Length="(\d+)"', r'Item:Length="9\1"', text))
    with pytest.raises(CaptureError, match=r"long\.jpg.*past the end"):
        read_dynamic_depth(path)


def with_depth_item(path: Path, payload: bytes) -> Path:
    """A Dynamic Depth file (depth item only) whose depth item is replaced by `payload`."""
    data = path.read_bytes()
    xmp = read_jpeg_xmp(data, path)
    old = f'Item:Length="{len(data) - xmp.primary_end}"'
    text = xmp.standard.decode()
    assert text.count(old) == 1
    text = text.replace(old, f'Item:Length="{len(payload)}"')
    path.write_bytes(insert_xmp(data[: xmp.primary_end], text.encode()) + payload)
    return path


@pytest.mark.parametrize("image_format", ["TIFF", "AVIF", "IM", "PCX", "GIF", "BMP", "WEBP"])
def test_dynamic_depth_items_in_other_formats_are_refused(tmp_path, image_format):
    codes = np.arange(24 * 32, dtype=np.uint32).reshape(24, 32).astype(np.uint8)
    path = tmp_path / "item.jpg"
    write_dynamic_depth(path, IMAGE, DEPTH, format="RangeLinear", near=1.0, far=2.0)
    with_depth_item(path, encoded(codes, "PNG"))  # the control: a PNG item is read back
    np.testing.assert_allclose(read_android_capture(path).depth, 1 + codes / 255, rtol=1e-6)
    with_depth_item(path, encoded(codes, image_format))
    with pytest.raises(
        CaptureError, match=r"item\.jpg: cannot decode depth map: not a readable PNG or JPEG"
    ):
        read_android_capture(path)


@pytest.mark.parametrize(
    ("edit", "error", "message"),
    [
        (
            lambda t: t.replace("android/depthmap</DepthMap", "android/gone</DepthMap"),
            CaptureError,
            "absent",
        ),
        (lambda t: t.replace('Item:Length="0"', 'Item:Length="-4"'), CaptureError, "byte count"),
        (lambda t: t.replace('Item:Padding="0"', 'Item:Padding="²"'), CaptureError, "byte count"),
        (
            lambda t: t.replace('Item:Padding="0"', f'Item:Padding="{"9" * 5000}"'),
            CaptureError,
            "byte count",
        ),
        (lambda t: t.replace(">RangeInverse<", ">RangeCubic<"), UnsupportedCaptureError, "Format"),
        (
            lambda t: re.sub(r"<Camera:DepthMap.*</Camera:DepthMap>", "", t),
            NoDepthError,
            "no Camera:DepthMap",
        ),
        (lambda t: t.replace(">Meters<", ">Furlongs<"), CaptureError, "Units"),
        (
            lambda t: re.sub(r"<DepthMap:Near>[^<]+<", "<DepthMap:Near>9e9<", t),
            CaptureError,
            "near",
        ),
        (lambda t: re.sub(r"<DepthMap:Far>[^<]+<", "<DepthMap:Far>nan<", t), CaptureError, "Far"),
    ],
)
def test_inconsistent_dynamic_depth_metadata(tmp_path, edit, error, message):
    path = tmp_path / "meta.jpg"
    write_dynamic_depth(path, IMAGE, DEPTH)
    rewrite_xmp(path, edit)
    with pytest.raises(error, match=rf"meta\.jpg.*{message}"):
        read_android_capture(path)


def test_dynamic_depth_truncated_anywhere_is_a_capture_error(tmp_path):
    path = tmp_path / "dd.jpg"
    write_dynamic_depth(path, IMAGE, DEPTH, confidence=np.ones_like(DEPTH), extended_xmp=True)
    data = path.read_bytes()
    primary_end = read_jpeg_xmp(data, path).primary_end
    cuts = {*range(0, len(data), 211), primary_end - 1, primary_end, primary_end + 1, len(data) - 1}
    for cut in sorted(cuts):
        path.write_bytes(data[:cut])
        with pytest.raises(CaptureError, match=r"dd\.jpg"):
            read_android_capture(path)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.tuples(st.integers(0, 10**9), st.integers(0, 255)), min_size=1, max_size=8))
def test_corrupted_bytes_never_raise_anything_but_capture_error(tmp_path, corruptions):
    path, clean = tmp_path / "fuzz.jpg", tmp_path / "clean.jpg"
    if not clean.exists():
        write_dynamic_depth(clean, IMAGE, DEPTH, confidence=np.ones_like(DEPTH))
    data = bytearray(clean.read_bytes())
    for position, value in corruptions:
        data[position % len(data)] = value
    path.write_bytes(bytes(data))
    with contextlib.suppress(CaptureError):
        read_android_capture(path)


def test_jpeg_without_depth_metadata_is_no_depth(tmp_path):
    buffer = io.BytesIO()
    Image.fromarray(IMAGE).save(buffer, format="JPEG")
    (tmp_path / "plain.jpg").write_bytes(buffer.getvalue())
    with pytest.raises(NoDepthError, match=r"plain\.jpg"):
        read_android_capture(tmp_path / "plain.jpg")
    other_xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"/>'
    (tmp_path / "other.jpg").write_bytes(insert_xmp(buffer.getvalue(), other_xmp))
    with pytest.raises(NoDepthError):
        read_android_capture(tmp_path / "other.jpg")
    (tmp_path / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(CaptureError, match="not a JPEG"):
        read_android_capture(tmp_path / "x.png")
    with pytest.raises(CaptureError, match="cannot read"):
        read_android_capture(tmp_path / "missing.jpg")


def test_entity_expansion_xmp_is_refused(tmp_path):
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/">&b;</x:xmpmeta>'
    )
    buffer = io.BytesIO()
    Image.fromarray(IMAGE).save(buffer, format="JPEG")
    (tmp_path / "bomb.jpg").write_bytes(insert_xmp(buffer.getvalue(), bomb))
    with pytest.raises(CaptureError, match=r"bomb\.jpg.*refused"):
        read_android_capture(tmp_path / "bomb.jpg")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"depth": np.where(DEPTH > 1, np.nan, DEPTH)}, "NaN"),
        ({"depth": np.where(DEPTH > 1, np.inf, DEPTH)}, "NaN or infinite"),
        ({"depth": DEPTH.astype(np.int32)}, "floating point"),
        ({"depth": DEPTH[0]}, "2-D"),
        ({"image": IMAGE.astype(np.float32)}, "uint8"),
        ({"image": IMAGE[..., 0]}, "HxWx3"),
        ({"format": "RangeCubic"}, "format"),
        ({"bit_depth": 12}, "bit_depth"),
        ({"units": "Feet"}, "units"),
        ({"near": 3.0, "far": 2.0}, "near < far"),
        ({"depth": DEPTH - 1.0}, "near > 0"),
        ({"confidence": np.full(DEPTH.shape, 1.5, np.float32)}, "confidence"),
        ({"confidence": np.ones((3, 3), np.float32)}, "confidence"),
        ({"original_image": IMAGE[..., :2]}, "original_image"),
    ],
)
def test_dynamic_depth_writer_refuses_bad_arguments_and_leaves_no_file(tmp_path, kwargs, message):
    path = tmp_path / "out.jpg"
    path.write_bytes(b"previous")
    arguments = {"image": IMAGE, "depth": DEPTH} | kwargs
    image, depth = arguments.pop("image"), arguments.pop("depth")
    with pytest.raises(ValueError, match=rf"out\.jpg: .*{message}"):
        write_dynamic_depth(path, image, depth, **arguments)
    assert path.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jpg"]


# --- DEPTH16 ---------------------------------------------------------------------------------


def test_depth16_decodes_the_bit_layout():
    # (confidence code, range mm) per sample; code 0 = full confidence, code c = (c − 1)/7.
    rows = [
        [(0, 1234), (1, 500), (2, 8191), (7, 1)],
        [(5, 0), (3, 4000), (4, 42), (6, 7000)],
    ]
    padding = b"\xaa\xbb"  # stride of 10 bytes for 4 samples; padding must be ignored
    buffer = b"".join(
        b"".join(struct.pack("<H", (code << 13) | mm) for code, mm in row) + padding for row in rows
    )
    depth, confidence = decode_depth16(buffer, 4, 2, 10)
    expected_depth = np.array([[1.234, 0.5, 8.191, 0.001], [np.nan, 4.0, 0.042, 7.0]], np.float32)
    np.testing.assert_array_equal(np.isnan(depth), np.isnan(expected_depth))
    np.testing.assert_allclose(depth, expected_depth, rtol=1e-7)
    expected_confidence = [[1.0, 0.0, 1 / 7, 6 / 7], [0.0, 2 / 7, 3 / 7, 5 / 7]]
    np.testing.assert_allclose(confidence, expected_confidence, rtol=1e-6)


@pytest.mark.parametrize("stride_padding", [0, 6, 64])
@pytest.mark.parametrize("drop_last_row_padding", [False, True])
def test_depth16_round_trip_with_stride_and_confidence(
    tmp_path, stride_padding, drop_last_row_padding
):
    rng = np.random.default_rng(stride_padding)
    depth = rng.uniform(0.2, 8.0, (12, 16)).astype(np.float32)
    depth[rng.random(depth.shape) < 0.1] = np.nan
    confidence = rng.random(depth.shape).astype(np.float32)
    stride = 32 + stride_padding
    data = encode_depth16(depth, confidence, row_stride=stride)
    assert len(data) == stride * 12
    if drop_last_row_padding:
        data = data[: len(data) - stride_padding]
    (tmp_path / "d.raw").write_bytes(data)
    record = read_depth16(
        tmp_path / "d.raw", smooth_image(36, 48), width=16, height=12, row_stride=stride
    )
    holes = np.isnan(depth)
    np.testing.assert_array_equal(np.isnan(record.depth), holes)
    assert np.nanmax(np.abs(record.depth - depth)) <= 0.0005 + 1e-6  # half a millimetre
    known_error = np.abs(record.confidence - confidence)[~holes]
    assert known_error.max() <= 1 / 14 + 1e-6  # half of the 1/7 confidence step
    assert np.all(record.confidence[holes] == 0)
    assert (record.units, record.accuracy, record.kind) == (
        DepthUnits.METERS,
        Accuracy.ABSOLUTE,
        DepthKind.DEPTH,
    )


def test_write_depth16_and_read_back(tmp_path):
    depth = np.full((4, 6), 1.5, np.float32)
    write_depth16(tmp_path / "w.raw", depth)
    assert (tmp_path / "w.raw").read_bytes() == struct.pack("<H", 1500) * 24
    decoded, confidence = decode_depth16((tmp_path / "w.raw").read_bytes(), 6, 4)
    np.testing.assert_allclose(decoded, 1.5)
    np.testing.assert_array_equal(confidence, 1.0)


@pytest.mark.parametrize(
    ("width", "height", "length", "stride", "message"),
    [
        (0, 4, 0, None, "positive"),
        (6, 0, 0, None, "positive"),
        (5, 4, 40, None, "even"),
        (6, 3, 36, None, "even"),
        (6, 4, 47, None, "47 bytes"),
        (6, 4, 49, None, "49 bytes"),
        (6, 4, 0, None, "0 bytes"),
        (6, 4, 48, 10, "stride 10"),
        (6, 4, 48, 16, "48 bytes"),
    ],
)
def test_depth16_bad_buffers(tmp_path, width, height, length, stride, message):
    path = tmp_path / "bad.raw"
    path.write_bytes(bytes(length))
    with pytest.raises(CaptureError, match=rf"bad\.raw: .*{message}"):
        read_depth16(path, smooth_image(4, 6), width=width, height=height, row_stride=stride)


@pytest.mark.parametrize(
    ("width", "height", "stride", "message"),
    [
        (np.int64(2**32), np.int64(2**32), None, "exceeds"),  # 2**64 wraps to 0 in int64
        (np.uint64(2**63), np.uint64(2), None, "exceeds"),
        (True, 2, None, "positive integers"),
        (4.0, 2, None, "positive integers"),
        (np.int32(-2), 2, None, "positive integers"),
        (16, 2, 2**31, "buffer has 64 bytes"),  # two rows need stride + 32 bytes
        (16, 2, np.int64(2**62), "buffer has 64 bytes"),
        (16, 2, np.int64(-1), "row stride"),
        (16, 2, 32.0, "row stride"),
    ],
)
def test_depth16_api_sizes_are_checked_before_any_allocation(width, height, stride, message):
    tracemalloc.start()
    try:
        with pytest.raises(CaptureError, match=message):
            decode_depth16(bytes(64), width, height, stride)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


def test_arcore_single_row_with_a_huge_stride_reads_only_its_bytes():
    millimetres = np.arange(1, 33, dtype="<u2")
    tracemalloc.start()
    try:
        depth = decode_arcore_depth(millimetres.tobytes(), 32, 1, row_stride=2**31)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20  # padding the buffer to the stride would take 2 GiB
    np.testing.assert_allclose(depth, millimetres[None] / 1000, rtol=1e-7)
    with pytest.raises(CaptureError, match="exceeds"):
        decode_arcore_confidence(b"", np.int64(2**32), np.int64(2**32))


def test_depth16_image_must_match_aspect(tmp_path):
    (tmp_path / "d.raw").write_bytes(encode_depth16(np.ones((4, 6), np.float32)))
    with pytest.raises(CaptureError, match="aspect"):
        read_depth16(tmp_path / "d.raw", smooth_image(30, 30), width=6, height=4)


@pytest.mark.parametrize(
    ("depth", "message"),
    [
        (np.full((4, 6), np.inf, np.float32), "within"),
        (np.full((4, 6), 8.2, np.float32), "within"),
        (np.full((4, 6), 0.0001, np.float32), "within"),
        (np.ones((3, 6), np.float32), "even"),
        (np.ones(6, np.float32), "2-D"),
    ],
)
def test_depth16_writer_refuses_unrepresentable_depth(tmp_path, depth, message):
    with pytest.raises(ValueError, match=rf"x\.raw: .*{message}"):
        write_depth16(tmp_path / "x.raw", depth)
    assert not (tmp_path / "x.raw").exists()
    with pytest.raises(ValueError, match="confidence"):
        write_depth16(tmp_path / "x.raw", np.ones((4, 6)), np.full((4, 6), -0.1))


# --- ARCore ----------------------------------------------------------------------------------


def test_arcore_raw_buffers_with_stride(tmp_path):
    millimetres = np.array([[0, 1000, 65535], [250, 7, 12000]], np.uint16)
    stride = 8
    rows = np.zeros((2, stride), np.uint8)
    rows[:, :6] = millimetres.astype("<u2").view(np.uint8)
    (tmp_path / "d.raw").write_bytes(rows.tobytes())
    confidence_codes = np.array([[0, 128, 255], [255, 3, 64]], np.uint8)
    (tmp_path / "c.raw").write_bytes(confidence_codes.tobytes())
    record = read_arcore_depth(
        tmp_path / "d.raw",
        smooth_image(20, 30),
        confidence_path=tmp_path / "c.raw",
        width=3,
        height=2,
        row_stride=stride,
    )
    expected = np.where(millimetres > 0, millimetres / 1000.0, np.nan)
    np.testing.assert_allclose(record.depth, expected, rtol=1e-7)
    np.testing.assert_allclose(record.confidence, confidence_codes / 255.0, rtol=1e-6)
    assert record.units is DepthUnits.METERS
    np.testing.assert_allclose(
        decode_arcore_depth(rows.tobytes(), 3, 2, stride), expected, rtol=1e-7
    )
    assert decode_arcore_confidence(confidence_codes.tobytes(), 3, 2).shape == (2, 3)


def test_arcore_png_files(tmp_path):
    millimetres = np.arange(1, 13, dtype=np.uint16).reshape(3, 4) * 5000
    millimetres[0, 0] = 0
    Image.fromarray(millimetres).save(tmp_path / "depth.png")
    Image.fromarray(np.full((3, 4), 51, np.uint8)).save(tmp_path / "conf.png")
    record = read_arcore_depth(
        tmp_path / "depth.png", smooth_image(30, 40), confidence_path=tmp_path / "conf.png"
    )
    assert np.isnan(record.depth[0, 0])
    np.testing.assert_allclose(record.depth[1:], millimetres[1:] / 1000.0, rtol=1e-7)
    np.testing.assert_allclose(record.confidence, 0.2, rtol=1e-6)


def test_arcore_bad_inputs(tmp_path):
    Image.fromarray(np.ones((3, 4), np.uint8)).save(tmp_path / "eight.png")
    with pytest.raises(CaptureError, match="16-bit"):
        read_arcore_depth(tmp_path / "eight.png", smooth_image(30, 40))
    (tmp_path / "d.raw").write_bytes(bytes(24))
    with pytest.raises(CaptureError, match="width and height"):
        read_arcore_depth(tmp_path / "d.raw", smooth_image(30, 40))
    (tmp_path / "c.raw").write_bytes(bytes(11))
    with pytest.raises(CaptureError, match=r"c\.raw: buffer has 11 bytes"):
        read_arcore_depth(
            tmp_path / "d.raw",
            smooth_image(30, 40),
            confidence_path=tmp_path / "c.raw",
            width=4,
            height=3,
        )
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    with pytest.raises(CaptureError, match="cannot decode"):
        read_arcore_depth(tmp_path / "broken.png", smooth_image(30, 40))


# --- Dynamic Depth item semantics (Pixel portraits) -------------------------------------

# A Pixel-like portrait, scaled down: RangeLinear 0.3–8.0, fx 1812.5 at 3264×2448.
PIXEL_SIZE = (3264, 2448)
PIXEL_INTRINSICS = Intrinsics(1812.5, 1812.5, 1632.0, 1224.0, *PIXEL_SIZE)


def pixel_portrait(path: Path, **options) -> Path:
    write_dynamic_depth(
        path,
        IMAGE,
        DEPTH,
        format="RangeLinear",
        near=0.3,
        far=8.0,
        units="None",
        intrinsics=PIXEL_INTRINSICS,
        **options,
    )
    return path


def test_segmentation_labelled_depth_map_is_read_as_depth(tmp_path):
    labelled = pixel_portrait(tmp_path / "pixel.jpg", item_semantic="Segmentation")
    assert b"ItemSemantic>Segmentation<" in labelled.read_bytes()
    record = read_android_capture(labelled)
    reference = read_dynamic_depth(pixel_portrait(tmp_path / "depth.jpg"))
    np.testing.assert_array_equal(record.depth, reference.depth)
    assert np.abs(record.depth - DEPTH).max() <= 0.5 / 255 * (8.0 - 0.3) + 1e-5
    assert record.units is DepthUnits.RELATIVE
    assert record.intrinsics == PIXEL_INTRINSICS
    assert record.extras["depth_item_semantic"] == "Segmentation"
    assert reference.extras["depth_item_semantic"] == "Depth"
    assert record.notes == ['depth map labelled ItemSemantic="Segmentation", read as depth']
    assert reference.notes == []


def test_dynamic_depth_without_a_depth_item_is_no_depth(tmp_path):
    path = pixel_portrait(tmp_path / "none.jpg", item_semantic="Segmentation")
    rewrite_xmp(path, lambda text: re.sub(r"<Camera:DepthMap.*</Camera:DepthMap>", "", text))
    with pytest.raises(NoDepthError, match=r"none\.jpg: .*no Camera:DepthMap"):
        read_android_capture(path)
    with pytest.raises(NoDepthError, match="no Camera:DepthMap"):
        read_dynamic_depth(path)


def test_writer_refuses_an_unknown_item_semantic(tmp_path):
    with pytest.raises(ValueError, match="item_semantic"):
        pixel_portrait(tmp_path / "bad.jpg", item_semantic="Mask")
    assert not (tmp_path / "bad.jpg").exists()


def gfocus_elements(**fields: str) -> str:
    namespace = "http://ns.google.com/photos/1.0/focus/"
    return "".join(
        f'<GFocus:{key} xmlns:GFocus="{namespace}">{value}</GFocus:{key}>'
        for key, value in fields.items()
    )


def test_gdepth_gfocus_becomes_render_focus_and_bad_values_are_said(tmp_path):
    codes = np.full((20, 30), 128, np.uint8)
    good = gfocus_elements(
        FocalDistance="2.0", BlurAtInfinity="0.01", FocalPointX="0.5", FocalPointY="0.25"
    )
    record = read_gdepth(gdepth_file(tmp_path / "good.jpg", png_base64(codes), extra_xmp=good))
    assert record.render_focus.point == (15.0, 5.0)  # normalised to the 30x20 image
    assert (record.render_focus.distance, record.render_focus.blur_at_infinity) == (2.0, 0.01)
    assert record.notes == []
    outside = gfocus_elements(
        FocalDistance="2.0", BlurAtInfinity="0.01", FocalPointX="1.5", FocalPointY="0.25"
    )
    record = read_gdepth(gdepth_file(tmp_path / "out.jpg", png_base64(codes), extra_xmp=outside))
    assert record.render_focus.point is None
    assert any("FocalPointX/Y" in note and "ignored" in note for note in record.notes)
    negative = gfocus_elements(FocalDistance="-2.0", BlurAtInfinity="0.01")
    record = read_gdepth(gdepth_file(tmp_path / "neg.jpg", png_base64(codes), extra_xmp=negative))
    assert record.render_focus is None
    assert any("FocalDistance -2" in note for note in record.notes)
