"""A small, bounded HEIF `meta` reader: just enough to find depth items and their XMP.

pillow-heif decodes pixels but does not expose the XMP attached to an auxiliary image, so the
`meta` box is walked here. Only fixed container paths are entered (meta → iinf/iref/iprp/iloc,
iprp → ipco/ipma), so nesting is bounded by construction; every size, count and extent is checked
against the bytes actually present, and anything inconsistent is a `CaptureError`. The boxes
themselves are read by `bmff`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from dc2kit.capture.errors import CaptureError, UnsupportedCaptureError
from dc2kit.capture.limits import MAX_HEIF_EXTENTS, MAX_HEIF_ITEMS
from dc2kit.ios_bridge.bmff import Box, BoxCursor, iter_boxes

DEPTH_AUX_TYPES = frozenset(
    {
        "urn:mpeg:hevc:2015:auxid:2",  # HEVC depth auxiliary picture (what iPhones write)
        "urn:mpeg:mpegB:cicp:systems:auxiliary:depth",  # the codec-independent MPEG-B spelling
    }
)
XMP_CONTENT_TYPE = "application/rdf+xml"
TRANSFORM_KINDS = frozenset({"clap", "irot", "imir"})  # libheif applies these to each item


@dataclass(frozen=True)
class ItemInfo:
    item_id: int
    item_type: str
    content_type: str


@dataclass(frozen=True)
class Reference:
    kind: str
    from_id: int
    to_ids: tuple[int, ...]


@dataclass(frozen=True)
class ItemLocation:
    """Where an item's bytes are: absolute (offset, length) extents in the file."""

    construction_method: int
    data_reference_index: int
    extents: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class HeifMeta:
    """The parts of a HEIF `meta` box needed to locate depth items and their metadata."""

    primary_id: int | None
    items: dict[int, ItemInfo]
    references: tuple[Reference, ...]
    aux_types: dict[int, str]
    sizes: dict[int, tuple[int, int]]
    locations: dict[int, ItemLocation]
    # Per item, its transformative properties (kind, payload) in association order.
    transforms: dict[int, tuple[tuple[str, bytes], ...]] = field(default_factory=dict)

    def depth_item_ids(self) -> list[int]:
        """Items whose `auxC` declares depth or disparity (mattes and gain maps are excluded)."""
        return sorted(item for item, urn in self.aux_types.items() if urn in DEPTH_AUX_TYPES)

    def xmp_item_for(self, item_id: int) -> int | None:
        """The XMP item whose `cdsc` reference describes `item_id`, if there is one."""
        for reference in self.references:
            info = self.items.get(reference.from_id)
            if (
                reference.kind == "cdsc"
                and item_id in reference.to_ids
                and info is not None
                and info.item_type == "mime"
                and info.content_type == XMP_CONTENT_TYPE
            ):
                return reference.from_id
        return None


def read_meta(data: bytes, path: Path | None) -> HeifMeta:
    """Parse the top-level `meta` box: item infos, references, properties and locations."""
    meta_box = next(
        (box for box in iter_boxes(data, 0, len(data), path) if box.kind == "meta"), None
    )
    if meta_box is None:
        raise CaptureError(path, "HEIF file has no 'meta' box")
    children = {}
    for box in iter_boxes(data, meta_box.start + 4, meta_box.end, path):
        children.setdefault(box.kind, box)
    if "iinf" not in children or "iloc" not in children:
        raise CaptureError(path, "HEIF 'meta' box lacks 'iinf' or 'iloc'")
    aux_types: dict[int, str] = {}
    sizes: dict[int, tuple[int, int]] = {}
    transforms: dict[int, tuple[tuple[str, bytes], ...]] = {}
    if "iprp" in children:
        aux_types, sizes, transforms = _parse_iprp(data, children["iprp"], path)
    return HeifMeta(
        primary_id=_parse_pitm(data, children["pitm"], path) if "pitm" in children else None,
        items=_parse_iinf(data, children["iinf"], path),
        references=_parse_iref(data, children["iref"], path) if "iref" in children else (),
        aux_types=aux_types,
        sizes=sizes,
        locations=_parse_iloc(data, children["iloc"], path),
        transforms=transforms,
    )


