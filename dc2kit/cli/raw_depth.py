"""The command-line form of a raw depth buffer an app dumped beside its photo (which is FILE).

Camera2 DEPTH16: `--depth16 RAW --depth16-size WxH [--depth16-stride B]`; ARCore depth:
`--arcore-depth RAW|PNG [--arcore-depth-size WxH] [--arcore-depth-stride B]
[--arcore-confidence RAW|PNG [--arcore-confidence-stride B]]`; either with `[--rotation DEG]`.
A raw buffer is bare samples (no header), so its size, row stride and the rotation the app
recorded come from the command line. One registry (`RAW_DEPTH_FORMATS`) makes each format's
flags from the same size and stride types, so every number is range-checked alike when the
command line is parsed; what depends on the buffer itself (a stride shorter than a row, a
truncated file) is the reader's typed error.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dc2kit.capture.limits import MAX_DEPTH_PIXELS
from dc2kit.cli.common import MAX_IMAGE_SIDE, image_size, int_range

if TYPE_CHECKING:
    from dc2kit.capture.record import CaptureRecord

ROTATIONS = (0, 90, 180, 270)  # clockwise degrees, as Android reports SENSOR_ORIENTATION
MAX_ROW_STRIDE = 4 * MAX_IMAGE_SIDE  # bytes: twice the widest row of 2-byte samples


def buffer_size(name: str, *, even: bool) -> Callable[[str], tuple[int, int]]:
    """An argparse type: 'WxH' → (height, width) of a `name` buffer (bounded; even sides when
    the format needs them)."""

    def parse(text: str) -> tuple[int, int]:
        height, width = image_size(text)
        if even and (width % 2 or height % 2):
            raise argparse.ArgumentTypeError(f"{name} sides must be even, got {width}x{height}")
        if width * height > MAX_DEPTH_PIXELS:
            raise argparse.ArgumentTypeError(
                f"{width}x{height} exceeds the {MAX_DEPTH_PIXELS} depth pixels a reader accepts"
            )
        return height, width

    return parse


@dataclass(frozen=True)
class RawDepthFormat:
    """One raw depth buffer format: its flags, help, size rule and reader.

    `flag` names the dump; `flag`-size and `flag`-stride follow, then `extra` options (flag,
    metavar, help, bytes per sample for a stride or None for a file)."""

    flag: str
    name: str  # in messages: "DEPTH16", "ARCore depth"
    title: str
    layout: str
    even_sides: bool
    read: Callable[[argparse.Namespace, RawDepthFormat, dict[str, Any]], CaptureRecord]
    dump_help: str
    size_help: str
    extra: tuple[tuple[str, str, str, int | None], ...] = ()

    @property
    def dest(self) -> str:
        return _dest(self.flag)

    def value(self, args: argparse.Namespace, suffix: str = "") -> Any:
        """The value of this format's flag (or of `flag`-suffix) on the command line."""
        return getattr(args, _dest(f"{self.flag}-{suffix}" if suffix else self.flag))

    @property
    def options(self) -> tuple[str, ...]:
        """The flags meaningless without `flag`."""
        return (f"{self.flag}-size", f"{self.flag}-stride", *(flag for flag, *_ in self.extra))

    def size(self, args: argparse.Namespace) -> tuple[int, int]:
        """(height, width), which a raw buffer cannot do without."""
        from dc2kit.capture.errors import CaptureError

        if self.value(args, "size") is None:
            raise CaptureError(
                self.value(args), f"a raw {self.name} dump needs {self.flag}-size WxH"
            )
        return self.value(args, "size")


def _dest(flag: str) -> str:
    return flag.removeprefix("--").replace("-", "_")


def _read_depth16(
    args: argparse.Namespace, form: RawDepthFormat, turn: dict[str, Any]
) -> CaptureRecord:
    from dc2kit.android_bridge import read_depth16

    height, width = form.size(args)
    stride = form.value(args, "stride")
    return read_depth16(
        args.depth16, args.file, width=width, height=height, row_stride=stride, **turn
    )


def _read_arcore(
    args: argparse.Namespace, form: RawDepthFormat, turn: dict[str, Any]
) -> CaptureRecord:
    """A raw buffer or 16-bit PNG; a PNG carries its size, so size and stride flags are refused
    for it rather than ignored (and a confidence stride for a PNG confidence image)."""
    from dc2kit.android_bridge import read_arcore_depth
    from dc2kit.android_bridge.arcore import is_png
    from dc2kit.capture.errors import CaptureError

    shape: tuple[int | None, int | None] = (None, None)
    if is_png(args.arcore_depth):
        _refuse_for_png(args, args.arcore_depth, ("--arcore-depth-size", "--arcore-depth-stride"))
    else:
        shape = form.size(args)
    confidence = args.arcore_confidence
    if confidence is None and args.arcore_confidence_stride is not None:
        raise CaptureError(None, "--arcore-confidence-stride: used with --arcore-confidence only")
    if confidence is not None and is_png(confidence):
        _refuse_for_png(args, confidence, ("--arcore-confidence-stride",))
    return read_arcore_depth(
        args.arcore_depth,
        args.file,
        confidence_path=confidence,
        width=shape[1],
        height=shape[0],
        row_stride=args.arcore_depth_stride,
        confidence_row_stride=args.arcore_confidence_stride,
        **turn,
    )


