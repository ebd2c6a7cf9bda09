"""NPY depth maps and the bounded file reads under every reader: hostile headers and files."""

from __future__ import annotations

import io
import os
import threading
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from dc2kit.capture.errors import CaptureError
from dc2kit.capture.files import read_file_bytes, read_file_head
from dc2kit.capture.limits import MAX_DEPTH_PIXELS
from dc2kit.capture.npy import read_npy_depth
from dc2kit.capture.pair import read_depth_file
from dc2kit.readers import open_capture, open_capture_image

FLOAT_HEADER = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }"


def npy_bytes(header: str, data: bytes = b"", version: tuple[int, int] = (1, 0)) -> bytes:
    """An NPY file with a literal header text (padded as numpy pads it) and raw data."""
    text = header.encode("latin-1")
    length_bytes = 2 if version == (1, 0) else 4
    prefix = 6 + 2 + length_bytes
    text += b" " * (-(prefix + len(text) + 1) % 64) + b"\n"
    return b"\x93NUMPY" + bytes(version) + len(text).to_bytes(length_bytes, "little") + text + data


def test_npy_bytes_matches_numpy():
    """The helper writes what numpy reads: the hostile cases below differ only as intended."""
    values = np.arange(12, dtype="<f4").reshape(3, 4)
    loaded = np.load(io.BytesIO(npy_bytes(FLOAT_HEADER, values.tobytes())))
    np.testing.assert_array_equal(loaded, values)


@pytest.mark.parametrize(
    "array",
    [
        np.arange(12, dtype=np.float32).reshape(3, 4),
        np.asfortranarray(np.arange(12, dtype=np.float64).reshape(3, 4)),  # fortran_order True
        np.arange(12, dtype=">u2").reshape(3, 4),  # big-endian
        np.arange(12, dtype=np.int8).reshape(3, 4, 1),
    ],
    ids=["float32", "fortran", "big-endian", "hw1"],
)
def test_valid_npy_maps_round_trip(tmp_path, array):
    path = tmp_path / "depth.npy"
    np.save(path, array)
    depth = read_npy_depth(path)
    assert depth.dtype == np.float32
    np.testing.assert_array_equal(depth, array.reshape(3, 4).astype(np.float32))


def test_huge_claimed_shape_fails_without_allocating(tmp_path):
    path = tmp_path / "huge.npy"
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (100000, 100000), }"
    path.write_bytes(npy_bytes(header, bytes(64)))
    tracemalloc.start()
    try:
        with pytest.raises(CaptureError, match=rf"huge\.npy: .*exceeds {MAX_DEPTH_PIXELS} pixels"):
            read_npy_depth(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20  # numpy.load would ask for 74.5 GiB


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4"), "EOF"),
        (npy_bytes("{'descr': <f4}"), "Cannot parse header"),
        (npy_bytes("{'descr': f(), 'fortran_order': False, 'shape': (3, 4)}"), "malformed"),
        (npy_bytes("[1, 2]"), "not a dictionary"),
        (npy_bytes("[" * 300 + "]" * 300), "header"),
        (npy_bytes("{'descr': '<q9', 'fortran_order': False, 'shape': (3, 4), }"), "descr"),
        (npy_bytes("{'descr': '<f4', 'fortran_order': 'yes', 'shape': (3, 4), }"), "fortran"),
        (npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (3.5, 4), }"), "shape"),
        (npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (3, -4), }"), "empty"),
        (npy_bytes("{'descr': '|O', 'fortran_order': False, 'shape': (3, 4), }"), "dtype object"),
        (
            npy_bytes("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (3, 4), }"),
            "dtype",
        ),
        (npy_bytes("{'descr': '<c8', 'fortran_order': False, 'shape': (3, 4), }"), "complex64"),
        (npy_bytes("{'descr': '<f16', 'fortran_order': False, 'shape': (3, 4), }"), "float128"),
        (npy_bytes("{'descr': '<M8[s]', 'fortran_order': False, 'shape': (3, 4), }"), "dtype"),
        (npy_bytes(FLOAT_HEADER, bytes(47)), "47 bytes of data"),  # truncated
        (npy_bytes(FLOAT_HEADER, bytes(49)), "49 bytes of data"),  # trailing bytes
        (npy_bytes(FLOAT_HEADER, bytes(48), version=(3, 0)), r"version \(3, 0\)"),
        (b"\x93NUMPY", "header"),
        (b"\x93NUMPY\x01\x00\xff\xff{", "header"),
        (b"PK\x03\x04" + bytes(40), "not an NPY"),  # an .npz saved as .npy
    ],
)
def test_bad_npy_headers_and_sizes_are_capture_errors(tmp_path, content, message):
    path = tmp_path / "bad.npy"
    path.write_bytes(content)
    with pytest.raises(CaptureError, match=rf"bad\.npy: .*{message}") as caught:
        read_depth_file(path)
    assert "\n" not in str(caught.value)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    edits=st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), min_size=1, max_size=6),
    cut=st.integers(0, 200),
)
def test_fuzzed_npy_gives_only_capture_errors(tmp_path, edits, cut):
    data = bytearray(npy_bytes(FLOAT_HEADER, np.arange(12, dtype="<f4").tobytes()))
    for position, value in edits:
        data[position % len(data)] = value
    path = tmp_path / "fuzz.npy"
    path.write_bytes(bytes(data[: max(cut, 1)]))
    outcome = depth_or_error(path)
    if isinstance(outcome, CaptureError):
        assert "\n" not in str(outcome)
    else:
        assert outcome.ndim == 2 and outcome.dtype == np.float32


