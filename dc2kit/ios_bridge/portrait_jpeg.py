"""iPhone portrait JPEGs ("Most Compatible"): a multi-picture (MPF) JPEG with a disparity frame.

The MP index and each frame's marker segments are walked here (bounded, with per-frame XMP and
SOF type), because Pillow keeps the previous frame's `info["xmp"]` when a frame has none and
cannot say why a 16-bit lossless frame fails. The depth frame is the one whose XMP says
`apdi:AuxiliaryImageType` is disparity or depth, wherever it sits; Pillow decodes the frames.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from dc2kit.atomic import write_atomically
from dc2kit.capture.decoders import JPEG_ONLY, decoder_guard
from dc2kit.capture.errors import CaptureError, NoDepthError, UnsupportedCaptureError
from dc2kit.capture.exif_lens import lens_exif
from dc2kit.capture.files import read_file_bytes
from dc2kit.capture.limits import MAX_DEPTH_PIXELS, MAX_IMAGE_PIXELS, MAX_MPF_FRAMES, check_pixels
from dc2kit.capture.record import Accuracy, CaptureRecord, DepthKind, Intrinsics
from dc2kit.ios_bridge.apple_depth_xmp import (
    AppleDepthInfo,
    build_apple_depth_xmp,
    dequantize,
    parse_apple_depth_xmp,
)
from dc2kit.ios_bridge.heic import apple_record

XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
MPF_HEADER = b"MPF\x00"
SOF_LOSSLESS = 0xC3
SOF_DECODABLE = frozenset({0xC0, 0xC1, 0xC2})  # baseline, extended, progressive (8-bit DCT)
SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # DHT, JPG, DAC are not SOFs
STANDALONE_MARKERS = frozenset({0x01, *range(0xD0, 0xD8)})
MAX_MP_INDEX_TAGS = 64
MP_PRIMARY_ATTRIBUTE = 0x20030000  # representative image, baseline MP primary image
QUANTIZED_MAX = 255


@dataclass(frozen=True)
class JpegFrame:
    """One JPEG inside the file: where it is and what its header segments say."""

    start: int
    end: int
    xmp: bytes | None
    exif: bytes | None
    sof_marker: int | None
    sample_bits: int | None
    mp_index: tuple[bytes, int] | None  # (APP2 "MPF" payload, its offset in the file)


def read_iphone_jpeg(path: str | Path) -> CaptureRecord:
    """Photo, disparity (float32, native size) and camera facts from an iPhone portrait JPEG."""
    path = Path(path)
    data = read_file_bytes(path)
    frames = _frames(data, path)
    depth_frame, info = _depth_frame(frames, path)
    _check_decodable(depth_frame, path)
    stored = _decode_frame(data, depth_frame, "L", MAX_DEPTH_PIXELS, path)
    image = _decode_frame(data, frames[0], "RGB", MAX_IMAGE_PIXELS, path)
    depth = dequantize(stored, info, path)
    kind = DepthKind(info.aux_type)
    return apple_record(image, depth, kind, info, frames[0].exif, "iphone-jpeg", path)


def write_iphone_portrait_jpeg(
    path: str | Path,
    image_rgb_uint8: np.ndarray,
    disparity_float32: np.ndarray,
    *,
    accuracy: str = "relative",
    intrinsics: Intrinsics | None = None,
    focal_length_mm: float | None = None,
    f_number: float | None = None,
    pixel_pitch_mm: float | None = None,
    simulated_aperture: float | None = None,
    focal_length_35mm: int | None = None,
) -> None:
    """Write an MPF portrait JPEG: the photo (lens facts in EXIF: FocalLength and FNumber as
    RATIONAL, FocalLengthIn35mmFilm as SHORT), then the disparity quantised to 8 bits (`L008`)
    with Apple depth XMP carrying its float range, accuracy, intrinsics and pixel size.

    Disparity survives within half a quantisation step plus the depth frame's JPEG error
    (at most one level at quality 100).
    """
    image = np.asarray(image_rgb_uint8)
    disparity = np.asarray(disparity_float32, dtype=np.float64)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be HxWx3 uint8, got {image.shape} {image.dtype}")
    if disparity.ndim != 2 or disparity.size == 0 or not np.isfinite(disparity).all():
        raise ValueError("disparity must be a non-empty 2-D array of finite values")
    float_min, float_max = float(disparity.min()), float(disparity.max())
    span = float_max - float_min
    scaled = (
        (disparity - float_min) / span * QUANTIZED_MAX if span > 0 else np.zeros_like(disparity)
    )
    info = AppleDepthInfo(
        aux_type="disparity",
        native_format="fdis",
        stored_format="L008",
        int_min=0,
        int_max=QUANTIZED_MAX,
        float_min=float_min,
        float_max=float_max,
        accuracy=Accuracy(accuracy).value,
        intrinsics=intrinsics,
        pixel_size_mm=pixel_pitch_mm,
        simulated_aperture=simulated_aperture,
    )
    frames = [
        encode_jpeg(
            image,
            quality=95,
            exif=lens_exif(
                focal_length_mm, f_number, focal_length_35mm, image_size=image.shape[1::-1]
            ),
        ),
        encode_jpeg(
            np.round(scaled).astype(np.uint8), quality=100, xmp=build_apple_depth_xmp(info)
        ),
    ]
    write_atomically(path, assemble_mpf(frames))


def encode_jpeg(
    pixels: np.ndarray, *, quality: int, exif: Image.Exif | None = None, xmp: bytes = b""
) -> bytes:
    """One baseline JPEG (RGB or L) with optional EXIF and XMP, as a frame for `assemble_mpf`."""
    buffer = io.BytesIO()
    options = {"exif": exif} if exif is not None else {}
    Image.fromarray(pixels).save(buffer, "JPEG", quality=quality, xmp=xmp, **options)
    return buffer.getvalue()


def assemble_mpf(frames: list[bytes]) -> bytes:
    """Concatenate JPEGs and give the first an MP index (APP2 "MPF") that locates all of them."""
    primary = frames[0]
    insert_at = 2  # after SOI and the APPn segments that follow it
    for marker, payload, offset in _segments(primary, 0, len(primary), None):
        if not 0xE0 <= marker <= 0xEF:
            break
        insert_at = offset + len(payload)
    entries_offset = 8 + 2 + 3 * 12 + 4  # TIFF header, then an IFD of three tags
    ifd = struct.pack(">H", 3)
    ifd += struct.pack(">HHI4s", 0xB000, 7, 4, b"0100")  # MP format version
    ifd += struct.pack(">HHII", 0xB001, 4, 1, len(frames))  # number of images
    ifd += struct.pack(">HHII", 0xB002, 7, 16 * len(frames), entries_offset)  # MP entries
    ifd += struct.pack(">I", 0)  # no next IFD
    header = b"MM\x00\x2a" + struct.pack(">I", 8) + ifd
    segment_size = 4 + len(MPF_HEADER) + len(header) + 16 * len(frames)
    tiff_start = insert_at + 4 + len(MPF_HEADER)
    sizes = [len(primary) + segment_size, *(len(frame) for frame in frames[1:])]
    entries = b""
    start = 0
    for index, size in enumerate(sizes):
        if index == 0:
            entries += struct.pack(">IIIHH", MP_PRIMARY_ATTRIBUTE, size, 0, 0, 0)
        else:
            entries += struct.pack(">IIIHH", 0, size, start - tiff_start, 0, 0)
        start += size
    segment = b"\xff\xe2" + struct.pack(">H", segment_size - 2) + MPF_HEADER + header + entries
    return primary[:insert_at] + segment + primary[insert_at:] + b"".join(frames[1:])


def _frames(data: bytes, path: Path) -> list[JpegFrame]:
    """Every frame listed by the MP index (just the one JPEG when there is no MPF segment)."""
    primary = _scan_frame(data, 0, len(data), path)
    if primary.mp_index is None:
        return [primary]
    frames = [primary]
    for start, size in _mp_entries(*primary.mp_index, path)[1:]:
        if start + size > len(data) or size < 4:
            raise CaptureError(path, f"MPF frame [{start}, {start + size}) is outside the file")
        frames.append(_scan_frame(data, start, start + size, path))
    return frames


def _segments(
    data: bytes, start: int, end: int, path: Path | None
) -> Iterator[tuple[int, bytes, int]]:
    """(marker, payload, payload offset) of the header segments from SOI up to SOS or EOI."""
    if data[start : start + 2] != b"\xff\xd8":
        raise CaptureError(path, f"no JPEG start-of-image marker at byte {start}")
    pos = start + 2
    while pos + 2 <= end:
        if data[pos] != 0xFF:
            raise CaptureError(path, f"JPEG marker expected at byte {pos}")
        marker = data[pos + 1]
        if marker == 0xFF or marker in STANDALONE_MARKERS:
            pos += 1 if marker == 0xFF else 2
            continue
        if marker == 0xD9 or pos + 4 > end:
            break
        (length,) = struct.unpack_from(">H", data, pos + 2)
        if length < 2 or pos + 2 + length > end:
            raise CaptureError(
                path, f"JPEG segment 0xFF{marker:02X} at byte {pos} runs past the end"
            )
        yield marker, data[pos + 4 : pos + 2 + length], pos + 4
        if marker == 0xDA:
            return
        pos += 2 + length
    raise CaptureError(path, f"JPEG frame at byte {start} ends before its image data")


def _scan_frame(data: bytes, start: int, end: int, path: Path) -> JpegFrame:
    xmp = exif = mp_index = None
    sof_marker = sample_bits = None
    for marker, payload, offset in _segments(data, start, end, path):
        if marker == 0xE1 and payload.startswith(XMP_HEADER) and xmp is None:
            xmp = payload[len(XMP_HEADER) :]
        elif marker == 0xE1 and payload.startswith(b"Exif\x00\x00") and exif is None:
            exif = payload
        elif marker == 0xE2 and payload.startswith(MPF_HEADER) and mp_index is None:
            mp_index = (payload, offset)
        elif marker in SOF_MARKERS and payload:
            sof_marker, sample_bits = marker, payload[0]
    return JpegFrame(start, end, xmp, exif, sof_marker, sample_bits, mp_index)


def _mp_entries(mpf: bytes, mpf_offset: int, path: Path) -> list[tuple[int, int]]:
    """(absolute start, size) of each frame, from the MP index IFD in the primary's APP2."""
    tiff_start = mpf_offset + len(MPF_HEADER)
    tiff = mpf[len(MPF_HEADER) :]
    try:
        order = {b"II": "<", b"MM": ">"}[tiff[:2]]
        (ifd_offset,) = struct.unpack_from(order + "I", tiff, 4)
        (count,) = struct.unpack_from(order + "H", tiff, ifd_offset)
        tags = {}
        for index in range(min(count, MAX_MP_INDEX_TAGS)):
            tag, _, length, value = struct.unpack_from(
                order + "HHII", tiff, ifd_offset + 2 + 12 * index
            )
            tags[tag] = (length, value)
        number = tags[0xB001][1]
        length, entries_offset = tags[0xB002]
        if number > MAX_MPF_FRAMES or length != 16 * number or number < 1:
            raise CaptureError(path, f"MPF index lists {number} frames in {length} bytes")
        entries = [
            struct.unpack_from(order + "IIIHH", tiff, entries_offset + 16 * index)
            for index in range(number)
        ]
    except (KeyError, struct.error) as error:
        raise CaptureError(path, f"malformed MPF index ({error!r})") from None
    starts = [0, *(tiff_start + offset for _, _, offset, _, _ in entries[1:])]
    return [(start, size) for start, (_, size, _, _, _) in zip(starts, entries, strict=True)]


