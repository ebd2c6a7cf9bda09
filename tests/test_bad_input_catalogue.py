"""A catalogue of bad files and command lines, each through the real `dc2kit` main in-process.

Every case must end in one line `dc2kit: error: …` naming the problem (and the bad file, where
there is one), exit status 1, no traceback, and nothing written to the output folder. Argument
texts `{name}` stand for a file of the `bad_files` fixture, `{out}` for an output folder that
must stay empty. (tests/test_cli.py holds more refused command lines.)
"""

import io
import json
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dc2kit.cli import main
from dc2kit.samples import resolve_capture


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _npy_header(header: str) -> bytes:
    """An NPY file with this header text and almost no data."""
    text = header + " " * (63 - len(header) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode() + bytes(64)


def _safetensors(tensors: dict, metadata: dict) -> bytes:
    from safetensors.numpy import save

    return save(tensors, metadata=metadata)


def _checkpoints(folder: Path) -> dict[str, bytes]:
    """A real mobile checkpoint, then damaged in each way a checkpoint can be."""
    from safetensors import safe_open

    from dc2kit.model import DC2Net, preset_config, save_dc2

    good = folder / "good.safetensors"
    save_dc2(DC2Net(preset_config("mobile", 32, 32)), good)
    with safe_open(str(good), "np") as file:
        metadata = file.metadata()
        tensors = {key: file.get_tensor(key) for key in file.keys()}  # noqa: SIM118
    first = sorted(tensors)[0]
    config = json.loads(metadata["config"])

    def with_config(**changes) -> bytes:
        return _safetensors(tensors, {**metadata, "config": json.dumps({**config, **changes})})

    data = good.read_bytes()
    return {
        "random.safetensors": np.random.default_rng(1).bytes(512),
        "truncated.safetensors": data[: len(data) // 2],
        "no_config.safetensors": _safetensors(tensors, {}),
        "corrupt_config.safetensors": _safetensors(
            tensors, {**metadata, "config": metadata["config"][:-5]}
        ),
        "mistyped_config.safetensors": with_config(preset=7),
        "negative_width.safetensors": with_config(width=-8),
        "missing_tensor.safetensors": _safetensors(
            {k: v for k, v in tensors.items() if k != first}, metadata
        ),
        "wrong_shape.safetensors": _safetensors(
            {**tensors, first: np.zeros((3, 3), tensors[first].dtype)}, metadata
        ),
    }


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad")
    jpeg = resolve_capture("sample:lensblur").read_bytes()
    heic = resolve_capture("sample:iphone").read_bytes()
    rgb = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    plain = io.BytesIO()
    Image.fromarray(rgb).save(plain, format="JPEG")
    gif = io.BytesIO()
    Image.fromarray(rgb).save(gif, format="GIF")
    tiff = io.BytesIO()
    Image.fromarray(rgb[..., 0]).save(tiff, format="TIFF")
    photo = _png(rgb)
    files = {
        "empty.jpg": b"",
        "truncated.jpg": jpeg[: len(jpeg) // 3],
        "header_only.jpg": jpeg[:64],
        # An APP0 whose length (0xFFFF) runs past the file, then noise: seeded, since random
        # length bytes made a different (if also right) message one run in twenty.
        "garbage.jpg": b"\xff\xd8\xff\xe0\xff\xff" + np.random.default_rng(0).bytes(3000),
        "text.jpg": b"not a photo\n",
        "plain.jpg": plain.getvalue(),
        "truncated.heic": heic[:4000],
        "ftyp_only.heic": b"\x00\x00\x00\x18ftypheic" + bytes(12),
        "photo.png": photo,
        "photo.gif": gif.getvalue(),
        "truncated.png": photo[: len(photo) // 2],
        "depth.png": _png(np.full((48, 64), 120, np.uint8)),
        "tiff_named.png": tiff.getvalue(),
        "wide_depth.png": _png(np.full((10, 64), 120, np.uint8)),
        "nan.npy": _npy(np.full((48, 64), np.nan, np.float32)),
        "zero.npy": _npy(np.zeros((48, 64), np.float32)),
        "rgb.npy": _npy(np.zeros((48, 64, 3), np.float32)),
        "complex.npy": _npy(np.zeros((48, 64), np.complex64)),
        "object.npy": _npy_header("{'descr': '|O', 'fortran_order': False, 'shape': (2, 2), }"),
        "huge.npy": _npy_header(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (100000, 100000), }"
        ),
        "bad_header.npy": b"\x93NUMPY\x01\x00\x20\x00{'descr': '<f4', 'shape': (3," + b" " * 10,
        "truncated.npy": _npy(np.ones((48, 64), np.float32))[:6000],
        "depth.txt": b"1 2 3\n",
        "artifact.tflite": np.random.default_rng(2).bytes(100),
        **_checkpoints(folder),
    }
    paths = {}
    for name, data in files.items():
        paths[name] = folder / name
        paths[name].write_bytes(data)
    (folder / "results").mkdir()
    return folder, paths


def _render(capture: str, *extra: str, focus: str = "1,1") -> list[str]:
    return [
        *("render", capture, *extra, "--focus", focus, "--blur-strength", "3"),
        *("--out", "{out}/render.png"),
    ]


PAIR = ("{photo.png}", "--depth")
# (command line, words the error must contain, the file it must name or None)
CASES = [
    (["capture", "info", "{empty.jpg}"], "not a HEIC or JPEG depth capture", "empty.jpg"),
    (["capture", "info", "{truncated.jpg}"], "truncated JPEG", "truncated.jpg"),
    (["capture", "info", "{header_only.jpg}"], "truncated JPEG", "header_only.jpg"),
    (["capture", "info", "{garbage.jpg}"], "truncated JPEG", "garbage.jpg"),
    (["capture", "info", "{text.jpg}"], "not a HEIC or JPEG", "text.jpg"),
    (["capture", "info", "{plain.jpg}"], "no depth found", "plain.jpg"),
    (["capture", "info", "{truncated.heic}"], "runs past the end", "truncated.heic"),
    (["capture", "info", "{ftyp_only.heic}"], "no 'meta' box", "ftyp_only.heic"),
    (["capture", "info", "{photo.png}"], "give a depth map with --depth", "photo.png"),
    (["capture", "info", "{bad}/missing.jpg"], "No such file", "missing.jpg"),
    (["capture", "info", "{bad}"], "not a regular file", None),
    (["capture", "info", "/dev/zero"], "not a regular file", None),
    (["capture", "info", "sample:nope"], "no such sample", None),
    (["capture", "info", "{empty.jpg}", "--json"], "not a HEIC or JPEG", "empty.jpg"),
    (
        ["capture", "info", "{truncated.png}", "--depth", "{depth.png}"],
        "truncated",
        "truncated.png",
    ),
    (["capture", "info", "{photo.gif}", "--depth", "{depth.png}"], "cannot decode", "photo.gif"),
    (["capture", "info", *PAIR, "{bad}/missing.png"], "No such file", "missing.png"),
    (["capture", "info", *PAIR, "{tiff_named.png}"], "not a readable PNG", "tiff_named.png"),
    (["capture", "info", *PAIR, "{wide_depth.png}"], "aspect ratios", "wide_depth.png"),
    (["capture", "info", *PAIR, "{rgb.npy}"], "2-D real array", "rgb.npy"),
    (["capture", "info", *PAIR, "{complex.npy}"], "2-D real array", "complex.npy"),
    (["capture", "info", *PAIR, "{object.npy}"], "dtype object", "object.npy"),
    (["capture", "info", *PAIR, "{huge.npy}"], "exceeds", "huge.npy"),
    (["capture", "info", *PAIR, "{bad_header.npy}"], "NPY header", "bad_header.npy"),
    (["capture", "info", *PAIR, "{truncated.npy}"], "truncated", "truncated.npy"),
    (["capture", "info", *PAIR, "{depth.txt}"], "unsupported depth file type", "depth.txt"),
    (["capture", "info", "{photo.png}", "--depth-scale", "2"], "with --depth only", None),
    (["capture", "info", *PAIR, "{depth.png}", "--depth-scale", "nan"], "--depth-scale", None),
    (_render(*PAIR, "{nan.npy}"), "no valid disparity", "nan.npy"),
    (_render(*PAIR, "{zero.npy}"), "no valid disparity", "zero.npy"),
    (
        ["sweep", *PAIR, "{nan.npy}", "--blur-strength", "3", "--out", "{out}/sweep.mp4"],
        "no valid value",
        "nan.npy",
    ),
    (
        _render(*PAIR, "{depth.png}", focus="500,1"),
        "outside the image",
        "depth.png",  # a pair's record is named after its depth file
    ),
    (_render("{truncated.jpg}"), "truncated JPEG", "truncated.jpg"),
    (
        ["sweep", "{truncated.heic}", "--blur-strength", "3", "--out", "{out}/sweep.mp4"],
        "runs past the end",
        "truncated.heic",
    ),
    (
        [
            *("inspect", "{garbage.jpg}", "--focus", "1,1", "--blur-strength", "3"),
            *("--out", "{out}/panel.png"),
        ],
        "truncated JPEG",
        "garbage.jpg",
    ),
    (
        _render(*PAIR, "{depth.png}", "--engine", "model", "--uw", "{truncated.jpg}"),
        "cannot decode",
        "truncated.jpg",
    ),
    (
        _render(
            *PAIR, "{depth.png}", "--engine", "model", "--checkpoint", "{wrong_shape.safetensors}"
        ),
        "has shape (3, 3)",
        "wrong_shape.safetensors",
    ),
    (_render("sample:lensblur", "--uw", "{plain.jpg}"), "--engine model only", None),
    (["forward", "--checkpoint", "{random.safetensors}"], "not a readable safetensors", "random"),
    (
        ["forward", "--checkpoint", "{truncated.safetensors}"],
        "safetensors",
        "truncated.safetensors",
    ),
    (["forward", "--checkpoint", "{no_config.safetensors}"], "no config", "no_config.safetensors"),
    (["forward", "--checkpoint", "{corrupt_config.safetensors}"], "config is not valid", "corrupt"),
    (
        ["forward", "--checkpoint", "{mistyped_config.safetensors}"],
        "'preset' must be str",
        "mistyped",
    ),
    (
        ["forward", "--checkpoint", "{negative_width.safetensors}"],
        "positive multiple of 8",
        "negative",
    ),
    (["forward", "--checkpoint", "{missing_tensor.safetensors}"], "tensor(s) missing", "missing_t"),
    (["forward", "--checkpoint", "{nan.npy}"], "not a readable safetensors", "nan.npy"),
    (["forward", "--checkpoint", "{bad}"], "Is a directory", None),
    (
        [
            "export",
            "--target",
            "tflite",
            "--checkpoint",
            "{truncated.safetensors}",
            "--out",
            "{out}/e",
        ],
        "safetensors",
        "truncated.safetensors",
    ),
    (
        ["export", "--target", "tflite", "--random-weights", "--out", "{photo.png}"],
        "cannot create output folder",
        "photo.png",
    ),
    (
        [
            "export",
            "--target",
            "tflite",
            "--random-weights",
            "--formulation",
            "im2row",
            "--out",
            "{out}/e",
        ],
        "invalid choice",
        None,
    ),
    (["verify", "{bad}/missing.tflite"], "artifact not found", "missing.tflite"),
    (["verify", "{artifact.tflite}"], "no manifest beside it", "artifact.tflite"),
    (["verify", "{photo.png}"], "no manifest beside it", "photo.png"),
    (
        ["bench", "--runtimes", ",", "--work-dir", "{out}/w", "--random-weights"],
        "no runtime named",
        None,
    ),
    (
        [
            "bench",
            "--runtimes",
            "torch",
            "--checkpoint",
            "{truncated.safetensors}",
            "--work-dir",
            "{out}/w",
        ],
        "safetensors",
        "truncated.safetensors",
    ),
    (
        [
            *("bench-suite", "--suite", "nope", "--work-dir", "{out}/w", "--results", "{out}/r"),
            *("--report", "{out}/R.md", "--plots", "{out}/p"),
        ],
        "no suite 'nope'",
        None,
    ),
    (["evaluate", "--scenes", "0", "--report", "{out}/q"], "--scenes", None),
    (["train", "--steps", "0", "--out", "{out}/c.safetensors"], "--steps", None),
    (["train", "--steps", "1", "--out", "{out}/c.ckpt"], "cannot write a .ckpt", None),
    (["capture", "synth", "--size", "20000x10", "--out", "{out}/s.jpg"], "at most 16384", None),
]


def _ids():
    return [f"{index:02d}-{'-'.join(argv[:2])}" for index, (argv, _, _) in enumerate(CASES)]


def _expand(arg: str, folder: Path, paths: dict[str, Path], out: Path) -> str:
    arg = arg.replace("{out}", str(out)).replace("{bad}", str(folder))
    for name, path in paths.items():
        arg = arg.replace("{" + name + "}", str(path))
    return arg


def _snapshot(folder: Path) -> dict[str, int]:
    return {str(path): path.stat().st_size for path in folder.rglob("*") if path.is_file()}


@pytest.mark.parametrize(("argv", "words", "named"), CASES, ids=_ids())
def test_bad_input_is_one_line_naming_it_and_leaves_nothing(
    argv, words, named, bad_files, tmp_path, capsys
):
    folder, paths = bad_files
    out = tmp_path / "out"
    out.mkdir()
    before = _snapshot(folder)
    code = main([_expand(arg, folder, paths, out) for arg in argv])
    captured = capsys.readouterr()
    err = captured.err
    assert code == 1, err
    assert "Traceback" not in err
    assert err.startswith("dc2kit: error: ") and err.count("\n") == 1, err
    assert words in err
    if named is not None:
        assert named in err and str(folder) in err
    if "--json" in argv:
        assert json.loads(captured.out) == {"error": err.removeprefix("dc2kit: error: ").strip()}
    else:
        assert captured.out == ""
    assert list(out.iterdir()) == []
    assert _snapshot(folder) == before


def test_a_heic_without_depth_names_the_file(shared_file, capsys):
    path = shared_file("data/captures/iphone7_no_depth.heic")
    assert main(["capture", "info", str(path)]) == 1
    problem = "no depth or disparity image in this HEIF (not a portrait capture)"
    assert capsys.readouterr().err == f"dc2kit: error: {path}: {problem}\n"


def test_capture_info_on_a_depth_map_of_holes_only_says_so(bad_files, capsys):
    _, paths = bad_files
    argv = ["capture", "info", str(paths["photo.png"]), "--depth", str(paths["nan.npy"])]
    assert main(argv) == 0
    assert "range none (no finite value), 3072 holes" in capsys.readouterr().out
    assert main([*argv, "--json"]) == 0
    depth = json.loads(capsys.readouterr().out)["depth"]
    assert (depth["min"], depth["max"], depth["holes"]) == (None, None, 48 * 64)
