"""iPhone portrait captures: real HEIC files, MPF JPEG round trips, and hostile input."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pillow_heif
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from dc2kit.capture.errors import CaptureError, NoDepthError, UnsupportedCaptureError
from dc2kit.capture.record import Accuracy, CaptureRecord, DepthKind, DepthUnits, Intrinsics
from dc2kit.ios_bridge import (
    AppleDepthInfo,
    build_apple_depth_xmp,
    parse_apple_depth_xmp,
    read_iphone_capture,
    read_iphone_heic,
    read_iphone_jpeg,
    write_iphone_portrait_jpeg,
)
from dc2kit.ios_bridge.apple_depth_xmp import dequantize
from dc2kit.ios_bridge.heif_boxes import read_item, read_meta
from dc2kit.ios_bridge.portrait_jpeg import assemble_mpf, encode_jpeg

CAPTURES = (Path(__file__).parents[1] / ".." / "shared" / "data" / "captures").resolve()
PORTRAIT_HEIC = CAPTURES / "iphone13pro_portrait.heic"
NO_DEPTH_HEIC = CAPTURES / "iphone7_no_depth.heic"
DEPTH_URN = "urn:mpeg:hevc:2015:auxid:2"
MATTE_URN = "urn:com:apple:photo:2018:aux:portraiteffectsmatte"
BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description xmlns:apdi="http://ns.apple.com/pixeldatainfo/1.0/"
 apdi:AuxiliaryImageType="disparity" apdi:Note="&lol3;"/></rdf:RDF></x:xmpmeta>"""


def real_capture(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"real capture {path.name} not found under {CAPTURES} (needs ../shared)")
    return path


def expect_capture_error(read, path: Path, error_type: type[CaptureError] = CaptureError) -> str:
    """Call `read(path)`; it must raise `error_type` with a one-line message naming the file."""
    with pytest.raises(error_type) as caught:
        read(path)
    message = str(caught.value)
    assert "\n" not in message
    assert str(path) in message
    return message


# --- synthetic HEIF files (boxes only, no decodable pixels) -------------------------------------


def box(kind: str, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind.encode()) + payload


def full_box(kind: str, version: int, flags: int, payload: bytes) -> bytes:
    return box(kind, struct.pack(">I", version << 24 | flags) + payload)


def uint(value: int, size: int) -> bytes:
    return value.to_bytes(size, "big") if size else b""


def infe(item_id: int, item_type: str, content_type: str = "") -> bytes:
    payload = struct.pack(">HH4s", item_id, 0, item_type.encode()) + b"\x00"
    if item_type == "mime":
        payload += content_type.encode() + b"\x00"
    return full_box("infe", 2, 0, payload)


def iloc(
    items: dict[int, tuple[int, int]],
    base: int,
    *,
    version: int = 1,
    offset_size: int = 4,
    length_size: int = 4,
    base_offset_size: int = 4,
) -> bytes:
    """Locations of `items` (id → (offset, length) from `base`), with the requested field sizes."""
    payload = bytes([offset_size << 4 | length_size, base_offset_size << 4])
    payload += uint(len(items), 2 if version < 2 else 4)
    for item_id, (offset, length) in items.items():
        payload += uint(item_id, 2 if version < 2 else 4)
        payload += b"\x00\x00" if version > 0 else b""  # construction method 0
        payload += uint(0, 2)  # data reference index: this file
        if base_offset_size:
            payload += uint(base, base_offset_size) + uint(1, 2)
            payload += uint(offset, offset_size) + uint(length, length_size)
        else:
            payload += uint(1, 2) + uint(base + offset, offset_size) + uint(length, length_size)
    return full_box("iloc", version, 0, payload)