def _check_decodable(frame: JpegFrame, path: Path) -> None:
    """Refuse, saying why, a depth frame Pillow cannot decode (e.g. Apple's maps with NaNs)."""
    if frame.sof_marker is None:
        raise CaptureError(path, f"JPEG frame at byte {frame.start} has no start-of-frame segment")
    if frame.sof_marker == SOF_LOSSLESS:
        raise UnsupportedCaptureError(
            path,
            f"depth frame is a {frame.sample_bits}-bit lossless JPEG (SOF3), which Pillow "
            "cannot decode",
        )
    if frame.sof_marker not in SOF_DECODABLE or frame.sample_bits != 8:
        raise UnsupportedCaptureError(
            path,
            f"depth frame is a {frame.sample_bits}-bit JPEG with SOF marker "
            f"0xFF{frame.sof_marker:02X}, which Pillow cannot decode",
        )


def _depth_frame(frames: list[JpegFrame], path: Path) -> tuple[JpegFrame, AppleDepthInfo]:
    """The frame whose XMP names a disparity or depth map; mattes and the photo are skipped."""
    for frame in frames:
        info = parse_apple_depth_xmp(frame.xmp, path) if frame.xmp else None
        if info is not None and info.is_depth_map:
            return frame, info
    raise NoDepthError(path, f"no depth or disparity frame among the JPEG's {len(frames)} frame(s)")


def _decode_frame(data: bytes, frame: JpegFrame, mode: str, limit: int, path: Path) -> np.ndarray:
    """Decode one frame with Pillow after checking its size against its pixel bounds."""
    what = f"JPEG frame at byte {frame.start}"
    with decoder_guard(path, what):
        frame_bytes = io.BytesIO(data[frame.start : frame.end])
        with Image.open(frame_bytes, formats=list(JPEG_ONLY)) as image:
            check_pixels(*image.size, limit, len(data), what, path)
            if mode == "L" and image.mode != "L":
                raise UnsupportedCaptureError(path, f"depth frame has mode {image.mode}, not L")
            return np.asarray(image.convert(mode))
