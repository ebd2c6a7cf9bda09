"""Why w8a8 does not speed up the mobile preset on XNNPACK: int8 pays only on wide layers.

Six 3×3 convolutions with LeakyReLU, C channels in and out, at 512×384, converted by litert-torch
and quantized by dc2kit's own w8a8 (static, calibrated) and int8 (dynamic-range) paths, timed in
LiteRT's interpreter with XNNPACK (p50 of 15 runs after 3 warm-ups). The mobile preset's refiners
are 4–32 channels wide, the paper preset's 32–256.

    .venv/bin/python benchmarks/probes/int8_by_width.py [C ...]   # default 4 8 16 32 64

Prints one line per width; `int8_by_width.txt` beside this file is its committed output.
"""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from dc2kit.convert.quantize import CalibrationSet, quantize_w8a8
from dc2kit.convert.tflite import convert_module
from dc2kit.convert.tflite_quantize import quantize_flatbuffer

HEIGHT, WIDTH, LAYERS, THREADS = 384, 512, 6, 2
SIGNATURE = "render"


class ConvStack(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        torch.manual_seed(0)
        layers: list[nn.Module] = []
        for _ in range(LAYERS):
            layers += [nn.Conv2d(channels, channels, 3, padding=1), nn.LeakyReLU(0.1)]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def _sample(channels: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, (1, channels, HEIGHT, WIDTH)).astype(np.float32)


def _p50_ms(path: Path, channels: int) -> float:
    from ai_edge_litert.interpreter import Interpreter

    run = Interpreter(model_path=str(path), num_threads=THREADS).get_signature_runner(SIGNATURE)
    x = _sample(channels, 100)
    for _ in range(3):
        run(x=x)
    times = []
    for _ in range(15):
        start = time.perf_counter()
        run(x=x)
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1e3)


def probe(channels: int, folder: Path) -> str:
    sample = {"x": torch.from_numpy(_sample(channels, 0))}
    calibration = CalibrationSet(tuple({"x": _sample(channels, s)} for s in range(1, 5)))
    with contextlib.redirect_stdout(io.StringIO()):  # the converter's progress lines
        fp32 = convert_module(ConvStack(channels).eval(), sample, SIGNATURE, folder / "fp32.tflite")
        artifacts = {
            "fp32": fp32,
            "w8a8": quantize_w8a8(fp32, calibration, SIGNATURE, folder / "w8a8.tflite"),
            "int8": quantize_flatbuffer(fp32, "int8", folder / "int8.tflite"),
        }
    times = {}
    for name, flatbuffer in artifacts.items():
        path = folder / f"{name}.tflite"
        path.write_bytes(flatbuffer)
        times[name] = _p50_ms(path, channels)
    gmac = LAYERS * 9 * channels**2 * HEIGHT * WIDTH / 1e9
    speedups = {name: times["fp32"] / times[name] for name in ("w8a8", "int8")}
    return (
        f"C={channels:3d}  {gmac:5.2f} GMAC  fp32 {times['fp32']:6.1f} ms  "
        f"w8a8 {times['w8a8']:6.1f} ms ({speedups['w8a8']:.2f}x)  "
        f"int8 {times['int8']:6.1f} ms ({speedups['int8']:.2f}x)"
    )


def main(widths: list[int]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        for channels in widths:
            print(probe(channels, Path(folder)), flush=True)


if __name__ == "__main__":
    main([int(arg) for arg in sys.argv[1:]] or [4, 8, 16, 32, 64])
