"""Sweep videos as MP4: H.264 where an encoder is at hand, MPEG-4 Part 2 otherwise.

Browsers play H.264 but not MPEG-4 Part 2, and OpenCV's wheels ship no H.264 encoder, so H.264
goes through PyAV (whose wheels bundle FFmpeg with libx264): 4:2:0 at even sides (an odd last row
or column is cropped and said), BT.709 limited range, tagged so decoders convert back the same
way, and the index first in the file (`+faststart`) so a page can start playing before the end
arrives. This module imports neither PyAV nor OpenCV until a video is written, so the command line
can offer the codec names without loading them.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from dc2kit.atomic import atomic_output
from dc2kit.errors import Dc2kitError

if TYPE_CHECKING:
    import numpy as np

AUTO = "auto"  # the first codec of VIDEO_CODECS whose encoder is here


class VideoError(Dc2kitError, RuntimeError):
    """A video that cannot be written (encoder missing, frames of changing size, disk full)."""


class FrameSink(Protocol):
    def write(self, frame: np.ndarray) -> None: ...


class VideoCodec(Protocol):
    name: str  # what the container's stream reports (`h264`, `mpeg4`)
    label: str
    even_sides: bool  # 4:2:0 chroma needs both sides even

    def missing(self) -> str | None:
        """Why this encoder cannot be used here, or None when it can."""

    def open(
        self, path: Path, fps: float, width: int, height: int
    ) -> AbstractContextManager[FrameSink]:
        """A sink of RGB uint8 frames that finishes the file when the block ends."""


@dataclass(frozen=True)
class PyAVCodec:
    """An FFmpeg encoder through PyAV, writing BT.709 limited-range 4:2:0."""

    name: str
    label: str
    encoder: str
    options: dict[str, str] = field(default_factory=dict)
    even_sides: bool = True

    def missing(self) -> str | None:
        try:
            import av
        except ImportError:
            return "PyAV (the `av` package) is not installed"
        try:
            av.codec.Codec(self.encoder, "w")
        except av.codec.codec.UnknownCodecError:
            return f"this FFmpeg build has no {self.encoder} encoder"
        return None

    @contextmanager
    def open(self, path: Path, fps: float, width: int, height: int) -> Iterator[FrameSink]:
        import av

        rate = Fraction(fps).limit_denominator(1001)
        try:
            with av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"}) as out:
                stream = out.add_stream(self.encoder, rate=rate, options=self.options)
                stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
                context = stream.codec_context
                # BT.709 is 1 in each of FFmpeg's colorspace, primaries and transfer enums.
                context.colorspace = context.color_primaries = context.color_trc = 1
                context.color_range = 1  # limited ("MPEG") range
                yield _PyAVSink(out, stream, 1 / rate)
                out.mux(stream.encode())
        except av.FFmpegError as error:
            raise VideoError(f"{self.encoder} failed ({error})") from error


@dataclass
class _PyAVSink:
    container: object
    stream: object
    time_base: Fraction
    count: int = 0

    def write(self, frame: np.ndarray) -> None:
        import av
        import numpy as np

        rgb = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        picture = rgb.reformat(format="yuv420p", dst_colorspace="ITU709", dst_color_range="MPEG")
        picture.pts, picture.time_base = self.count, self.time_base
        self.container.mux(self.stream.encode(picture))
        self.count += 1


@dataclass(frozen=True)
class OpenCVCodec:
    """A fourcc through OpenCV's VideoWriter (its wheels encode MPEG-4 Part 2, not H.264)."""

    name: str
    label: str
    fourcc: str
    even_sides: bool = True  # FFmpeg's MPEG-4 encoder drops an odd last row or column itself

    def missing(self) -> str | None:
        return None  # OpenCV says only when a writer fails to open

    @contextmanager
    def open(self, path: Path, fps: float, width: int, height: int) -> Iterator[FrameSink]:
        import cv2

        writer = cv2.VideoWriter(
            str(path), cv2.VideoWriter_fourcc(*self.fourcc), fps, (width, height)
        )
        try:
            if not writer.isOpened():
                raise VideoError(f"OpenCV has no {self.label} encoder here")
            yield _OpenCVSink(writer)
        finally:
            writer.release()


@dataclass
class _OpenCVSink:
    writer: object

    def write(self, frame: np.ndarray) -> None:
        import cv2

        self.writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))


# In order of preference: `auto` takes the first whose encoder is here.
VIDEO_CODECS: dict[str, VideoCodec] = {
    "h264": PyAVCodec(
        "h264", "H.264", encoder="libx264", options={"crf": "18", "preset": "medium"}
    ),
    "mp4v": OpenCVCodec("mpeg4", "MPEG-4 Part 2", fourcc="mp4v"),
}
CODEC_CHOICES: tuple[str, ...] = (AUTO, *VIDEO_CODECS)


@dataclass(frozen=True)
class VideoResult:
    """What was written: frames, the video's size (after any crop to even sides), the codec."""

    frames: int
    width: int
    height: int
    codec: str
    notes: tuple[str, ...]


def choose_codec(
    choice: str, path: str | Path, codecs: dict[str, VideoCodec] = VIDEO_CODECS
) -> tuple[VideoCodec, tuple[str, ...]]:
    """The codec for `choice` (a key of `codecs`, or `auto`) and notes on any passed over."""
    if choice != AUTO:
        codec = codecs[choice]
        why = codec.missing()
        if why:
            others = ", ".join(f"--codec {name}" for name in codecs if name != choice)
            raise VideoError(f"{path}: cannot write {codec.label}: {why}; try {others}")
        return codec, ()
    notes = []
    for codec in codecs.values():
        why = codec.missing()
        if why is None:
            return codec, tuple(notes)
        notes.append(f"no {codec.label} ({why}); browsers may not play what follows")
    raise VideoError(f"{path}: no video encoder here ({'; '.join(notes)})")


def write_video(
    frames: Iterable[np.ndarray], path: str | Path, fps: float, codec: str = AUTO
) -> VideoResult:
    """Write RGB uint8 frames of one size as an MP4, atomically (nothing at `path` on failure)."""
    chosen, notes = choose_codec(codec, path)
    frames = iter(frames)
    first = next(frames, None)
    if first is None:
        raise VideoError(f"{path}: no frames to write")
    height, width = first.shape[:2]
    if chosen.even_sides:
        crop = (height - height % 2, width - width % 2)
        if min(crop) == 0:
            raise VideoError(f"{path}: {width}x{height} is too small for {chosen.label}")
        if crop != (height, width):
            notes += (f"cropped to {crop[1]}x{crop[0]}: {chosen.label} 4:2:0 needs even sides",)
    else:
        crop = (height, width)
    count = 0
    try:
        with (
            atomic_output(path) as temporary,
            chosen.open(temporary, fps, crop[1], crop[0]) as sink,
        ):
            for frame in itertools.chain((first,), frames):
                if frame.shape[:2] != (height, width):
                    raise VideoError(
                        f"frame {count} is {frame.shape[1]}x{frame.shape[0]}, "
                        f"the first was {width}x{height}"
                    )
                sink.write(frame[: crop[0], : crop[1]])
                count += 1
    except VideoError as error:  # raised about the temporary: name the destination
        raise VideoError(f"{path}: {error}") from error
    except OSError as error:
        raise VideoError(f"{path}: cannot write ({error.strerror or error})") from error
    return VideoResult(count, crop[1], crop[0], chosen.name, notes)
