"""The command-line form of a raw Camera2 DEPTH16 dump: `FILE --depth16 RAW --depth16-size WxH`.

A DEPTH16 buffer is bare samples (no header), so its size, row stride and the rotation the app
recorded must come from the command line; the photo it belongs to is FILE. Every number is
range-checked here when the command line is parsed; what depends on the buffer itself (a stride
shorter than a row, a truncated file) is the reader's typed error.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from dc2kit.capture.limits import MAX_DEPTH_PIXELS
from dc2kit.cli.common import MAX_IMAGE_SIDE, image_size, int_range

if TYPE_CHECKING:
    from dc2kit.capture.record import CaptureRecord

ROTATIONS = (0, 90, 180, 270)  # clockwise degrees, as Android reports SENSOR_ORIENTATION
MAX_ROW_STRIDE = 4 * MAX_IMAGE_SIDE  # bytes: twice the widest row of 2-byte samples
DEPTH16_OPTIONS = ("depth16_size", "depth16_stride", "rotation")  # meaningless without --depth16


def depth16_size(text: str) -> tuple[int, int]:
    """An argparse type: 'WxH' → (height, width) of a DEPTH16 buffer (even sides, bounded)."""
    height, width = image_size(text)
    if width % 2 or height % 2:
        raise argparse.ArgumentTypeError(f"DEPTH16 sides must be even, got {width}x{height}")
    if width * height > MAX_DEPTH_PIXELS:
        raise argparse.ArgumentTypeError(
            f"{width}x{height} exceeds the {MAX_DEPTH_PIXELS} depth pixels a reader accepts"
        )
    return height, width


def add_depth16_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "a raw Camera2 DEPTH16 dump (FILE is its photo)",
        "little-endian uint16 samples: range in mm in the low 13 bits (0: no estimate), "
        "confidence code in the top 3; depth in metres, absolute",
    )
    group.add_argument("--depth16", metavar="RAW", help="the dumped buffer (.raw/.bin)")
    group.add_argument(
        "--depth16-size",
        type=depth16_size,
        metavar="WxH",
        help="the buffer's width and height (even; Image.getWidth/getHeight)",
    )
    group.add_argument(
        "--depth16-stride",
        type=int_range(2, MAX_ROW_STRIDE),
        metavar="BYTES",
        help="row stride in bytes (Plane.getRowStride; default: tightly packed, 2·width)",
    )
    group.add_argument(
        "--rotation",
        type=int,
        choices=ROTATIONS,
        help="clockwise degrees the stored photo and buffer turn to be upright, as the app "
        "recorded them (default: the photo's EXIF Orientation)",
    )


def given_depth16_options(args: argparse.Namespace) -> list[str]:
    """The DEPTH16-only options on the command line, as flags."""
    return [
        "--" + name.replace("_", "-") for name in DEPTH16_OPTIONS if getattr(args, name) is not None
    ]


def open_depth16(args: argparse.Namespace) -> CaptureRecord:
    """The DEPTH16 dump beside its photo, as displayed, with the lens facts given as flags.

    Without a photo (`capture info` only) a black image of the buffer's size stands in, so that
    the dump is turned and checked as with one; the notes say so, and `capture info` reports no
    image.
    """
    import numpy as np

    from dc2kit.android_bridge import read_depth16
    from dc2kit.capture.errors import CaptureError
    from dc2kit.capture.orientation import orientation_for_rotation
    from dc2kit.capture.pair import PairCalibration

    if args.depth16_size is None:
        raise CaptureError(args.depth16, "a DEPTH16 dump needs --depth16-size WxH")
    height, width = args.depth16_size
    photo = np.zeros((height, width, 3), np.uint8) if args.file is None else args.file
    record = read_depth16(
        args.depth16,
        photo,
        width=width,
        height=height,
        row_stride=args.depth16_stride,
        orientation=None if args.rotation is None else orientation_for_rotation(args.rotation),
    )
    if args.file is None:  # the notes on turning a photo do not apply
        turned = "" if args.rotation is None else f", turned {args.rotation}° clockwise"
        record.notes = [f"no photo given: the DEPTH16 dump alone{turned}"]
    lens = PairCalibration(focal_length_px=args.focal_length_px, pixel_pitch_mm=args.pixel_pitch_mm)
    record.focal_length_mm, record.pixel_pitch_mm = lens.focal_length_mm, lens.pixel_pitch_mm
    if lens.focal_length_px is not None:
        record.extras["focal_length_px"] = lens.focal_length_px
    return record
