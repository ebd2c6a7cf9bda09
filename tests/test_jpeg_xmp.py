"""JPEG XMP segments: standard/extended packets, primary-image end, writing, and bad input."""

from __future__ import annotations

import hashlib
import io
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dc2kit.capture.errors import CaptureError
from dc2kit.capture.jpeg_xmp import (
    EXTENDED_CHUNK_BYTES,
    EXTENDED_XMP_ID,
    STANDARD_XMP_ID,
    extended_xmp_guid,
    header_segments,
    insert_xmp,
    read_jpeg_xmp,
)
from dc2kit.capture.limits import MAX_XMP_BYTES, MAX_XMP_MARKUP
from dc2kit.capture.xmp import parse_xmp

CAPTURES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "captures"
NOTE_NS = "http://ns.adobe.com/xmp/note/"


def real_file(name: str) -> Path:
    path = CAPTURES / name
    if not path.exists():
        pytest.skip(f"real capture {name} not available (needs ../shared/data/captures)")
    return path


def small_jpeg(progressive: bool = False) -> bytes:
    """A 24×32 JPEG with texture, so its entropy-coded data is non-trivial."""
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(24, 32, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90, progressive=progressive)
    return buffer.getvalue()


def packet(body: str = "", guid: str | None = None) -> bytes:
    note = f' xmlns:xmpNote="{NOTE_NS}" xmpNote:HasExtendedXMP="{guid}"' if guid else ""
    return (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description rdf:about=""{note}>{body}</rdf:Description></rdf:RDF></x:xmpmeta>'
    ).encode()


def app1(payload: bytes) -> bytes:
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def chunk(guid: str, total: int, offset: int, piece: bytes) -> bytes:
    return app1(EXTENDED_XMP_ID + guid.encode() + struct.pack(">II", total, offset) + piece)


def with_segments(jpeg: bytes, *segments: bytes) -> bytes:
    """`jpeg` with raw segments spliced in right after SOI."""
    return jpeg[:2] + b"".join(segments) + jpeg[2:]


def test_real_lens_blur_file_has_standard_and_extended_xmp():
    data = real_file("gcam_lensblur.jpg").read_bytes()
    xmp = read_jpeg_xmp(data, "gcam_lensblur.jpg")
    assert b"GDepth:Format" in xmp.standard
    assert b"GDepth:Data" in xmp.extended
    assert len(xmp.extended) == 296617
    # The GUID the standard packet declares is the MD5 of the extended packet.
    assert extended_xmp_guid(xmp.extended).encode() in xmp.standard
    assert xmp.primary_end == len(data)
    assert data[xmp.primary_end - 2 : xmp.primary_end] == b"\xff\xd9"


@pytest.mark.parametrize("progressive", [False, True])
def test_primary_end_ignores_trailing_payloads_that_contain_markers(progressive):
    jpeg = small_jpeg(progressive)
    trailer = b"\xff\xd8\xff\xd9 payload with markers \xff\xd9\x00\xff"
    xmp = read_jpeg_xmp(jpeg + trailer, None)
    assert xmp.primary_end == len(jpeg)
    assert xmp.standard is None
    assert xmp.extended is None


def test_insert_standard_and_extended_round_trip_and_keep_pixels():
    jpeg = small_jpeg()
    rng = np.random.default_rng(1)
    body = "".join(f"<n{i}>{v}</n{i}>" for i, v in enumerate(rng.integers(0, 10**9, 20000)))
    extended = packet(body)
    assert len(extended) > 3 * EXTENDED_CHUNK_BYTES
    guid = extended_xmp_guid(extended)
    assert guid == hashlib.md5(extended).hexdigest().upper()
    standard = packet(guid=guid)
    written = insert_xmp(jpeg, standard, extended)

    xmp = read_jpeg_xmp(written, None)
    assert xmp.standard == standard
    assert xmp.extended == extended
    assert xmp.primary_end == len(written)
    chunks = [
        s
        for s in header_segments(written, None)
        if written.startswith(EXTENDED_XMP_ID, s.payload_start)
    ]
    assert len(chunks) == -(-len(extended) // EXTENDED_CHUNK_BYTES)
    header = len(EXTENDED_XMP_ID) + 32 + 8
    assert all(s.end - s.payload_start - header <= EXTENDED_CHUNK_BYTES for s in chunks)
    original = np.asarray(Image.open(io.BytesIO(jpeg)))
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(written))), original)


def test_insert_replaces_existing_xmp_and_keeps_jfif_first():
    jpeg = small_jpeg()
    first = insert_xmp(jpeg, packet("<a>1</a>"))
    second = insert_xmp(first, packet("<b>2</b>"))
    assert read_jpeg_xmp(second, None).standard == packet("<b>2</b>")
    assert second.count(STANDARD_XMP_ID) == 1
    assert header_segments(second, None)[0].marker == 0xE0  # JFIF APP0 stays first


def test_insert_refuses_extended_xmp_the_standard_packet_does_not_declare():
    with pytest.raises(ValueError, match="does not declare"):
        insert_xmp(small_jpeg(), packet(), packet("<a>1</a>"))