def read_item(data: bytes, meta: HeifMeta, item_id: int, path: Path | None, limit: int) -> bytes:
    """The concatenated bytes of one item stored in this file, refusing more than `limit` bytes."""
    location = meta.locations.get(item_id)
    if location is None:
        raise CaptureError(path, f"HEIF item {item_id} has no 'iloc' entry")
    if location.construction_method != 0 or location.data_reference_index != 0:
        raise UnsupportedCaptureError(
            path,
            f"HEIF item {item_id} uses construction method {location.construction_method} "
            f"/ data reference {location.data_reference_index}; only in-file offsets are supported",
        )
    total = sum(length for _, length in location.extents)
    if total > limit:
        raise CaptureError(
            path, f"HEIF item {item_id} is {total} bytes, over the {limit}-byte limit"
        )
    return b"".join(data[offset : offset + length] for offset, length in location.extents)


def _parse_pitm(data: bytes, box: Box, path: Path | None) -> int:
    cursor = BoxCursor(data, box, path)
    version, _ = cursor.full_box_header()
    return cursor.uint(2 if version == 0 else 4)


def _parse_iinf(data: bytes, box: Box, path: Path | None) -> dict[int, ItemInfo]:
    cursor = BoxCursor(data, box, path)
    version, _ = cursor.full_box_header()
    count = cursor.uint(2 if version == 0 else 4)
    if count > MAX_HEIF_ITEMS:
        raise CaptureError(path, f"HEIF declares {count} items (limit {MAX_HEIF_ITEMS})")
    items: dict[int, ItemInfo] = {}
    for entry in iter_boxes(data, cursor.pos, box.end, path):
        if entry.kind == "infe":
            info = _parse_infe(data, entry, path)
            if info is not None:
                items[info.item_id] = info
    return items


def _parse_infe(data: bytes, box: Box, path: Path | None) -> ItemInfo | None:
    """Item info entry, versions 2 and 3 (older versions carry no item type and are skipped)."""
    cursor = BoxCursor(data, box, path)
    version, _ = cursor.full_box_header()
    if version < 2:
        return None
    item_id = cursor.uint(2 if version == 2 else 4)
    cursor.uint(2)  # protection index
    item_type = cursor.fourcc()
    cursor.cstring()  # item name
    content_type = cursor.cstring() if item_type == "mime" else ""
    return ItemInfo(item_id, item_type, content_type)


def _parse_iref(data: bytes, box: Box, path: Path | None) -> tuple[Reference, ...]:
    cursor = BoxCursor(data, box, path)
    version, _ = cursor.full_box_header()
    id_size = 2 if version == 0 else 4
    references = []
    for entry in iter_boxes(data, cursor.pos, box.end, path):
        entry_cursor = BoxCursor(data, entry, path)
        from_id = entry_cursor.uint(id_size)
        count = entry_cursor.uint(2)
        to_ids = tuple(entry_cursor.uint(id_size) for _ in range(count))
        references.append(Reference(entry.kind, from_id, to_ids))
    return tuple(references)