def synthetic_heif(
    xmp: bytes = b"<x/>",
    *,
    depth_size: tuple[int, int] = (32, 24),
    primary_size: tuple[int, int] = (64, 48),
    with_depth: bool = True,
    iref_version: int = 0,
    **iloc_options: int,
) -> bytes:
    """A HEIF with a primary (item 1), a matte (item 4), optionally a depth item (2) whose XMP
    (item 3) is attached by `cdsc`, and dummy payloads in `mdat`."""
    payloads = {1: b"P" * 40, 2: b"D" * 30, 3: xmp, 4: b"M" * 20}
    offsets, position = {}, 0
    for item_id, payload in payloads.items():
        offsets[item_id] = (position, len(payload))
        position += len(payload)
    id_size = 2 if iref_version == 0 else 4

    def reference(kind: str, source: int, target: int) -> bytes:
        return box(kind, uint(source, id_size) + uint(1, 2) + uint(target, id_size))

    properties = [
        full_box("ispe", 0, 0, struct.pack(">II", *primary_size)),
        full_box("ispe", 0, 0, struct.pack(">II", *depth_size)),
        full_box("auxC", 0, 0, DEPTH_URN.encode() + b"\x00"),
        full_box("auxC", 0, 0, MATTE_URN.encode() + b"\x00"),
    ]
    associations = {1: [1], 2: [2, 3], 4: [2, 4]} if with_depth else {1: [1], 4: [2, 4]}
    ipma = struct.pack(">I", len(associations)) + b"".join(
        struct.pack(">HB", item, len(indices)) + bytes(indices)
        for item, indices in associations.items()
    )
    refs = [reference("cdsc", 3, 2), reference("auxl", 2, 1), reference("auxl", 4, 1)]

    def meta(base: int) -> bytes:
        return full_box(
            "meta",
            0,
            0,
            full_box("hdlr", 0, 0, b"\x00" * 4 + b"pict" + b"\x00" * 13)
            + full_box("pitm", 0, 0, struct.pack(">H", 1))
            + full_box(
                "iinf",
                0,
                0,
                struct.pack(">H", 4)
                + infe(1, "hvc1")
                + infe(2, "hvc1")
                + infe(3, "mime", "application/rdf+xml")
                + infe(4, "hvc1"),
            )
            + full_box("iref", iref_version, 0, b"".join(refs))
            + box("iprp", box("ipco", b"".join(properties)) + full_box("ipma", 0, 0, ipma))
            + iloc(offsets, base, **iloc_options),
        )

    ftyp = box("ftyp", b"heic" + b"\x00\x00\x00\x00" + b"mif1heic")
    base = len(ftyp) + len(meta(0)) + 8
    return ftyp + meta(base) + box("mdat", b"".join(payloads.values()))


@pytest.mark.parametrize(
    ("version", "offset_size", "length_size", "base_offset_size", "iref_version"),
    [(0, 4, 4, 0, 0), (1, 4, 4, 4, 1), (1, 8, 4, 8, 0), (2, 8, 8, 0, 1), (2, 4, 8, 4, 0)],
)
def test_box_reader_finds_depth_xmp_for_each_iloc_layout(
    version: int, offset_size: int, length_size: int, base_offset_size: int, iref_version: int
) -> None:
    xmp = build_apple_depth_xmp(AppleDepthInfo(aux_type="disparity", float_min=1.0))
    data = synthetic_heif(
        xmp,
        version=version,
        offset_size=offset_size,
        length_size=length_size,
        base_offset_size=base_offset_size,
        iref_version=iref_version,
    )
    meta = read_meta(data, None)
    assert meta.primary_id == 1
    assert meta.depth_item_ids() == [2]  # the matte (item 4) is not depth
    assert meta.sizes == {1: (64, 48), 2: (32, 24), 4: (32, 24)}
    xmp_id = meta.xmp_item_for(2)
    assert xmp_id == 3
    assert meta.xmp_item_for(4) is None
    assert read_item(data, meta, xmp_id, None, 1 << 20) == xmp
    assert read_item(data, meta, 4, None, 1 << 20) == b"M" * 20


# --- the real iPhone HEIC files ------------------------------------------------------------------


