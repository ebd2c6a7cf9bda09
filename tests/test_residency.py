"""XNNPACK residency measured by LiteRT, and our GPU verdict from the op list.

Residency runs on two tiny converted graphs that differ only in the nearest upsampling between
their convs: `F.interpolate` (RESIZE_NEAREST_NEIGHBOR, which XNNPACK does not take, so the graph
splits around it) and dc2kit's reshape/concat form (one partition).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dc2kit.convert.gpu_support import GPU_COMPOSITES, gpu_verdict
from dc2kit.convert.residency import xnnpack_residency
from dc2kit.convert.tflite_report import TFLiteOp, TFLiteSubgraph, composite_label
from dc2kit.model.layers import upsample_nearest2x


class ConvUpConv(nn.Module):
    def __init__(self, upsample) -> None:
        super().__init__()
        self.first = nn.Conv2d(3, 8, 3, padding=1)
        self.second = nn.Conv2d(8, 3, 3, padding=1)
        self.upsample = upsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.second(self.upsample(torch.relu(self.first(x))))


def _convert(upsample, path):
    import litert_torch

    torch.manual_seed(0)
    module = ConvUpConv(upsample).eval()
    with torch.no_grad():
        litert_torch.convert(module, (torch.zeros(1, 3, 8, 8),)).export(str(path))
    return path


@pytest.fixture(scope="module")
def residencies(tmp_path_factory):
    folder = tmp_path_factory.mktemp("residency")
    resize = _convert(
        lambda x: F.interpolate(x, scale_factor=2.0, mode="nearest"), folder / "resize.tflite"
    )
    reshaped = _convert(upsample_nearest2x, folder / "reshaped.tflite")
    return xnnpack_residency(resize), xnnpack_residency(reshaped)


def test_a_resize_nearest_splits_the_graph_and_is_left_to_the_interpreter(residencies):
    resize, _ = residencies
    assert resize.undelegated == {"RESIZE_NEAREST_NEIGHBOR": 1}
    assert resize.undelegated_ops == 1 and resize.delegated_ops > 0
    assert resize.partitions == 2  # the convs before and after it
    assert not resize.fully_accelerated and not resize.complete
    assert resize.as_placement()["delegates"] == [
        {
            "delegate": "XNNPACK",
            "delegated_nodes": resize.delegated_ops,
            "undelegated_nodes": 1,
            "partitions": 2,
        }
    ]


def test_the_reshape_form_is_one_complete_partition(residencies):
    _, reshaped = residencies
    assert (reshaped.partitions, reshaped.undelegated_ops, reshaped.undelegated) == (1, 0, {})
    assert reshaped.fully_accelerated and reshaped.complete
    assert reshaped.to_dict()["delegate"] == "XNNPACK"


def _graph(*labels: str, max_rank: int = 4) -> tuple[TFLiteSubgraph, ...]:
    ops = tuple(TFLiteOp(label, (), ()) for label in labels)
    return (TFLiteSubgraph(0, "main", (), (), ops, max_rank),)


def test_gpu_verdict_refuses_an_unknown_composite_with_its_reason_whatever_the_analyzer_says():
    verdict = gpu_verdict(_graph("CONV_2D", composite_label("dc2kit.kernel_predict")), True)
    assert not verdict.delegable and verdict.analyzer_says_compatible is True
    assert verdict.summary.startswith("not GPU-delegable: 1× STABLEHLO_COMPOSITE(dc2kit.")
    assert "--kernel-predict ops" in verdict.summary


def test_gpu_verdict_accepts_plain_ops_and_litert_named_composites():
    named = composite_label(sorted(GPU_COMPOSITES)[0])
    verdict = gpu_verdict(_graph("SLICE", "MUL", "ADD", "CONCATENATION", "CONV_2D", named))
    assert verdict.delegable and verdict.reasons == ()
    assert verdict.to_dict()["summary"].startswith("GPU-delegable")


@pytest.mark.parametrize(
    ("labels", "rank", "reason"),
    [(("GATHER_ND",), 4, "1× GATHER_ND: no GPU delegate parser"), (("ADD",), 5, "a 5-D tensor")],
)
def test_gpu_verdict_names_unparsed_ops_and_high_ranks(labels, rank, reason):
    verdict = gpu_verdict(_graph(*labels, max_rank=rank))
    assert not verdict.delegable
    assert reason in verdict.summary