def _parse_iprp(
    data: bytes, box: Box, path: Path | None
) -> tuple[dict[int, str], dict[int, tuple[int, int]], dict[int, tuple[tuple[str, bytes], ...]]]:
    """Per item: the `auxC` type URN, the `ispe` (width, height) and the transformative
    properties, via `ipco` and `ipma`."""
    children = list(iter_boxes(data, box.start, box.end, path))
    ipco = next((child for child in children if child.kind == "ipco"), None)
    if ipco is None:
        raise CaptureError(path, "HEIF 'iprp' box has no 'ipco'")
    properties = list(iter_boxes(data, ipco.start, ipco.end, path))
    aux_types: dict[int, str] = {}
    sizes: dict[int, tuple[int, int]] = {}
    transforms: dict[int, tuple[tuple[str, bytes], ...]] = {}
    for ipma in (child for child in children if child.kind == "ipma"):
        for item_id, index in _parse_ipma(data, ipma, path):
            if index == 0:
                continue
            if index > len(properties):
                raise CaptureError(path, f"HEIF item {item_id} uses missing property {index}")
            prop = properties[index - 1]
            cursor = BoxCursor(data, prop, path)
            if prop.kind == "auxC":
                cursor.full_box_header()
                aux_types[item_id] = cursor.cstring()
            elif prop.kind == "ispe":
                cursor.full_box_header()
                sizes[item_id] = (cursor.uint(4), cursor.uint(4))
            elif prop.kind in TRANSFORM_KINDS:
                entry = (prop.kind, data[prop.start : prop.end])
                transforms[item_id] = (*transforms.get(item_id, ()), entry)
    return aux_types, sizes, transforms


def _parse_ipma(data: bytes, box: Box, path: Path | None) -> Iterator[tuple[int, int]]:
    """(item id, 1-based property index) associations."""
    cursor = BoxCursor(data, box, path)
    version, flags = cursor.full_box_header()
    count = cursor.uint(4)
    if count > MAX_HEIF_ITEMS:
        raise CaptureError(path, f"HEIF 'ipma' lists {count} items (limit {MAX_HEIF_ITEMS})")
    wide_index = flags & 1
    for _ in range(count):
        item_id = cursor.uint(2 if version < 1 else 4)
        for _ in range(cursor.uint(1)):
            if wide_index:
                yield item_id, cursor.uint(2) & 0x7FFF
            else:
                yield item_id, cursor.uint(1) & 0x7F


def _parse_iloc(data: bytes, box: Box, path: Path | None) -> dict[int, ItemLocation]:
    """Item locations (versions 0-2); every in-file extent is checked against the file size."""
    cursor = BoxCursor(data, box, path)
    version, _ = cursor.full_box_header()
    if version > 2:
        raise UnsupportedCaptureError(path, f"HEIF 'iloc' version {version} is not supported")
    sizes = cursor.uint(1)
    offset_size, length_size = sizes >> 4, sizes & 0xF
    sizes = cursor.uint(1)
    base_offset_size, index_size = sizes >> 4, (sizes & 0xF if version > 0 else 0)
    count = cursor.uint(2 if version < 2 else 4)
    if count > MAX_HEIF_ITEMS:
        raise CaptureError(path, f"HEIF 'iloc' lists {count} items (limit {MAX_HEIF_ITEMS})")
    locations: dict[int, ItemLocation] = {}
    extents_seen = 0
    for _ in range(count):
        item_id = cursor.uint(2 if version < 2 else 4)
        method = cursor.uint(2) & 0xF if version > 0 else 0
        data_reference_index = cursor.uint(2)
        base_offset = cursor.uint(base_offset_size)
        extent_count = cursor.uint(2)
        extents_seen += extent_count
        if extents_seen > MAX_HEIF_EXTENTS:
            raise CaptureError(path, f"HEIF 'iloc' lists more than {MAX_HEIF_EXTENTS} extents")
        extents = []
        for _ in range(extent_count):
            cursor.uint(index_size)
            offset = base_offset + cursor.uint(offset_size)
            length = cursor.uint(length_size)
            if method == 0 and data_reference_index == 0:
                if length == 0 and offset <= len(data):
                    length = len(data) - offset  # 0 means "to the end of the file"
                if offset + length > len(data):
                    raise CaptureError(
                        path,
                        f"HEIF item {item_id} extent [{offset}, {offset + length}) runs past "
                        f"the end of the {len(data)}-byte file (truncated?)",
                    )
            extents.append((offset, length))
        locations[item_id] = ItemLocation(method, data_reference_index, tuple(extents))
    return locations