def _refuse_for_png(args: argparse.Namespace, path: str, flags: tuple[str, ...]) -> None:
    from dc2kit.capture.errors import CaptureError

    given = [flag for flag in flags if getattr(args, _dest(flag)) is not None]
    if given:
        raise CaptureError(path, f"{', '.join(given)}: a PNG carries its own size and rows")


RAW_DEPTH_FORMATS = (
    RawDepthFormat(
        flag="--depth16",
        name="DEPTH16",
        title="a raw Camera2 DEPTH16 dump (FILE is its photo)",
        layout="little-endian uint16 samples: range in mm in the low 13 bits (0: no estimate), "
        "confidence code in the top 3; depth in metres, absolute",
        even_sides=True,
        read=_read_depth16,
        dump_help="the dumped buffer (.raw/.bin)",
        size_help="the buffer's width and height (even; Image.getWidth/getHeight)",
    ),
    RawDepthFormat(
        flag="--arcore-depth",
        name="ARCore depth",
        title="an ARCore depth image (FILE is its camera image)",
        layout="acquireDepthImage16Bits / acquireRawDepthImage16Bits: little-endian uint16 "
        "millimetres using all 16 bits (0: no estimate), raw plane bytes or a 16-bit PNG; "
        "depth in metres, absolute",
        even_sides=False,
        read=_read_arcore,
        dump_help="the dumped depth image (.raw/.bin, or a 16-bit .png)",
        size_help="a raw buffer's width and height (Image.getWidth/getHeight; not for a PNG)",
        extra=(
            (
                "--arcore-confidence",
                "RAW|PNG",
                "the raw depth's confidence image (acquireRawDepthConfidenceImage: uint8, "
                "0 none … 255 full): raw bytes at the depth's size, or an 8-bit .png",
                None,
            ),
            (
                "--arcore-confidence-stride",
                "BYTES",
                "the raw confidence image's row stride in bytes (default: packed, width)",
                1,
            ),
        ),
    ),
)
RAW_DEPTH_FLAGS = tuple(form.flag for form in RAW_DEPTH_FORMATS)


def add_raw_depth_arguments(parser: argparse.ArgumentParser) -> None:
    for form in RAW_DEPTH_FORMATS:
        group = parser.add_argument_group(form.title, form.layout)
        group.add_argument(
            form.flag, metavar="RAW|PNG" if form.extra else "RAW", help=form.dump_help
        )
        group.add_argument(
            f"{form.flag}-size",
            type=buffer_size(form.name, even=form.even_sides),
            metavar="WxH",
            help=form.size_help,
        )
        group.add_argument(
            f"{form.flag}-stride",
            type=int_range(2, MAX_ROW_STRIDE),
            metavar="BYTES",
            help="row stride in bytes (Plane.getRowStride; default: tightly packed, 2·width)",
        )
        for flag, metavar, text, sample_bytes in form.extra:
            kind = {} if sample_bytes is None else {"type": int_range(sample_bytes, MAX_ROW_STRIDE)}
            group.add_argument(flag, metavar=metavar, help=text, **kind)
    parser.add_argument_group(
        f"the turn of a raw depth dump ({' or '.join(RAW_DEPTH_FLAGS)})"
    ).add_argument(
        "--rotation",
        type=int,
        choices=ROTATIONS,
        help="clockwise degrees the stored photo and buffer turn to be upright, as the app "
        "recorded them (default: the photo's EXIF Orientation)",
    )


def given_raw_depth(args: argparse.Namespace) -> list[RawDepthFormat]:
    """The raw depth formats whose dump is on the command line."""
    return [form for form in RAW_DEPTH_FORMATS if form.value(args) is not None]


def stray_raw_depth_options(args: argparse.Namespace) -> dict[str, list[str]]:
    """Raw-buffer options given without their dump: {the flags they need: the options}."""
    stray: dict[str, list[str]] = {}
    for form in RAW_DEPTH_FORMATS:
        if form.value(args) is None:
            given = [flag for flag in form.options if getattr(args, _dest(flag)) is not None]
            if given:
                stray[form.flag] = given
    if args.rotation is not None and not given_raw_depth(args):
        stray[" or ".join(RAW_DEPTH_FLAGS)] = ["--rotation"]
    return stray


def open_raw_depth(args: argparse.Namespace, form: RawDepthFormat) -> CaptureRecord:
    """The dump beside its photo (FILE, or none: `capture info` only), as displayed, with the
    photo's EXIF lens facts unless flags give them; the notes name --rotation when it gave the
    turn."""
    from dc2kit.capture.orientation import orientation_for_rotation
    from dc2kit.capture.pair import PairCalibration

    turn: dict[str, Any] = {}
    if args.rotation is not None:
        turn = {
            "orientation": orientation_for_rotation(args.rotation),
            "orientation_from": f"--rotation {args.rotation}",
        }
    record = form.read(args, form, turn)
    lens = PairCalibration(focal_length_px=args.focal_length_px, pixel_pitch_mm=args.pixel_pitch_mm)
    given = {
        "focal_length_mm": (lens.focal_length_mm, "--focal-length-px × --pixel-pitch-mm"),
        "pixel_pitch_mm": (lens.pixel_pitch_mm, "--pixel-pitch-mm"),
    }
    for name, (value, flags) in given.items():
        if value is not None:  # a flag wins over the photo's EXIF, and says so
            setattr(record, name, value)
            record.extras.setdefault("lens_sources", {})[name] = flags
    if lens.focal_length_px is not None:
        record.extras["focal_length_px"] = lens.focal_length_px
    return record
