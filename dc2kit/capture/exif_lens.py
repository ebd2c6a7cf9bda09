"""EXIF lens facts of a photo (focal length, f-number, 35 mm equivalent, subject), read and written.

Every JPEG and HEIC reader takes its lens data from here, so one set of rules decides what a value
means and when it is unusable: a zero, negative or non-finite FocalLength, FNumber or
FocalLengthIn35mmFilm, or a SubjectArea outside the image, is dropped and said in a note, never
passed on as a number. The sensor's pixel pitch follows from the 35 mm equivalent the way EXIF
defines it (CIPA DC-008): the ratio of the diagonals, 43.27 mm over the sensor's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from PIL import ExifTags, Image, TiffImagePlugin

from dc2kit.capture.decoders import decoder_guard
from dc2kit.capture.jpeg_xmp import APP1, header_segments
from dc2kit.capture.record import CaptureRecord, FocusFacts

FULL_FRAME_DIAGONAL_MM = math.hypot(36.0, 24.0)
SUBJECT_AREA = 0x9214  # EXIF SubjectArea (Pillow names no constant for it)
RATIONAL_DENOMINATOR = 10_000
INFINITE_DISTANCE = 0xFFFFFFFF  # SubjectDistance numerator meaning infinity
EXIF_HEADER = b"Exif\x00\x00"


@dataclass(frozen=True)
class ExifLens:
    """Lens and subject facts of one photo's EXIF; None where absent or unusable.

    `subject_point` is the centre of SubjectArea (or SubjectLocation) in the stored image's
    pixels; `subject_distance_m` is SubjectDistance (None when 0, "unknown", or infinite).
    """

    focal_length_mm: float | None = None
    f_number: float | None = None
    focal_length_35mm: float | None = None
    subject_point: tuple[float, float] | None = None
    subject_point_tag: str | None = None
    subject_distance_m: float | None = None
    notes: tuple[str, ...] = ()

    def pixel_pitch_mm(self, width: int, height: int) -> float | None:
        """Sensor pixel pitch for a full-resolution image of width × height, from the 35 mm
        equivalent: sensor diagonal = 43.27 mm · f / f35, shared by the image's diagonal."""
        if self.focal_length_mm is None or self.focal_length_35mm is None:
            return None
        sensor_diagonal = FULL_FRAME_DIAGONAL_MM * self.focal_length_mm / self.focal_length_35mm
        return sensor_diagonal / math.hypot(width, height)


def read_exif_lens(
    exif: bytes | None,
    image_size: tuple[int, int],
    path: Path,
    origin: tuple[float, float] = (0, 0),
) -> ExifLens:
    """The lens facts of raw EXIF bytes (with or without the "Exif\\0\\0" header).

    `origin` is where the image starts in the pixels EXIF refers to (a HEIF clean aperture's
    corner): subject points are moved by it and must then lie inside `image_size`.
    """
    if not exif:
        return ExifLens()
    with decoder_guard(path, "EXIF"):
        parsed = Image.Exif()
        parsed.load(exif)
        tags = dict(parsed.get_ifd(ExifTags.IFD.Exif))
    notes: list[str] = []
    lens = {
        name: _positive(tags.get(tag), name, notes)
        for name, tag in (
            ("FocalLength", ExifTags.Base.FocalLength),
            ("FNumber", ExifTags.Base.FNumber),
            ("FocalLengthIn35mmFilm", ExifTags.Base.FocalLengthIn35mmFilm),
        )
    }
    point, point_tag = _subject_point(tags, image_size, origin, notes)
    return ExifLens(
        focal_length_mm=lens["FocalLength"],
        f_number=lens["FNumber"],
        focal_length_35mm=lens["FocalLengthIn35mmFilm"],
        subject_point=point,
        subject_point_tag=point_tag,
        subject_distance_m=_subject_distance(tags.get(ExifTags.Base.SubjectDistance), notes),
        notes=tuple(notes),
    )


def lens_exif(
    focal_length_mm: float | None = None,
    f_number: float | None = None,
    focal_length_35mm: int | None = None,
    *,
    image_size: tuple[int, int] | None = None,
) -> Image.Exif:
    """EXIF for a writer: FocalLength and FNumber as RATIONAL (as EXIF requires), the 35 mm
    equivalent as SHORT. With the JPEG's `image_size` (width, height), also the tags EXIF 2.32
    requires of a compressed image, but ComponentsConfiguration: Pillow would type it BYTE, not
    UNDEFINED, which is no better than leaving it out."""
    exif = Image.Exif()
    exif_ifd = exif.get_ifd(ExifTags.IFD.Exif)
    if image_size is not None:
        _required_tags(exif, exif_ifd, image_size)
    for tag, value in (
        (ExifTags.Base.FocalLength, focal_length_mm),
        (ExifTags.Base.FNumber, f_number),
    ):
        if value is not None:
            exif_ifd[tag] = _rational(value)
    if focal_length_35mm is not None:
        exif_ifd[ExifTags.Base.FocalLengthIn35mmFilm] = int(focal_length_35mm)
    return exif


def _required_tags(exif: Image.Exif, exif_ifd: dict, image_size: tuple[int, int]) -> None:
    """CIPA DC-008's mandatory tags for a JPEG (72 dpi, centred chroma, version 2.32, sRGB)."""
    base = ExifTags.Base
    exif[base.XResolution] = exif[base.YResolution] = TiffImagePlugin.IFDRational(72, 1)
    exif[base.ResolutionUnit] = 2  # inches
    exif[base.YCbCrPositioning] = 1  # centred
    exif_ifd[base.ExifVersion] = b"0232"
    exif_ifd[base.FlashPixVersion] = b"0100"
    exif_ifd[base.ColorSpace] = 1  # sRGB
    exif_ifd[base.ExifImageWidth], exif_ifd[base.ExifImageHeight] = image_size