def test_real_iphone13pro_portrait_heic() -> None:
    path = real_capture(PORTRAIT_HEIC)
    record = read_iphone_heic(path)

    assert record.image.shape == (3024, 4032, 3)
    assert record.image.dtype == np.uint8
    assert record.depth.shape == (576, 768)
    assert record.depth.dtype == np.float32
    assert record.depth.min() == pytest.approx(1.498, abs=0.01)
    assert record.depth.max() == pytest.approx(4.383, abs=0.01)
    # Independently: pillow-heif's stored 8-bit map through Apple's formula with the XMP range.
    stored = np.asarray(pillow_heif.open_heif(path).info["depth_images"][0]).astype(np.float64)
    expected = 1.498047 + stored / 255 * (4.382812 - 1.498047)
    np.testing.assert_allclose(record.depth, expected, rtol=1e-6)

    assert record.kind is DepthKind.DISPARITY
    assert record.units is DepthUnits.INVERSE_METERS
    assert record.accuracy is Accuracy.RELATIVE
    assert record.intrinsics is not None
    assert record.intrinsics.fx == pytest.approx(3032.594, abs=1e-3)
    assert record.intrinsics.fy == pytest.approx(3032.594, abs=1e-3)
    assert (record.intrinsics.cx, record.intrinsics.cy) == pytest.approx((1988.451, 1512.307), 1e-6)
    assert (record.intrinsics.reference_width, record.intrinsics.reference_height) == (4032, 3024)
    assert record.focal_length_mm == pytest.approx(5.7)
    assert record.f_number == pytest.approx(1.5)
    assert record.pixel_pitch_mm == pytest.approx(0.0019)
    assert record.extras["simulated_aperture"] == pytest.approx(2.8)
    assert record.extras["quality"] == "high"
    assert record.extras["filtered"] is True
    assert record.extras["native_format"] == "hdis"
    assert record.extras["stored_format"] == "L008"
    assert record.source_format == "iphone-heic"
    assert read_iphone_capture(path).source_format == "iphone-heic"


def test_real_heic_box_reader_skips_the_gain_map() -> None:
    data = real_capture(PORTRAIT_HEIC).read_bytes()
    meta = read_meta(data, None)
    assert "urn:com:apple:photo:2020:aux:hdrgainmap" in meta.aux_types.values()
    (depth_id,) = meta.depth_item_ids()
    assert meta.sizes[depth_id] == (768, 576)
    xmp = read_item(data, meta, meta.xmp_item_for(depth_id), None, 1 << 20)
    info = parse_apple_depth_xmp(xmp, None)
    assert (info.int_min, info.int_max) == (0, 255)
    assert (info.float_min, info.float_max) == (1.498047, 4.382812)


def test_real_heic_without_depth_raises_no_depth() -> None:
    message = expect_capture_error(read_iphone_heic, real_capture(NO_DEPTH_HEIC), NoDepthError)
    assert "no depth" in message
    expect_capture_error(read_iphone_capture, NO_DEPTH_HEIC, NoDepthError)


def test_real_heic_xmp_and_sei_ranges_must_agree(tmp_path: Path) -> None:
    data = real_capture(PORTRAIT_HEIC).read_bytes()
    assert data.count(b"<apdi:FloatMaxValue>4.382812<") == 1
    path = tmp_path / "disagreeing.heic"
    path.write_bytes(
        data.replace(b"<apdi:FloatMaxValue>4.382812<", b"<apdi:FloatMaxValue>9.382812<")
    )
    assert "disagrees" in expect_capture_error(read_iphone_heic, path)


