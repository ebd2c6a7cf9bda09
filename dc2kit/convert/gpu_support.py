"""Whether a .tflite can run on a phone GPU, decided from its own op list.

LiteRT's model analyzer also prints a GPU verdict, but it called our composite artifact
compatible although no GPU delegate runs `STABLEHLO_COMPOSITE(dc2kit.kernel_predict)`: its text is
kept as a second opinion, never as the answer. The answer here is: every op of subgraph 0 (the
graph a delegate is offered; a composite's decomposition is only reached through the composite
op) is one the GPU delegate parses, no tensor has more than 4 dimensions (the delegate's tensors
are BHWC), and no composite is one that no GPU delegate knows.

Per-op attribute and dtype limits are not modelled: a "GPU-delegable" verdict still wants a phone
run with `benchmark_model --use_gpu=true --require_full_delegation=true`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from dc2kit.convert.tflite_report import COMPOSITE_OP, TFLiteSubgraph

# The builtin ops the TFLite GPU delegate has a parser for: the cases of `NewOperationParser` in
# tensorflow/lite/delegates/gpu/common/model_builder.cc (TensorFlow's GPU delegate, which
# LiteRT's GPU accelerator inherits). Its switch has no case for STABLEHLO_COMPOSITE, so every
# composite falls to `UnsupportedOperationParser`. DEQUANTIZE is listed because the delegate
# folds float16 weight dequantization (`FP16GraphPartitionHelper`) and, with quantized models
# allowed, int8 too. RELU_N1_TO_1 (a clamp to [-1, 1]) is from the newer parser and from
# `CheckGpuDelegateCompatibility` in tensorflow/lite/tools/versioning/gpu_compatibility.cc, which
# accepts it unconditionally.
GPU_DELEGATE_OPS = frozenset(
    {
        "ABS", "ADD", "AVERAGE_POOL_2D", "BATCH_MATMUL", "CONCATENATION", "CONV_2D", "COS",
        "DEPTHWISE_CONV_2D", "DEQUANTIZE", "DIV", "ELU", "EXP", "FULLY_CONNECTED", "HARD_SWISH",
        "LEAKY_RELU", "LOG", "LOGISTIC", "LSTM", "MAXIMUM", "MAX_POOL_2D", "MEAN", "MINIMUM",
        "MIRROR_PAD", "MUL", "NEG", "PACK", "PAD", "POW", "PRELU", "QUANTIZE", "REDUCE_MAX",
        "REDUCE_MIN", "REDUCE_PROD", "RELU", "RELU6", "RELU_N1_TO_1", "RESHAPE", "RESIZE_BILINEAR",
        "RESIZE_NEAREST_NEIGHBOR", "RSQRT", "SIN", "SLICE", "SOFTMAX", "SPACE_TO_DEPTH",
        "SPLIT_V", "SQRT", "SQUARE", "SQUARED_DIFFERENCE", "STRIDED_SLICE", "SUB", "SUM", "TANH",
        "TRANSPOSE", "TRANSPOSE_CONV",
    }
)  # fmt: skip
# The composites LiteRT names for its own accelerators (`CompositeOptions` in LiteRT's
# litert/c/litert_op_options.h: odml.npu_call, odml.rms_norm, odml.l2_norm, odml.group_norm);
# LiteRT's GPU accelerator looks inside none other. `odml.npu_call` is an NPU partition.
GPU_COMPOSITES = frozenset({"odml.rms_norm", "odml.l2_norm", "odml.group_norm"})
MAX_GPU_RANK = 4
GPU_SOURCE = (
    "op list against TFLite GPU delegate's NewOperationParser "
    "(tensorflow/lite/delegates/gpu/common/model_builder.cc) and LiteRT's named composites"
)


@dataclass(frozen=True)
class GpuVerdict:
    """Our GPU verdict with its reasons, beside the analyzer's (`None`: it gave none)."""

    delegable: bool
    reasons: tuple[str, ...]
    analyzer_says_compatible: bool | None
    source: str = GPU_SOURCE

    @property
    def summary(self) -> str:
        if self.delegable:
            return "GPU-delegable (every op has a GPU delegate parser; confirm on a phone)"
        return "not GPU-delegable: " + "; ".join(self.reasons)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "summary": self.summary}


def _op_reasons(graph: TFLiteSubgraph) -> list[str]:
    reasons: list[str] = []
    counts: dict[str, int] = {}
    for op in graph.ops:
        counts[op.name] = counts.get(op.name, 0) + 1
    for label, count in sorted(counts.items()):
        if label.startswith(COMPOSITE_OP):
            name = label[len(COMPOSITE_OP) + 1 : -1]
            if name not in GPU_COMPOSITES:
                reasons.append(
                    f"{count}× {label}: no GPU delegate knows this composite (the TFLite GPU "
                    f"delegate parses no STABLEHLO_COMPOSITE; LiteRT's takes only "
                    f"{', '.join(sorted(GPU_COMPOSITES))}); export with --kernel-predict ops"
                )
        elif label not in GPU_DELEGATE_OPS:
            reasons.append(f"{count}× {label}: no GPU delegate parser")
    return reasons


def gpu_verdict(
    subgraphs: tuple[TFLiteSubgraph, ...], analyzer_says_compatible: bool | None = None
) -> GpuVerdict:
    """Decide GPU compatibility from subgraph 0's ops and tensor ranks."""
    graph = subgraphs[0]
    reasons = _op_reasons(graph)
    if graph.max_rank > MAX_GPU_RANK:
        reasons.append(f"a {graph.max_rank}-D tensor: GPU delegates hold at most 4-D (BHWC)")
    return GpuVerdict(not reasons, tuple(reasons), analyzer_says_compatible)
