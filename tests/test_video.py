"""Sweep videos: each codec decoded back (PyAV and OpenCV) matches the frames it was given."""

from __future__ import annotations

import json

import av
import cv2
import numpy as np
import pytest

from dc2kit.cli import main
from dc2kit.metrics import psnr
from dc2kit.render.video import (
    VIDEO_CODECS,
    PyAVCodec,
    VideoError,
    choose_codec,
    write_video,
)

# Odd on purpose: 4:2:0 codecs keep the even 66x44 top-left part.
HEIGHT, WIDTH, EVEN = 45, 67, (44, 66)
LUMA = np.array([0.2126, 0.7152, 0.0722])  # BT.709, what the H.264 stream is tagged with


def scene(index: int) -> np.ndarray:
    """A shaded, tinted background with a red disk moving right: frames differ clearly."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH].astype(float)
    shade = 0.5 + 0.3 * np.sin(x / 6 + index / 2) * np.cos(y / 8)
    tint = np.stack([1 + 0.2 * x / WIDTH, np.ones_like(x), 1 - 0.2 * y / HEIGHT], -1)
    rgb = shade[..., None] * tint
    rgb[(x - 10 - 8 * index) ** 2 + (y - HEIGHT / 2) ** 2 < 64] = (0.9, 0.3, 0.2)
    return (np.clip(rgb, 0, 1) * 255).round().astype(np.uint8)


FRAMES = [scene(i) for i in range(6)]


def decode_pyav(path) -> tuple[list[np.ndarray], av.codec.context.CodecContext]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
        return frames, stream.codec_context


def decode_opencv(path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            return frames
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))


def yuv420_round_trip(frame: np.ndarray) -> np.ndarray:
    """What 4:2:0 BT.709 limited range alone costs, with no encoder in between."""
    yuv = av.VideoFrame.from_ndarray(frame, format="rgb24").reformat(
        format="yuv420p", dst_colorspace="ITU709", dst_color_range="MPEG"
    )
    return yuv.reformat(
        format="rgb24", src_colorspace="ITU709", src_color_range="MPEG"
    ).to_ndarray()


@pytest.mark.parametrize(("codec", "stream_name"), [("h264", "h264"), ("mp4v", "mpeg4")])
def test_video_decodes_back_to_its_frames(tmp_path, codec, stream_name):
    path = tmp_path / "sweep.mp4"
    result = write_video(iter(FRAMES), path, fps=12.0, codec=codec)
    assert (result.frames, result.height, result.width, result.codec) == (6, *EVEN, stream_name)
    assert any("cropped to 66x44" in note for note in result.notes)
    decoded, context = decode_pyav(path)
    assert (context.name, context.pix_fmt) == (stream_name, "yuv420p")
    assert (context.height, context.width) == EVEN
    by_opencv = decode_opencv(path)
    assert len(decoded) == len(by_opencv) == 6
    for index, (back, opencv) in enumerate(zip(decoded, by_opencv, strict=True)):
        assert back.shape == opencv.shape == (*EVEN, 3)
        assert psnr(back, opencv, peak=255) > 40.0  # both decoders read the same colours
        # Each decoded frame is nearest its own source frame: order and count are right.
        scores = [psnr(frame[: EVEN[0], : EVEN[1]], back, peak=255) for frame in FRAMES]
        assert max(range(6), key=scores.__getitem__) == index
        assert scores[index] > 30.0


def test_h264_costs_little_beyond_420_and_is_tagged_and_streamable(tmp_path):
    path = tmp_path / "sweep.mp4"
    write_video(FRAMES, path, fps=12.0, codec="h264")
    decoded, context = decode_pyav(path)
    for frame, back in zip(FRAMES, decoded, strict=True):
        source = np.ascontiguousarray(frame[: EVEN[0], : EVEN[1]])
        ceiling = psnr(source, yuv420_round_trip(source), peak=255)
        assert ceiling - 1.0 < psnr(source, back, peak=255) < ceiling + 0.5
        assert psnr(source @ LUMA, back @ LUMA, peak=255) > 38.0  # luma is not subsampled
    assert (context.colorspace, context.color_primaries, context.color_trc) == (1, 1, 1)
    assert context.color_range == 1  # limited
    data = path.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")  # +faststart: the index comes first


def test_auto_falls_back_when_the_encoder_is_missing(tmp_path):
    path = tmp_path / "sweep.mp4"
    absent = PyAVCodec("h264", "H.264", encoder="libx264-not-in-this-build")
    codecs = {"h264": absent, "mp4v": VIDEO_CODECS["mp4v"]}
    chosen, notes = choose_codec("auto", path, codecs)
    assert chosen is VIDEO_CODECS["mp4v"]
    assert notes == (
        "no H.264 (this FFmpeg build has no libx264-not-in-this-build encoder); "
        "browsers may not play what follows",
    )
    with pytest.raises(VideoError, match=r"cannot write H.264: .* try --codec mp4v$"):
        choose_codec("h264", path, codecs)
    assert choose_codec("auto", path) == (VIDEO_CODECS["h264"], ())  # libx264 is here


@pytest.mark.parametrize("codec", list(VIDEO_CODECS))
def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, codec):
    path = tmp_path / "sweep.mp4"
    path.write_bytes(b"old")
    frames = [*FRAMES[:3], np.zeros((20, 20, 3), np.uint8)]
    with pytest.raises(VideoError, match=f"^{path}: frame 3 is 20x20, the first was 67x45$"):
        write_video(frames, path, fps=12.0, codec=codec)
    assert [p.name for p in tmp_path.iterdir()] == ["sweep.mp4"]
    assert path.read_bytes() == b"old"
    with pytest.raises(VideoError, match="no frames to write"):
        write_video([], tmp_path / "empty.mp4", fps=12.0, codec=codec)
    with pytest.raises(VideoError, match="1x1 is too small"):
        write_video([np.zeros((1, 1, 3), np.uint8)], tmp_path / "dot.mp4", 12.0, codec)
    assert [p.name for p in tmp_path.iterdir()] == ["sweep.mp4"]


@pytest.fixture(scope="module")
def synthetic_capture(tmp_path_factory):
    path = tmp_path_factory.mktemp("capture") / "scene.jpg"
    assert main(["capture", "synth", "--size", "96x64", "--out", str(path)]) == 0
    return path


@pytest.mark.parametrize(("flags", "stream_name"), [([], "h264"), (["--codec", "mp4v"], "mpeg4")])
def test_sweep_command_writes_the_chosen_codec(
    synthetic_capture, tmp_path, capsys, flags, stream_name
):
    video = tmp_path / "sweep.mp4"
    argv = ["sweep", str(synthetic_capture), "--blur-strength", "4", "--frames", "3", "--json"]
    capsys.readouterr()
    assert main([*argv, *flags, "--out", str(video)]) == 0
    report = json.loads(capsys.readouterr().out)
    decoded, context = decode_pyav(video)
    assert (report["codec"], context.name) == (stream_name, stream_name)
    assert report["frames"] == len(decoded) == 3
    assert (
        report["size"]
        == {"width": 96, "height": 64}
        == {"width": context.width, "height": context.height}
    )