def test_real_heic_falls_back_to_the_depth_sei_without_xmp(tmp_path: Path) -> None:
    data = real_capture(PORTRAIT_HEIC).read_bytes()
    path = tmp_path / "no_depth_xmp.heic"  # no item is recognisable as XMP any more
    path.write_bytes(data.replace(b"application/rdf+xml", b"application/rdf+xmm"))
    record = read_iphone_heic(path)
    stored = np.asarray(pillow_heif.open_heif(path).info["depth_images"][0]).astype(np.float64)
    expected = 1.498046875 + stored / 255 * (4.3828125 - 1.498046875)  # SEI d_min, d_max
    np.testing.assert_allclose(record.depth, expected, rtol=1e-6)
    assert record.kind is DepthKind.DISPARITY  # SEI representation type 1
    assert record.accuracy is Accuracy.RELATIVE  # nothing claims metric depth
    assert record.intrinsics is None
    assert record.focal_length_mm == pytest.approx(5.7)


def test_apple_xmp_attribute_spelling_and_dequantisation() -> None:
    xmp = b"""<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF
     xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description
     xmlns:apdi="http://ns.apple.com/pixeldatainfo/1.0/"
     xmlns:depthData="http://ns.apple.com/depthData/1.0/"
     apdi:AuxiliaryImageType="depth" apdi:NativeFormat="1751410032" apdi:StoredFormat="L008"
     apdi:IntMinValue="10" apdi:IntMaxValue="200" apdi:FloatMinValue="0.5"
     apdi:FloatMaxValue="4.5" depthData:Accuracy="absolute" depthData:Filtered="False"
     depthData:IntrinsicMatrix="3032.594 0 0 0 3030.5 0 1988.451 1512.307 1"
     depthData:IntrinsicMatrixReferenceWidth="4032"
     depthData:IntrinsicMatrixReferenceHeight="3024"/></rdf:RDF></x:xmpmeta>"""
    info = parse_apple_depth_xmp(xmp, None)
    assert (info.aux_type, info.native_format, info.stored_format) == ("depth", "hdep", "L008")
    assert info.filtered is False
    assert info.intrinsics == Intrinsics(3032.594, 3030.5, 1988.451, 1512.307, 4032, 3024)
    stored = np.array([[10, 105, 200]], dtype=np.uint8)
    expected = [0.5 + (v - 10) / (200 - 10) * (4.5 - 0.5) for v in (10, 105, 200)]
    np.testing.assert_allclose(dequantize(stored, info, None), [expected], rtol=1e-6)
    assert parse_apple_depth_xmp(build_apple_depth_xmp(info), None) == info


# --- MPF portrait JPEGs ---------------------------------------------------------------------------


def smooth_disparity(height: int = 96, width: int = 128) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    blob = np.exp(-((xx - 70.0) ** 2 + (yy - 40.0) ** 2) / 600.0)
    return (0.8 + 2.5 * blob + 0.4 * xx / width).astype(np.float32)