def test_insert_refuses_standard_xmp_larger_than_a_segment():
    with pytest.raises(ValueError, match="does not fit"):
        insert_xmp(small_jpeg(), packet("x" * 70000))


def test_every_truncation_is_a_capture_error():
    extended = packet("<big>" + "y" * 150000 + "</big>")
    data = insert_xmp(small_jpeg(), packet(guid=extended_xmp_guid(extended)), extended)
    cuts = sorted({*range(0, len(data), 997), *range(len(data) - 40, len(data))})
    for cut in cuts:
        with pytest.raises(CaptureError, match="<cut>"):
            read_jpeg_xmp(data[:cut], "<cut>")


def test_not_a_jpeg_and_bad_segment_length():
    with pytest.raises(CaptureError, match="not a JPEG"):
        read_jpeg_xmp(b"\x89PNG\r\n\x1a\n", "x.png")
    jpeg = small_jpeg()
    overlong = jpeg[:2] + b"\xff\xe1\xff\xf0" + b"short"
    with pytest.raises(CaptureError, match="truncated"):
        read_jpeg_xmp(overlong, "x.jpg")
    with pytest.raises(CaptureError, match="truncated"):
        read_jpeg_xmp(jpeg[:2] + b"\xff\xe1\x00\x01" + jpeg[2:], "x.jpg")  # length < 2


def two_chunk_extended() -> tuple[bytes, str, bytes, bytes]:
    extended = packet("<a>" + "z" * 300 + "</a>")
    guid = extended_xmp_guid(extended)
    return extended, guid, extended[:200], extended[200:]


def test_extended_chunks_in_any_order_are_reassembled():
    extended, guid, head, tail = two_chunk_extended()
    total = len(extended)
    data = with_segments(
        small_jpeg(),
        app1(STANDARD_XMP_ID + packet(guid=guid)),
        chunk(guid, total, 200, tail),
        chunk(guid, total, 0, head),
    )
    assert read_jpeg_xmp(data, None).extended == extended


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("wrong_guid", "GUID"),
        ("gap", "expected offset"),
        ("overlap", "expected offset"),
        ("short_total", "hold"),
        ("disagreeing_total", "disagree"),
        ("missing", "declared but missing"),
        ("undeclared", "not declared"),
        ("oversized", "exceeds"),
        ("header_only", "shorter than its header"),
    ],
)
def test_inconsistent_extended_xmp_is_refused(case, message):
    extended, guid, head, tail = two_chunk_extended()
    total = len(extended)
    standard = app1(STANDARD_XMP_ID + packet(guid=guid))
    other = "0" * 32
    segments = {
        "wrong_guid": [standard, chunk(guid, total, 0, head), chunk(other, total, 200, tail)],
        "gap": [standard, chunk(guid, total, 0, head), chunk(guid, total, 201, tail)],
        "overlap": [standard, chunk(guid, total, 0, head), chunk(guid, total, 199, tail)],
        "short_total": [
            standard,
            chunk(guid, total + 5, 0, head),
            chunk(guid, total + 5, 200, tail),
        ],
        "disagreeing_total": [
            standard,
            chunk(guid, total, 0, head),
            chunk(guid, total + 1, 200, tail),
        ],
        "missing": [standard],
        "undeclared": [app1(STANDARD_XMP_ID + packet()), chunk(guid, total, 0, extended)],
        "oversized": [standard, chunk(guid, MAX_XMP_BYTES + 1, 0, extended)],
        "header_only": [standard, app1(EXTENDED_XMP_ID + guid.encode())],
    }[case]
    with pytest.raises(CaptureError, match=message):
        read_jpeg_xmp(with_segments(small_jpeg(), *segments), "bad.jpg")


def test_entity_expansion_in_xmp_is_refused():
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/">&b;</x:xmpmeta>'
    )
    data = with_segments(small_jpeg(), app1(STANDARD_XMP_ID + bomb))
    with pytest.raises(CaptureError, match=r"bomb\.jpg"):
        read_jpeg_xmp(data, "bomb.jpg")


def markup(data: bytes) -> int:
    return data.count(b"<") + data.count(b"=")


def test_xmp_markup_is_bounded_exactly_and_far_above_real_files():
    def bag(count: int) -> bytes:
        return packet("<rdf:Bag>" + "<rdf:li/>" * count + "</rdf:Bag>")

    count = MAX_XMP_MARKUP - markup(bag(0))
    assert markup(bag(count)) == MAX_XMP_MARKUP
    assert len(parse_xmp(bag(count), "ok.jpg").findall(".//{*}li")) == count
    with pytest.raises(CaptureError, match=rf"many\.jpg: XMP packet has {MAX_XMP_MARKUP + 1} "):
        parse_xmp(bag(count + 1), "many.jpg")
    real = read_jpeg_xmp(real_file("gcam_lensblur.jpg").read_bytes(), None)
    assert max(markup(real.standard), markup(real.extended)) < MAX_XMP_MARKUP // 100
