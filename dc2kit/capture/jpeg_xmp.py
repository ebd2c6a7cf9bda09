"""XMP inside JPEG files: standard and extended packets, and where the primary image ends.

A JPEG keeps metadata in APP segments of at most 64 KiB, so XMP larger than that (Google's depth
payloads) is split into "extended XMP" chunks tagged with a GUID that the standard packet names in
`xmpNote:HasExtendedXMP`. Android containers append further files after the primary image's
EOI marker, so finding that EOI is part of reading them.
"""

from __future__ import annotations

import hashlib
import re
import struct
from dataclasses import dataclass
from pathlib import Path

from dc2kit.capture.errors import CaptureError
from dc2kit.capture.limits import MAX_XMP_BYTES
from dc2kit.capture.xmp import namespace_values, parse_xmp

STANDARD_XMP_ID = b"http://ns.adobe.com/xap/1.0/\x00"
EXTENDED_XMP_ID = b"http://ns.adobe.com/xmp/extension/\x00"
XMP_NOTE_NS = "http://ns.adobe.com/xmp/note/"
GUID_BYTES = 32
EXTENDED_HEADER_BYTES = len(EXTENDED_XMP_ID) + GUID_BYTES + 8  # + full length + offset
EXTENDED_CHUNK_BYTES = 65400
MAX_SEGMENT_PAYLOAD = 0xFFFF - 2

SOI, EOI, SOS, APP0, APP1 = 0xD8, 0xD9, 0xDA, 0xE0, 0xE1
STANDALONE_MARKERS = {0x01, *range(0xD0, 0xD8)}  # TEM and RSTn carry no length field
# Inside scan data: 0xFF followed by anything but a stuffed 0x00, TEM, RSTn or fill byte.
MARKER_IN_SCAN = re.compile(rb"\xff[^\x00\x01\xd0-\xd7\xff]")


@dataclass(frozen=True)
class Segment:
    """One marker segment before the first scan: marker byte, payload span in the file."""

    marker: int
    start: int  # offset of the 0xFF of the marker
    payload_start: int
    end: int  # offset just past the segment

    def payload(self, data: bytes) -> bytes:
        return data[self.payload_start : self.end]


@dataclass(frozen=True)
class JpegXmp:
    """The XMP packets of a JPEG and the byte offset just past its primary image's EOI."""

    standard: bytes | None
    extended: bytes | None
    primary_end: int


def header_segments(data: bytes, path: str | Path | None) -> list[Segment]:
    """Marker segments from SOI up to and including the first SOS, lengths checked."""
    if data[:2] != b"\xff\xd8":
        raise CaptureError(path, "not a JPEG file (no SOI marker)")
    segments: list[Segment] = []
    position = 2
    while True:
        marker, position = _next_marker(data, position, path)
        if marker in STANDALONE_MARKERS:
            continue
        if marker in (SOI, EOI):
            raise CaptureError(path, f"unexpected JPEG marker 0xFF{marker:02X} before image data")
        segment = _segment_at(data, position, marker, path)
        segments.append(segment)
        position = segment.end
        if marker == SOS:
            return segments


def _next_marker(data: bytes, position: int, path: str | Path | None) -> tuple[int, int]:
    """The marker byte at `position` (fill 0xFF bytes skipped) and the offset after it."""
    if position >= len(data) or data[position] != 0xFF:
        raise CaptureError(path, f"truncated or corrupt JPEG: no marker at offset {position}")
    while position < len(data) and data[position] == 0xFF:
        position += 1
    if position >= len(data):
        raise CaptureError(path, "truncated JPEG: file ends inside a marker")
    return data[position], position + 1


def _segment_at(data: bytes, position: int, marker: int, path: str | Path | None) -> Segment:
    """The segment whose two-byte length field starts at `position`."""
    if position + 2 > len(data):
        raise CaptureError(path, f"truncated JPEG: segment 0xFF{marker:02X} has no length")
    (length,) = struct.unpack_from(">H", data, position)
    end = position + length
    if length < 2 or end > len(data):
        raise CaptureError(
            path, f"truncated JPEG: segment 0xFF{marker:02X} of {length} bytes at {position}"
        )
    return Segment(marker, position - 2, position + 2, end)


def primary_image_end(data: bytes, after_sos: int, path: str | Path | None) -> int:
    """Offset just past the EOI that ends the first image (payloads may follow it).

    Entropy-coded data escapes 0xFF as 0xFF00; restart markers and further scans (progressive
    JPEGs) are stepped over, so the first real EOI is the end of the primary image.
    """
    position = after_sos
    while True:
        found = MARKER_IN_SCAN.search(data, position)
        if found is None:
            raise CaptureError(path, "truncated JPEG: no EOI marker after the image data")
        marker = data[found.start() + 1]
        if marker == EOI:
            return found.end()
        position = _segment_at(data, found.end(), marker, path).end


def read_jpeg_xmp(data: bytes, path: str | Path | None) -> JpegXmp:
    """Standard and reassembled extended XMP of a JPEG, and its primary image's end."""
    segments = header_segments(data, path)
    app1 = [segment.payload(data) for segment in segments if segment.marker == APP1]
    standard = next(
        (
            payload[len(STANDARD_XMP_ID) :]
            for payload in app1
            if payload.startswith(STANDARD_XMP_ID)
        ),
        None,
    )
    chunks = [payload for payload in app1 if payload.startswith(EXTENDED_XMP_ID)]
    guid = _declared_guid(standard, path)
    extended = _reassemble_extended(chunks, guid, path)
    return JpegXmp(standard, extended, primary_image_end(data, segments[-1].end, path))