def test_portrait_jpeg_round_trip(tmp_path: Path) -> None:
    disparity = smooth_disparity()
    yy, xx = np.mgrid[0:96, 0:128]
    image = np.stack([xx * 2, yy * 2, 255 - xx], axis=-1).astype(np.uint8)
    intrinsics = Intrinsics(101.5, 102.25, 63.5, 47.75, 128, 96)
    path = tmp_path / "portrait.jpg"
    write_iphone_portrait_jpeg(
        path,
        image,
        disparity,
        accuracy="absolute",
        intrinsics=intrinsics,
        focal_length_mm=6.86,
        f_number=1.78,
        pixel_pitch_mm=0.0024,
        simulated_aperture=4.5,
    )
    record = read_iphone_jpeg(path)

    step = float(disparity.max() - disparity.min()) / 255
    error = np.abs(record.depth - disparity)
    # Rounding to 8 bits costs half a step; the quality-100 JPEG of the map at most one level.
    assert error.max() <= 1.5 * step + 1e-6
    assert error.mean() <= 0.5 * step
    assert record.depth.min() == pytest.approx(disparity.min(), abs=step)
    assert record.depth.max() == pytest.approx(disparity.max(), abs=step)
    assert record.image.shape == image.shape
    assert np.abs(record.image.astype(int) - image).mean() < 2
    assert record.kind is DepthKind.DISPARITY
    assert record.units is DepthUnits.INVERSE_METERS
    assert record.accuracy is Accuracy.ABSOLUTE
    assert record.intrinsics == intrinsics
    assert record.focal_length_mm == pytest.approx(6.86)
    assert record.f_number == pytest.approx(1.78)
    assert record.pixel_pitch_mm == 0.0024
    assert record.extras == {
        "simulated_aperture": 4.5,
        "native_format": "fdis",
        "stored_format": "L008",
        "lens_sources": {
            "focal_length_mm": "EXIF FocalLength",
            "f_number": "EXIF FNumber",
            "pixel_pitch_mm": "depthData:PixelSize",
        },
    }
    assert read_iphone_capture(path).source_format == "iphone-jpeg"
    # Pillow, independently, sees a two-frame MPO whose second frame is the 8-bit map.
    with Image.open(path) as mpo:
        assert (mpo.format, mpo.n_frames) == ("MPO", 2)
        mpo.seek(1)
        assert (mpo.mode, mpo.size) == ("L", (128, 96))
        info = parse_apple_depth_xmp(mpo.info["xmp"], path)
    assert (info.float_min, info.float_max) == (float(disparity.min()), float(disparity.max()))
    assert not list(tmp_path.glob(".*.tmp"))  # the temporary file was renamed away


def depth_frame_bytes(disparity: np.ndarray, xmp: bytes | None = None) -> bytes:
    low, high = float(disparity.min()), float(disparity.max())
    info = AppleDepthInfo(
        aux_type="disparity",
        stored_format="L008",
        int_min=0,
        int_max=255,
        float_min=low,
        float_max=high,
        accuracy="relative",
    )
    stored = np.round((disparity - low) / (high - low) * 255).astype(np.uint8)
    return encode_jpeg(stored, quality=100, xmp=xmp or build_apple_depth_xmp(info))


def matte_frame_bytes(shape: tuple[int, int]) -> bytes:
    xmp = build_apple_depth_xmp(AppleDepthInfo("portraitEffectsMatte", int_min=0, int_max=255))
    return encode_jpeg(np.full(shape, 255, np.uint8), quality=90, xmp=xmp)


def test_depth_frame_found_after_a_matte(tmp_path: Path) -> None:
    disparity = smooth_disparity(48, 64)
    primary = encode_jpeg(np.zeros((48, 64, 3), np.uint8), quality=90)
    path = tmp_path / "matte_first.jpg"
    frames = [primary, matte_frame_bytes((48, 64)), depth_frame_bytes(disparity)]
    path.write_bytes(assemble_mpf(frames))
    record = read_iphone_jpeg(path)
    step = float(disparity.max() - disparity.min()) / 255
    assert np.abs(record.depth - disparity).max() <= 1.5 * step + 1e-6
    assert record.accuracy is Accuracy.RELATIVE
    assert record.focal_length_mm is None


def test_jpeg_without_depth_frame_raises_no_depth(tmp_path: Path) -> None:
    primary = encode_jpeg(np.zeros((16, 16, 3), np.uint8), quality=90)
    plain = tmp_path / "plain.jpg"
    plain.write_bytes(primary)
    assert "no depth" in expect_capture_error(read_iphone_jpeg, plain, NoDepthError)
    matte_only = tmp_path / "matte_only.jpg"
    matte_only.write_bytes(assemble_mpf([primary, matte_frame_bytes((16, 16))]))
    expect_capture_error(read_iphone_capture, matte_only, NoDepthError)


def test_lossless_16_bit_depth_frame_is_reported(tmp_path: Path) -> None:
    frame = bytearray(depth_frame_bytes(smooth_disparity(16, 16)))
    sof = frame.index(b"\xff\xc0")
    frame[sof + 1] = 0xC3  # spatial lossless
    frame[sof + 4] = 16  # sample precision
    primary = encode_jpeg(np.zeros((16, 16, 3), np.uint8), quality=90)
    path = tmp_path / "lossless.jpg"
    path.write_bytes(assemble_mpf([primary, bytes(frame)]))
    message = expect_capture_error(read_iphone_jpeg, path, UnsupportedCaptureError)
    assert "lossless" in message
    assert "SOF3" in message