def _rational(value: float) -> TiffImagePlugin.IFDRational:
    fraction = Fraction(float(value)).limit_denominator(RATIONAL_DENOMINATOR)
    return TiffImagePlugin.IFDRational(fraction.numerator, fraction.denominator)


def _number(value: object) -> float | None:
    """A tag value as a float; None for anything that is not one number."""
    if isinstance(value, tuple) and len(value) == 1:
        value = value[0]
    try:
        return float(value)  # IFDRational with a zero denominator gives nan
    except (TypeError, ValueError, ZeroDivisionError):
        return None


def _positive(value: object, name: str, notes: list[str]) -> float | None:
    if value is None:
        return None
    number = _number(value)
    if number is None or not math.isfinite(number) or number <= 0:
        notes.append(f"EXIF {name}={value!r} is not a positive number: ignored")
        return None
    return number


def _subject_point(
    tags: dict, image_size: tuple[int, int], origin: tuple[float, float], notes: list[str]
) -> tuple[tuple[float, float] | None, str | None]:
    """Centre of SubjectArea (2: point, 3: circle, 4: rectangle) or SubjectLocation (x, y),
    moved by `origin`."""
    for tag, name in (
        (SUBJECT_AREA, "SubjectArea"),
        (ExifTags.Base.SubjectLocation, "SubjectLocation"),
    ):
        value = tags.get(tag)
        if value is None:
            continue
        values = value if isinstance(value, tuple) else (value,)
        numbers = [_number(v) for v in values]
        width, height = image_size
        if len(numbers) not in (2, 3, 4) or None in numbers:
            notes.append(f"EXIF {name}={value!r} is not a point or an area: ignored")
            continue
        x, y = numbers[0] - origin[0], numbers[1] - origin[1]
        if not (0 <= x < width and 0 <= y < height):
            cropped = f" (cropped from ({origin[0]:g}, {origin[1]:g}))" if any(origin) else ""
            notes.append(
                f"EXIF {name} centre ({numbers[0]:g}, {numbers[1]:g}) lies outside the "
                f"{width}x{height} image{cropped}: ignored"
            )
        else:
            return (x, y), name
    return None, None


def _subject_distance(value: object, notes: list[str]) -> float | None:
    """SubjectDistance in metres; 0 means unknown and 0xFFFFFFFF/1 infinity (both None)."""
    if value is None:
        return None
    numerator = getattr(value, "numerator", None)
    number = _number(value)
    if numerator == INFINITE_DISTANCE or number == 0:
        return None
    if number is None or not math.isfinite(number) or number < 0:
        notes.append(f"EXIF SubjectDistance={value!r} is not a distance: ignored")
        return None
    return number


def jpeg_exif(data: bytes, path: str | Path) -> bytes | None:
    """The EXIF payload (APP1 "Exif\\0\\0") of a JPEG's header, or None."""
    for segment in header_segments(data, path):
        payload = segment.payload(data)
        if segment.marker == APP1 and payload.startswith(EXIF_HEADER):
            return payload
    return None


def with_exif_lens(
    record: CaptureRecord,
    exif: bytes | None,
    pixel_pitch: tuple[float, str] | None = None,
    origin: tuple[float, float] = (0, 0),
) -> CaptureRecord:
    """`record` with its lens facts from EXIF, the source of each in `extras["lens_sources"]`.

    `pixel_pitch` is a measured pitch and its source (Apple's depthData:PixelSize), preferred
    to the one the 35 mm equivalent implies; `origin` is the image's corner in the pixels EXIF
    refers to (see `read_exif_lens`). Dropped EXIF values are said in `record.notes`.
    """
    lens = read_exif_lens(exif, record.image_size, record.path, origin)
    sources = {}
    if lens.focal_length_mm is not None:
        record.focal_length_mm, sources["focal_length_mm"] = (
            lens.focal_length_mm,
            "EXIF FocalLength",
        )
    if lens.f_number is not None:
        record.f_number, sources["f_number"] = lens.f_number, "EXIF FNumber"
    derived = lens.pixel_pitch_mm(*record.image_size)
    if pixel_pitch is not None:
        record.pixel_pitch_mm, sources["pixel_pitch_mm"] = pixel_pitch
    elif derived is not None:
        record.pixel_pitch_mm = derived
        diagonal = derived * math.hypot(*record.image_size)
        sources["pixel_pitch_mm"] = (
            f"EXIF FocalLengthIn35mmFilm {lens.focal_length_35mm:g} and FocalLength "
            f"{lens.focal_length_mm:g} mm (sensor diagonal {diagonal:.3f} mm)"
        )
    if lens.focal_length_35mm is not None:
        record.extras["focal_length_35mm"] = lens.focal_length_35mm
    if sources:
        record.extras["lens_sources"] = sources
    record.notes.extend(lens.notes)
    record.camera_focus = _camera_focus(lens)
    return record


def _camera_focus(lens: ExifLens) -> FocusFacts | None:
    """The camera's own focus: the SubjectArea/SubjectLocation centre, SubjectDistance."""
    named = [
        (lens.subject_point_tag, lens.subject_point),
        ("SubjectDistance", lens.subject_distance_m),
    ]
    given = [f"EXIF {name}" for name, value in named if value is not None]
    if not given:
        return None
    return FocusFacts(
        point=lens.subject_point, distance=lens.subject_distance_m, source=", ".join(given)
    )
