"""The kernel-prediction op under test: its seeded inputs, and a TFLite module holding only it.

The TFLite module is one `dc2kit.kernel_predict` composite around its decomposition, converted
once per (formulation, k, size, graph code) and cached in a work dir, so a measuring child only
loads it. The graph code (`runtimes.graph_code_fingerprint`, pinned once per run) is in the file
name: an entry converted from older sources is never measured as today's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dc2kit.bench.runtimes import check_sources_unchanged

IMAGE_CHANNELS = 3


def make_inputs(k: int, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded image (1, 3, H, W) and kernels (1, k², H, W), float32."""
    rng = np.random.default_rng(0)
    image = rng.standard_normal((1, IMAGE_CHANNELS, height, width), dtype=np.float32)
    kernels = rng.standard_normal((1, k * k, height, width), dtype=np.float32) / (k * k)
    return image, kernels


def export_kernel_predict_tflite(
    path: str | Path, k: int, formulation: str, width: int, height: int
) -> Path:
    """Convert the op alone, as one `dc2kit.kernel_predict` composite, to a .tflite at `path`."""
    import litert_torch
    import torch
    from torch import nn

    from dc2kit.atomic import atomic_output
    from dc2kit.convert.tflite import CompositeKernelPredict

    class KernelPredictOnly(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.op = CompositeKernelPredict(k, formulation)

        def forward(self, image: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
            return self.op(image, kernels)

    sample = tuple(torch.from_numpy(a) for a in make_inputs(k, width, height))
    with torch.no_grad():
        flatbuffer = litert_torch.convert(KernelPredictOnly().eval(), sample).model_content()
    path = Path(path)
    with atomic_output(path) as temporary:
        temporary.write_bytes(flatbuffer)
    return path


def cached_tflite(
    work_dir: Path, k: int, formulation: str, width: int, height: int, graph_code: str
) -> Path:
    """The op-only .tflite for this configuration, converted on first use from the sources
    `graph_code` names (refused if they changed since it was pinned)."""
    path = work_dir / f"kernel_predict_{formulation}_k{k}_{width}x{height}-code{graph_code}.tflite"
    if not path.exists():
        check_sources_unchanged(graph_code)
        work_dir.mkdir(parents=True, exist_ok=True)
        export_kernel_predict_tflite(path, k, formulation, width, height)
    return path