# --- hostile and broken input ---------------------------------------------------------------------


def test_truncated_real_heic_is_a_capture_error(tmp_path: Path) -> None:
    data = real_capture(PORTRAIT_HEIC).read_bytes()
    cuts = [0, 5, 12, 30, 40, 200, 1500, 3100, 3933, 3960, 9600, 200_000, len(data) - 1]
    for cut in cuts:
        path = tmp_path / f"cut_{cut}.heic"
        path.write_bytes(data[:cut])
        expect_capture_error(read_iphone_capture, path)


def test_box_size_past_end_of_file(tmp_path: Path) -> None:
    data = bytearray(real_capture(PORTRAIT_HEIC).read_bytes())
    assert data[40:44] == b"meta"
    data[36:40] = struct.pack(">I", len(data) + 100)
    path = tmp_path / "long_meta.heic"
    path.write_bytes(bytes(data))
    assert "past the end" in expect_capture_error(read_iphone_heic, path)

    synthetic = bytearray(synthetic_heif())
    iinf = synthetic.index(b"iinf") - 4
    synthetic[iinf : iinf + 4] = struct.pack(">I", 1 << 30)
    path.write_bytes(bytes(synthetic))
    assert "past the end" in expect_capture_error(read_iphone_heic, path)


def test_iloc_extent_past_end_of_file(tmp_path: Path) -> None:
    data = synthetic_heif()
    path = tmp_path / "short_mdat.heic"
    path.write_bytes(data[:-5])  # the last item's extent now ends beyond the file
    assert "runs past the end" in expect_capture_error(read_iphone_heic, path)


def test_entity_expansion_in_depth_xmp_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "laughs.heic"
    path.write_bytes(synthetic_heif(BILLION_LAUGHS))
    assert "XMP refused" in expect_capture_error(read_iphone_heic, path)

    primary = encode_jpeg(np.zeros((16, 16, 3), np.uint8), quality=90)
    jpeg = tmp_path / "laughs.jpg"
    disparity = smooth_disparity(16, 16)
    jpeg.write_bytes(assemble_mpf([primary, depth_frame_bytes(disparity, BILLION_LAUGHS)]))
    assert "XMP refused" in expect_capture_error(read_iphone_jpeg, jpeg)


def test_oversized_images_are_refused_before_decoding(tmp_path: Path) -> None:
    path = tmp_path / "huge_depth.heic"
    path.write_bytes(synthetic_heif(depth_size=(8000, 8000)))
    assert "exceeds" in expect_capture_error(read_iphone_heic, path)

    frame = bytearray(depth_frame_bytes(smooth_disparity(16, 16)))
    sof = frame.index(b"\xff\xc0")
    frame[sof + 5 : sof + 9] = struct.pack(">HH", 8000, 8000)  # height, width
    primary = encode_jpeg(np.zeros((16, 16, 3), np.uint8), quality=90)
    jpeg = tmp_path / "huge_depth.jpg"
    jpeg.write_bytes(assemble_mpf([primary, bytes(frame)]))
    assert "exceeds" in expect_capture_error(read_iphone_jpeg, jpeg)