def depth_or_error(path: Path) -> np.ndarray | CaptureError:
    """The map, or the CaptureError raised; any other exception fails the test."""
    try:
        return read_npy_depth(path)
    except CaptureError as error:
        return error


# --- files that are not regular files ----------------------------------------------------------


@pytest.fixture
def dev_zero_link(tmp_path: Path):
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero on this system")

    def link(name: str) -> Path:
        path = tmp_path / name
        path.symlink_to("/dev/zero")
        return path

    return link


@pytest.mark.parametrize("name", ["zero.npy", "zero.png", "zero.jpg"])
def test_links_to_dev_zero_are_refused(dev_zero_link, name):
    path = dev_zero_link(name)
    with pytest.raises(CaptureError, match=rf"{name}: not a regular file"):
        read_file_bytes(path)
    with pytest.raises(CaptureError, match=rf"{name}: not a regular file"):
        open_capture(path)
    with pytest.raises(CaptureError, match=rf"{name}: not a regular file"):
        open_capture_image(path)


def test_depth_map_linked_to_dev_zero_is_refused(dev_zero_link, tmp_path):
    Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(tmp_path / "photo.png")
    with pytest.raises(CaptureError, match=r"zero\.npy: not a regular file"):
        open_capture(tmp_path / "photo.png", depth=dev_zero_link("zero.npy"), kind="depth")


def test_folders_and_pipes_are_refused_without_blocking(tmp_path):
    (tmp_path / "folder.npy").mkdir()
    with pytest.raises(CaptureError, match=r"folder\.npy: not a regular file"):
        read_npy_depth(tmp_path / "folder.npy")
    if not hasattr(os, "mkfifo"):
        return
    fifo = tmp_path / "pipe.heic"
    os.mkfifo(fifo)
    outcome: list[BaseException] = []

    def read() -> None:
        try:
            open_capture(fifo)
        except CaptureError as error:
            outcome.append(error)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(60)  # a blocking open would wait for a writer forever
    assert not reader.is_alive()
    assert len(outcome) == 1
    assert "not a regular file" in str(outcome[0])


def test_reads_are_bounded_by_the_limit_and_the_file(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(bytes(range(100)))
    assert read_file_head(path, 12) == bytes(range(12))
    assert read_file_head(path, 1000) == bytes(range(100))
    assert read_file_bytes(path, limit=100) == bytes(range(100))
    with pytest.raises(CaptureError, match=r"data\.bin: file of 100 bytes exceeds the 99-byte"):
        read_file_bytes(path, limit=99)
    with pytest.raises(CaptureError, match=r"absent\.bin: cannot read file"):
        read_file_bytes(tmp_path / "absent.bin")
