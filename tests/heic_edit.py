"""Test helper: give items of a real HEIC a `clap` (clean aperture) property.

pillow-heif cannot write one, so the box tree is rebuilt here from ISO/IEC 14496-12 and 23008-12
alone (independently of dc2kit's reader): the `clap` box is appended to `ipco`, associated with
the items before their `irot`/`imir` (the order HEIF requires), and every size on the way up and
every in-file `iloc` offset after the insertion is moved by the bytes added.
"""

from __future__ import annotations

import struct

TRANSFORMS_AFTER_CLAP = ("irot", "imir")


def _boxes(data: bytes, start: int, end: int) -> list[tuple[str, int, int]]:
    """(kind, box start, box end) of the plain 32-bit-size boxes in data[start:end]."""
    boxes, cursor = [], start
    while cursor < end:
        size, kind = struct.unpack(">I4s", data[cursor : cursor + 8])
        assert size >= 8, "the sample uses no 64-bit or to-the-end sizes inside 'meta'"
        boxes.append((kind.decode("ascii"), cursor, cursor + size))
        cursor += size
    return boxes


def _box(kind: str, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind.encode("ascii")) + payload


def clap_box(width: tuple[int, int], height: tuple[int, int], h_off=(0, 1), v_off=(0, 1)) -> bytes:
    """A `clap` box: clean aperture width, height, horizontal and vertical offsets as fractions
    (numerator, denominator); offsets are signed."""
    return _box("clap", struct.pack(">IIIIiIiI", *width, *height, *h_off, *v_off))


def _with_associations(
    payload: bytes, kinds: list[str], items: dict[int, int], new_index: int
) -> bytes:
    """`ipma` payload with property `new_index` associated (essential) to each item of `items`,
    just before its first `irot`/`imir`."""
    version, flags = payload[0], int.from_bytes(payload[1:4], "big")
    assert flags & 1 == 0, "one-byte property indices, as in the sample"
    id_size = 2 if version < 1 else 4
    (count,), cursor = struct.unpack(">I", payload[4:8]), 8
    out = bytearray(payload[:8])
    for _ in range(count):
        item_id = int.from_bytes(payload[cursor : cursor + id_size], "big")
        n = payload[cursor + id_size]
        entries = list(payload[cursor + id_size + 1 : cursor + id_size + 1 + n])
        cursor += id_size + 1 + n
        if item_id in items:
            at = next(
                (
                    i
                    for i, e in enumerate(entries)
                    if kinds[(e & 0x7F) - 1] in TRANSFORMS_AFTER_CLAP
                ),
                len(entries),
            )
            entries.insert(at, 0x80 | new_index)
        out += item_id.to_bytes(id_size, "big") + bytes([len(entries)]) + bytes(entries)
    return bytes(out)


def _shifted_iloc(payload: bytes, delta: int) -> bytes:
    """`iloc` payload with every in-file (construction method 0) offset moved by `delta`."""
    data = bytearray(payload)
    version = data[0]
    offset_size, length_size = data[4] >> 4, data[4] & 0xF
    base_size, index_size = data[5] >> 4, (data[5] & 0xF if version > 0 else 0)
    count_size = 2 if version < 2 else 4
    count = int.from_bytes(data[6 : 6 + count_size], "big")
    cursor = 6 + count_size
    for _ in range(count):
        cursor += count_size  # item id: same width as the count
        method = 0
        if version > 0:
            method = int.from_bytes(data[cursor : cursor + 2], "big") & 0xF
            cursor += 2
        reference = int.from_bytes(data[cursor : cursor + 2], "big")
        cursor += 2
        in_file = method == 0 and reference == 0
        base_at, cursor = cursor, cursor + base_size
        extents = int.from_bytes(data[cursor : cursor + 2], "big")
        cursor += 2
        offsets = []
        for _ in range(extents):
            cursor += index_size
            offsets.append(cursor)
            cursor += offset_size + length_size
        targets = [(base_at, base_size)] if base_size else [(o, offset_size) for o in offsets]
        for at, size in targets if in_file else []:
            value = int.from_bytes(data[at : at + size], "big") + delta
            data[at : at + size] = value.to_bytes(size, "big")
    return bytes(data)


def with_clap(data: bytes, item_ids: list[int], clap: bytes) -> bytes:
    """The HEIF `data` with the `clap` box `clap` given to each of `item_ids`."""
    meta_start = 0
    while data[meta_start + 4 : meta_start + 8] != b"meta":  # top-level boxes before 'meta'
        meta_start += int.from_bytes(data[meta_start : meta_start + 4], "big")
    meta_end = meta_start + int.from_bytes(data[meta_start : meta_start + 4], "big")
    children = _boxes(data, meta_start + 12, meta_end)
    ((_, iprp_start, iprp_end),) = [b for b in children if b[0] == "iprp"]
    iprp_children = _boxes(data, iprp_start + 8, iprp_end)
    ((_, ipco_start, ipco_end),) = [b for b in iprp_children if b[0] == "ipco"]
    kinds = [kind for kind, _, _ in _boxes(data, ipco_start + 8, ipco_end)]
    new_index = len(kinds) + 1
    assert new_index < 0x80
    ipco = _box("ipco", data[ipco_start + 8 : ipco_end] + clap)
    parts = []
    for kind, start, end in iprp_children:
        if kind == "ipco":
            parts.append(ipco)
        elif kind == "ipma":
            ipma = _with_associations(
                data[start + 8 : end], kinds, dict.fromkeys(item_ids, 0), new_index
            )
            parts.append(_box("ipma", ipma))
        else:
            parts.append(data[start:end])
    iprp = _box("iprp", b"".join(parts))
    delta = len(iprp) - (iprp_end - iprp_start)
    rebuilt = []
    for kind, start, end in children:
        if kind == "iprp":
            rebuilt.append(iprp)
        elif kind == "iloc":
            rebuilt.append(_box("iloc", _shifted_iloc(data[start + 8 : end], delta)))
        else:
            rebuilt.append(data[start:end])
    meta = _box("meta", data[meta_start + 8 : meta_start + 12] + b"".join(rebuilt))
    assert len(meta) == meta_end - meta_start + delta
    return data[:meta_start] + meta + data[meta_end:]