def test_images_are_bounded_by_the_file_size_before_decoding(tmp_path: Path) -> None:
    """12 Mpx is within the absolute bound, but not from a file of a few hundred bytes."""
    path = tmp_path / "tiny.heic"
    path.write_bytes(synthetic_heif(primary_size=(4000, 3000)))
    message = expect_capture_error(read_iphone_heic, path)
    assert "primary image of 4000x3000 exceeds 4194304 pixels, the bound for a" in message

    primary = bytearray(encode_jpeg(np.zeros((16, 16, 3), np.uint8), quality=90))
    sof = primary.index(b"\xff\xc0")
    primary[sof + 5 : sof + 9] = struct.pack(">HH", 3000, 4000)  # height, width
    jpeg = tmp_path / "tiny.jpg"
    jpeg.write_bytes(assemble_mpf([bytes(primary), depth_frame_bytes(smooth_disparity(16, 16))]))
    message = expect_capture_error(read_iphone_jpeg, jpeg)
    assert "of 4000x3000 exceeds 4194304 pixels, the bound for a" in message


def test_depth_xmp_with_too_many_elements_is_refused(tmp_path: Path) -> None:
    xmp = build_apple_depth_xmp(AppleDepthInfo("disparity"))
    crowded = xmp.replace(
        b"</rdf:RDF>", b"<rdf:Bag>" + b"<rdf:li/>" * 60_000 + b"</rdf:Bag></rdf:RDF>"
    )
    path = tmp_path / "crowded.heic"
    path.write_bytes(synthetic_heif(crowded))
    assert "over 50000" in expect_capture_error(read_iphone_heic, path)


def test_synthetic_heif_without_depth_is_no_depth(tmp_path: Path) -> None:
    path = tmp_path / "matte_only.heic"
    path.write_bytes(synthetic_heif(with_depth=False))
    expect_capture_error(read_iphone_heic, path, NoDepthError)


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"GIF89a" + bytes(100),
        b"\x00\x00\x00\x18ftypavis" + bytes(40),
        b"\xff\xd8\xff" + bytes(9),
    ],
)
def test_garbage_is_a_capture_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "garbage.bin"
    path.write_bytes(content)
    expect_capture_error(read_iphone_capture, path)


def test_missing_file_is_a_capture_error(tmp_path: Path) -> None:
    expect_capture_error(read_iphone_capture, tmp_path / "absent.heic")
    expect_capture_error(read_iphone_heic, tmp_path / "absent.heic")


FUZZ_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def fuzz(data: bytes, edits: list[tuple[int, int]], cut: int) -> bytes:
    """`data` with some bytes overwritten, then truncated."""
    mutated = bytearray(data)
    for position, value in edits:
        mutated[position % len(mutated)] = value
    return bytes(mutated[: max(cut, 1)])


def read_or_error(path: Path) -> CaptureRecord | CaptureError:
    """The record, or the CaptureError raised; any other exception fails the test."""
    try:
        return read_iphone_capture(path)
    except CaptureError as error:
        return error


EDITS = st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), max_size=6)


@FUZZ_SETTINGS
@given(edits=EDITS, cut=st.integers(0, 4000))
def test_fuzzed_heif_raises_only_capture_errors(
    tmp_path: Path, edits: list[tuple[int, int]], cut: int
) -> None:
    path = tmp_path / "fuzz.heic"
    path.write_bytes(
        fuzz(synthetic_heif(build_apple_depth_xmp(AppleDepthInfo("depth"))), edits, cut)
    )
    with pytest.raises(CaptureError) as caught:  # no file here has decodable pixels
        read_iphone_capture(path)
    assert "\n" not in str(caught.value)


@FUZZ_SETTINGS
@given(edits=EDITS, cut=st.integers(0, 20_000))
def test_fuzzed_jpeg_raises_only_capture_errors(
    tmp_path: Path, edits: list[tuple[int, int]], cut: int
) -> None:
    source = tmp_path / "source.jpg"
    if not source.exists():
        write_iphone_portrait_jpeg(
            source, np.zeros((24, 32, 3), np.uint8), smooth_disparity(24, 32)
        )
    path = tmp_path / "fuzz.jpg"
    path.write_bytes(fuzz(source.read_bytes(), edits, cut))
    outcome = read_or_error(path)
    if isinstance(outcome, CaptureError):
        assert "\n" not in str(outcome)
    else:
        assert outcome.depth.shape == (24, 32)