def _declared_guid(standard: bytes | None, path: str | Path | None) -> str | None:
    """The `xmpNote:HasExtendedXMP` GUID named by the standard packet, if any."""
    if standard is None:
        return None
    return namespace_values(parse_xmp(standard, path), XMP_NOTE_NS).get("HasExtendedXMP")


def _reassemble_extended(
    chunks: list[bytes], guid: str | None, path: str | Path | None
) -> bytes | None:
    """Join extended XMP chunks after checking GUID, declared length and exact tiling."""
    if not chunks and guid is None:
        return None
    if guid is None:
        raise CaptureError(path, "extended XMP present but not declared by xmpNote:HasExtendedXMP")
    if not chunks:
        raise CaptureError(path, f"extended XMP {guid} is declared but missing")
    pieces: list[tuple[int, bytes]] = []
    full_lengths = set()
    for chunk in chunks:
        if len(chunk) < EXTENDED_HEADER_BYTES:
            raise CaptureError(path, "extended XMP chunk shorter than its header")
        header = len(EXTENDED_XMP_ID)
        chunk_guid = chunk[header : header + GUID_BYTES].decode("latin-1")
        if chunk_guid != guid:
            raise CaptureError(path, f"extended XMP chunk GUID {chunk_guid!r} is not {guid!r}")
        full_length, offset = struct.unpack_from(">II", chunk, header + GUID_BYTES)
        full_lengths.add(full_length)
        pieces.append((offset, chunk[EXTENDED_HEADER_BYTES:]))
    if len(full_lengths) != 1:
        raise CaptureError(path, "extended XMP chunks disagree on the total length")
    total = full_lengths.pop()
    if total > MAX_XMP_BYTES:
        raise CaptureError(path, f"extended XMP of {total} bytes exceeds {MAX_XMP_BYTES}")
    return _join_pieces(sorted(pieces, key=lambda piece: piece[0]), total, path)


def _join_pieces(pieces: list[tuple[int, bytes]], total: int, path: str | Path | None) -> bytes:
    """Concatenate (offset, bytes) pieces that must cover [0, total) without gaps or overlaps."""
    expected = 0
    for offset, piece in pieces:
        if offset != expected:
            raise CaptureError(
                path, f"extended XMP chunk at offset {offset}, expected offset {expected}"
            )
        expected += len(piece)
    if expected != total:
        raise CaptureError(path, f"extended XMP chunks hold {expected} of {total} bytes")
    return b"".join(piece for _, piece in pieces)


def extended_xmp_guid(extended: bytes) -> str:
    """The GUID that names an extended packet: its MD5 digest as 32 upper-case hex digits."""
    return hashlib.md5(extended).hexdigest().upper()


def insert_xmp(jpeg: bytes, standard: bytes, extended: bytes | None = None) -> bytes:
    """A copy of `jpeg` whose XMP is replaced by `standard` (+ `extended`, split into chunks).

    When `extended` is given, `standard` must already name `extended_xmp_guid(extended)` in
    `xmpNote:HasExtendedXMP`. Raises ValueError for arguments that cannot be stored.
    """
    segments = header_segments(jpeg, None)
    if len(STANDARD_XMP_ID) + len(standard) > MAX_SEGMENT_PAYLOAD:
        raise ValueError(f"standard XMP of {len(standard)} bytes does not fit one APP1 segment")
    new_segments = [_app1(STANDARD_XMP_ID + standard)]
    if extended is not None:
        guid = extended_xmp_guid(extended)
        if guid.encode() not in standard:
            raise ValueError(f"standard XMP does not declare extended XMP GUID {guid}")
        new_segments += _extended_segments(extended, guid)
    kept = [segment for segment in segments if not _is_xmp_segment(jpeg, segment)]
    leading = 0
    while leading < len(kept) and _belongs_before_xmp(jpeg, kept[leading]):
        leading += 1
    body = [jpeg[segment.start : segment.end] for segment in kept]
    tail = jpeg[segments[-1].end :]
    return b"".join([b"\xff\xd8", *body[:leading], *new_segments, *body[leading:], tail])


def _extended_segments(extended: bytes, guid: str) -> list[bytes]:
    """APP1 segments carrying `extended` in chunks of at most EXTENDED_CHUNK_BYTES."""
    total = len(extended)
    return [
        _app1(
            EXTENDED_XMP_ID
            + guid.encode("ascii")
            + struct.pack(">II", total, offset)
            + extended[offset : offset + EXTENDED_CHUNK_BYTES]
        )
        for offset in range(0, total, EXTENDED_CHUNK_BYTES)
    ]


def _app1(payload: bytes) -> bytes:
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def _is_xmp_segment(data: bytes, segment: Segment) -> bool:
    return segment.marker == APP1 and (
        data.startswith(STANDARD_XMP_ID, segment.payload_start)
        or data.startswith(EXTENDED_XMP_ID, segment.payload_start)
    )


def _belongs_before_xmp(data: bytes, segment: Segment) -> bool:
    """JFIF (APP0) and Exif (APP1) conventionally come first; XMP follows them."""
    is_exif = segment.marker == APP1 and data.startswith(b"Exif\x00", segment.payload_start)
    return segment.marker == APP0 or is_exif
