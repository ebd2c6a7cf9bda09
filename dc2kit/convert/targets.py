"""What an export can be asked for, defined once: targets, precisions, gates, formulations.

Plain data with no heavy imports, so the command line and reports can offer the same choices without
loading torch or a converter. The exporters (`coreml`, `tflite`), the orchestration (`export`),
the parity gate and the formulation check all read these.
"""

from typing import Literal

Target = Literal["coreml", "tflite"]
Precision = Literal["fp32", "fp16", "int8", "w8a8"]
KernelPredictLowering = Literal["composite", "ops"]
OutputSet = Literal["image", "all"]  # the final image only, or every scale's outputs too

TARGETS: tuple[Target, ...] = ("coreml", "tflite")
PRECISIONS: dict[Target, tuple[Precision, ...]] = {
    "coreml": ("fp32", "fp16"),
    "tflite": ("fp32", "fp16", "int8", "w8a8"),  # w8a8: full-integer, calibrated
}
OUTPUT_SETS: tuple[OutputSet, ...] = ("image", "all")
SUFFIXES: dict[Target, str] = {"coreml": ".mlpackage", "tflite": ".tflite"}
GATES_DB: dict[Precision, float] = {  # minimum PSNR
    "fp32": 80.0,
    "fp16": 45.0,
    "int8": 30.0,
    "w8a8": 30.0,
}
# `reference` (unfold and a replicate-mode pad) has no portable lowering; see wrap.py.
EXPORTABLE_FORMULATIONS: tuple[str, ...] = ("shift", "im2col")
# What `export` and `bench` use unless asked: convolutions, which delegates run best (the mobile
# preset's TFLite at 512×384 on XNNPACK: 367 ms against 448 ms with `shift`; benchmarks/REPORT.md).
DEFAULT_FORMULATION = "im2col"
# TFLite: each kernel-prediction call as one named composite (for NPU compilers) or as plain ops
# (what XNNPACK and the GPU delegates run whole); see tflite_lowering.py.
KERNEL_PREDICT_LOWERINGS: tuple[KernelPredictLowering, ...] = ("composite", "ops")
# What `export` ships unless asked otherwise: plain ops, so CPU and GPU delegates take the whole
# graph (the composite artifact is published beside it for NPU compilers).
DEFAULT_KERNEL_PREDICT: KernelPredictLowering = "ops"
# w8a8 quantizes plain ops only: the quantizer leaves a composite and its decomposition float.
W8A8_KERNEL_PREDICT: KernelPredictLowering = "ops"
# The TFLite precisions each lowering can be built in (export refuses the others).
LOWERING_PRECISIONS: dict[KernelPredictLowering, tuple[Precision, ...]] = {
    lowering: tuple(
        p for p in PRECISIONS["tflite"] if p != "w8a8" or lowering == W8A8_KERNEL_PREDICT
    )
    for lowering in KERNEL_PREDICT_LOWERINGS
}
# `--app-io` graphs take 8-bit photos; w8a8's calibration set holds the model's own inputs.
APP_IO_PRECISIONS: dict[Target, tuple[Precision, ...]] = {
    target: tuple(p for p in PRECISIONS[target] if p != "w8a8") for target in TARGETS
}
