"""Phone runners: adb command lines, parsing of recorded `benchmark_model` output, Core ML setup."""

import json
import os
import sys
import textwrap
from pathlib import Path

import pytest
from phone_fakes import fake_adb

from dc2kit.bench.phone import (
    AndroidRunner,
    BenchmarkRun,
    DelegationError,
    IOSRunner,
    PhoneBenchmarkError,
    PhoneUnavailable,
    PlannedOp,
    coreml_configurations,
    parse_adb_devices,
    parse_benchmark_model,
    parse_getprop,
    read_benchmark_output,
    summarize_plan,
)
from dc2kit.bench.results import Measurement

DATA = Path(__file__).parent / "data" / "phone"
DIR = "/data/local/tmp/dc2kit"


def _log(name: str) -> str:
    return (DATA / name).read_text()


# ------------------------------------------------------------------------------ command lines


def test_cpu_commands_are_exact():
    runner = AndroidRunner(serial="R5CW12ABCDE")
    commands = runner.commands(
        "out/dc2.tflite",
        "tools/benchmark_model",
        BenchmarkRun(threads=4, accelerator="cpu", runs=50, warmup=5),
    )
    adb = ["adb", "-s", "R5CW12ABCDE"]
    assert commands == [
        [*adb, "shell", "mkdir", "-p", DIR],
        [*adb, "push", "out/dc2.tflite", f"{DIR}/dc2.tflite"],
        [*adb, "push", "tools/benchmark_model", f"{DIR}/benchmark_model"],
        [*adb, "shell", "chmod", "+x", f"{DIR}/benchmark_model"],
        [
            *adb,
            "shell",
            f"{DIR}/benchmark_model",
            f"--graph={DIR}/dc2.tflite",
            "--num_threads=4",
            "--use_xnnpack=true",
            "--num_runs=50",
            "--warmup_runs=5",
        ],
    ]


def test_gpu_commands_forbid_cpu_fallback():
    commands = AndroidRunner().commands(
        "dc2.tflite", "benchmark_model", BenchmarkRun(threads=2, runs=100, warmup=10)
    )
    assert commands[0] == ["adb", "shell", "mkdir", "-p", DIR]
    assert commands[-1] == [
        "adb",
        "shell",
        f"{DIR}/benchmark_model",
        f"--graph={DIR}/dc2.tflite",
        "--num_threads=2",
        "--use_gpu=true",
        "--require_full_delegation=true",
        "--num_runs=100",
        "--warmup_runs=10",
    ]


def test_npu_commands_push_and_load_the_qnn_delegate():
    libraries = ["qnn/libQnnTFLiteDelegate.so", "qnn/libQnnHtp.so", "qnn/libQnnHtpV73Skel.so"]
    commands = AndroidRunner(serial="S1").commands(
        "dc2.tflite",
        "benchmark_model",
        BenchmarkRun(
            threads=1,
            accelerator="npu",
            runs=20,
            warmup=3,
            npu_libraries=libraries,
            peak_memory=True,
        ),
    )
    pushes = [c[4:] for c in commands if c[3] == "push"]
    assert pushes == [
        ["dc2.tflite", f"{DIR}/dc2.tflite"],
        ["benchmark_model", f"{DIR}/benchmark_model"],
        *([lib, f"{DIR}/{Path(lib).name}"] for lib in libraries),
    ]
    assert commands[-1] == [
        "adb",
        "-s",
        "S1",
        "shell",
        f"LD_LIBRARY_PATH={DIR}",
        f"ADSP_LIBRARY_PATH={DIR}",
        f"{DIR}/benchmark_model",
        f"--graph={DIR}/dc2.tflite",
        "--num_threads=1",
        f"--external_delegate_path={DIR}/libQnnTFLiteDelegate.so",
        "--external_delegate_options=backend_type:htp",
        "--require_full_delegation=true",
        "--num_runs=20",
        "--warmup_runs=3",
        "--report_peak_memory_footprint=true",
    ]


def test_litert_tool_flags_per_accelerator():
    runner = AndroidRunner(tool="litert", device_dir="/data/local/tmp/x")

    def flags(accelerator, **kwargs):
        libs = ["libLiteRtDispatch_Qualcomm.so"] if accelerator == "npu" else []
        argv = runner.commands(
            "m.tflite", "bm", BenchmarkRun(accelerator=accelerator, npu_libraries=libs, **kwargs)
        )
        return argv[-1][argv[-1].index("--num_threads=4") + 1 : -2]

    assert flags("cpu") == ["--use_cpu=true"]
    assert flags("gpu") == ["--use_cpu=false", "--use_gpu=true", "--require_full_delegation=true"]
    assert flags("gpu", require_full_delegation=False) == ["--use_gpu=true"]
    assert flags("npu") == [
        "--use_cpu=false",
        "--use_npu=true",
        "--dispatch_library_path=/data/local/tmp/x",
        "--compiler_plugin_library_path=/data/local/tmp/x",
        "--require_full_delegation=true",
    ]


def test_npu_without_vendor_libraries_is_refused():
    with pytest.raises(ValueError, match="vendor libraries"):
        BenchmarkRun(accelerator="npu")
    with pytest.raises(ValueError, match=r"libQnnTFLiteDelegate\.so"):
        AndroidRunner().commands(
            "m.tflite", "bm", BenchmarkRun(accelerator="npu", npu_libraries=["libQnnHtp.so"])
        )


# ---------------------------------------------------------------------------------- parsing


def test_parse_cpu_log_into_the_schema():
    measurement = parse_benchmark_model(
        _log("tflite_cpu.txt"),
        accelerator="cpu",
        config={"preset": "mobile", "threads": 4},
        device=parse_getprop(_log("getprop.txt")),
    )
    t = measurement.timings
    assert (measurement.source, measurement.suite, measurement.runtime) == (
        "phone",
        "phone",
        "android-cpu",
    )
    assert t.load_ms == pytest.approx(212.418)
    assert t.first_ms == pytest.approx(498.213)
    assert (t.warmup, t.runs) == (5, 50)
    assert t.mean_ms == pytest.approx(402.3456)
    assert t.min_ms == pytest.approx(395.204)
    assert t.p50_ms == pytest.approx(400.871)
    assert t.p90_ms is None and t.trimmed_mean_ms is None  # never printed, never invented
    assert measurement.peak_rss_mb == pytest.approx(187.426)
    assert any("not a peak" in note for note in measurement.notes)
    assert measurement.config == {"accelerator": "cpu", "preset": "mobile", "threads": 4}
    assert measurement.provenance["device_model"] == "SM-S911B"
    assert measurement.provenance["cpu_model"] == "SM8550"
    assert measurement.provenance["os"] == "Android 14"
    # The result survives the JSON-lines round trip the reports use.
    assert Measurement.from_dict(json.loads(measurement.to_json())) == measurement


def test_parse_gpu_log_into_the_schema():
    measurement = parse_benchmark_model(_log("tflite_gpu.txt"), accelerator="gpu")
    t = measurement.timings
    assert measurement.runtime == "android-gpu"
    assert t.load_ms == pytest.approx(1842.07)
    assert t.first_ms == pytest.approx(131.208)
    assert (t.warmup, t.runs) == (9, 50)  # the tool ran past --warmup_runs=5 to fill 0.5 s
    assert t.mean_ms == pytest.approx(59.0325)
    assert t.min_ms == pytest.approx(57.913)
    assert t.p50_ms == pytest.approx(58.806)
    assert measurement.peak_rss_mb == pytest.approx(171.543)  # the periodic peak, not the delta
    assert "TfLiteGpuDelegateV2: 1203 of 1203 nodes on gpu" in measurement.notes
    assert any("max 63.488 ms" in note and "p95 61.597 ms" in note for note in measurement.notes)


def test_read_warmup_statistics_agree_with_the_summary_line():
    output = read_benchmark_output(_log("tflite_gpu.txt"))
    assert output.warmup_mean_ms == pytest.approx(67.1042)
    assert (output.max_ms, output.std_ms, output.p5_ms, output.p95_ms) == pytest.approx(
        (63.488, 1.041, 58.011, 61.597)
    )


def test_parse_litert_compiled_model_log():
    measurement = parse_benchmark_model(_log("litert_gpu.txt"), accelerator="gpu")
    t = measurement.timings
    assert t.load_ms == pytest.approx(1611.35)
    assert t.first_ms == pytest.approx(97.411)  # the µs statistics beat the rounded ms block
    assert (t.warmup, t.runs) == (10, 50)
    assert t.mean_ms == pytest.approx(52.5037)
    assert t.min_ms == pytest.approx(51.688)
    assert measurement.peak_rss_mb == pytest.approx(158.27)
    assert "LITERT_CL: 1203 of 1203 nodes on gpu" in measurement.notes


def test_litert_summary_block_alone_is_enough():
    block = "\n".join(line for line in _log("litert_gpu.txt").splitlines() if "count=" not in line)
    t = parse_benchmark_model(block, accelerator="gpu").timings
    assert (t.first_ms, t.mean_ms, t.min_ms, t.warmup, t.runs) == pytest.approx(
        (97.41, 52.50, 51.69, 10, 50)
    )
    assert t.p50_ms is None


def test_logcat_prefixes_and_old_format_are_read():
    log = textwrap.dedent(
        """\
        05-31 10:38:43.101 22206 22206 I tflite  : count=1 curr=3512391
        05-31 10:38:46.713 22206 22206 I tflite  : count=50 first=2990275 curr=2913402 min=2727568 max=3189954 avg=2.95034e+06 std=109798
        05-31 10:38:46.713 22206 22206 I tflite  : Inference timings in us: Init: 17187, First inference: 3512391, Warmup (avg): 3.51239e+06, Inference (avg): 2.95034e+06
        05-31 10:38:46.714 22206 22206 I tflite  : Peak memory footprint (MB): init=4.21094 overall=46.0859
        """  # noqa: E501
    )
    t = parse_benchmark_model(log, accelerator="cpu").timings
    assert t.mean_ms == pytest.approx(2950.34)
    assert t.first_ms == pytest.approx(3512.391)
    assert (t.warmup, t.runs) == (1, 50)
    assert t.p50_ms is None  # this build prints no median


def test_delegation_failure_is_a_clear_error_not_cpu_numbers():
    with pytest.raises(DelegationError, match="Disallowed CPU fallback detected"):
        parse_benchmark_model(_log("tflite_gpu_fallback.txt"), accelerator="gpu")


def test_delegate_that_takes_nothing_is_refused_even_without_the_flag():
    log = _log("tflite_gpu.txt").replace(
        "INFO: Explicitly applied GPU delegate, and the model graph will be completely executed "
        "by the delegate.",
        "INFO: Though GPU delegate is explicitly applied, the model graph will not be executed "
        "by the delegate.",
    )
    with pytest.raises(DelegationError, match="CPU numbers labelled gpu"):
        parse_benchmark_model(log, accelerator="gpu", require_full_delegation=False)


def test_qnn_delegate_taking_no_nodes_is_refused():
    log = _log("tflite_cpu.txt").replace(
        "INFO: XNNPACK delegate created.",
        "INFO: EXTERNAL delegate created.\n"
        "INFO: TfLiteQnnDelegate delegate: 0 nodes delegated out of 1203 nodes with 0 partitions.",
    )
    with pytest.raises(DelegationError, match="took no nodes"):
        parse_benchmark_model(log, accelerator="npu", require_full_delegation=False)


def test_partial_delegation_is_labelled_when_allowed():
    log = _log("tflite_gpu.txt").replace("Replacing 1203 out of", "Replacing 1187 out of")
    with pytest.raises(DelegationError, match="partial"):
        parse_benchmark_model(log, accelerator="gpu")
    measurement = parse_benchmark_model(log, accelerator="gpu", require_full_delegation=False)
    assert measurement.runtime == "android-gpu+cpu"


def test_failed_run_without_timings_raises():
    with pytest.raises(PhoneBenchmarkError, match="exit status 1"):
        parse_benchmark_model(
            "INFO: STARTING!\nERROR: Benchmarking failed.\n", accelerator="cpu", returncode=1
        )
    with pytest.raises(PhoneBenchmarkError, match="no inference timings"):
        parse_benchmark_model("INFO: STARTING!\n", accelerator="cpu")


def test_adb_devices_and_getprop():
    listing = (
        "* daemon started successfully\nList of devices attached\nR5CW\tdevice\nXYZ\tunauthorized\n"
    )
    assert parse_adb_devices(listing) == {"R5CW": "device", "XYZ": "unauthorized"}
    assert parse_getprop(_log("getprop.txt")) == {
        "device_model": "SM-S911B",
        "manufacturer": "samsung",
        "soc_model": "SM8550",
        "android_release": "14",
    }


# ------------------------------------------------------------------------- running, or not


def test_no_adb_is_a_skip_reason():
    with pytest.raises(PhoneUnavailable, match="not on PATH") as raised:
        AndroidRunner(adb="adb-that-does-not-exist").run("m.tflite", "benchmark_model")
    assert "platform-tools" in raised.value.reason


def test_run_executes_the_commands_and_records_the_phone(tmp_path):
    adb = fake_adb(tmp_path, "List of devices attached\nR5CW\tdevice\n")
    runner = AndroidRunner(serial="R5CW", adb=str(adb))
    measurement = runner.run("dc2.tflite", "benchmark_model", config={"h": 384})
    calls = [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]
    expected = runner.commands("dc2.tflite", "benchmark_model", BenchmarkRun(accelerator="gpu"))
    assert calls[0] == ["devices"]
    assert [
        [str(adb), *call] for call in calls if call != ["devices"] and call[-1] != "getprop"
    ] == (expected)
    assert measurement.timings.mean_ms == pytest.approx(59.0325)
    assert measurement.provenance["device_model"] == "SM-S911B"
    assert measurement.provenance["device_command"].endswith("--warmup_runs=5")
    assert measurement.config["model"] == "dc2.tflite" and measurement.config["h"] == 384


@pytest.mark.parametrize(
    ("listing", "serial", "reason"),
    [
        ("List of devices attached\n", None, "no Android device attached"),
        ("List of devices attached\nR5CW\tunauthorized\n", None, r"R5CW \(unauthorized\)"),
        ("List of devices attached\nA\tdevice\nB\tdevice\n", None, "several Android devices"),
        ("List of devices attached\nA\tdevice\n", "B", "B is not attached"),
    ],
)
def test_missing_device_is_a_skip_reason(tmp_path, listing, serial, reason):
    adb = fake_adb(tmp_path, listing)
    with pytest.raises(PhoneUnavailable, match=reason):
        AndroidRunner(serial=serial, adb=str(adb)).check()


def test_real_android_run_or_skip():
    """Runs on a phone when one is attached and DC2KIT_TFLITE/DC2KIT_BENCHMARK_MODEL are set."""
    model, binary = os.environ.get("DC2KIT_TFLITE"), os.environ.get("DC2KIT_BENCHMARK_MODEL")
    runner = AndroidRunner(serial=os.environ.get("ANDROID_SERIAL"))
    try:
        runner.check()
    except PhoneUnavailable as unavailable:
        pytest.skip(unavailable.reason)
    if not (model and binary):
        pytest.skip("set DC2KIT_TFLITE and DC2KIT_BENCHMARK_MODEL to benchmark on the phone")
    measurement = runner.run(model, binary, BenchmarkRun(accelerator="cpu", runs=10, warmup=2))
    assert measurement.source == "phone" and measurement.timings.mean_ms > 0


# ----------------------------------------------------------------------------------- Core ML


def test_coreml_configurations():
    assert [(c.compute_units, c.runtime) for c in coreml_configurations()] == [
        ("CPU_ONLY", "coreml-cpu"),
        ("CPU_AND_GPU", "coreml-gpu"),
        ("CPU_AND_NE", "coreml-ne"),
        ("ALL", "coreml-all"),
    ]
    with pytest.raises(ValueError, match="unknown compute units"):
        coreml_configurations(["NE_ONLY"])


def test_compute_plan_summary_counts_ops_per_device():
    plan = [
        PlannedOp("conv", "ne", 0.40),
        PlannedOp("conv", "ne", 0.35),
        PlannedOp("leaky_relu", "ne", 0.05),
        PlannedOp("gather_nd", "cpu", 0.15),
        PlannedOp("gather_nd", "cpu", 0.04),
        PlannedOp("concat", "gpu", 0.01),
        PlannedOp("reshape", None),
    ]
    summary = summarize_plan(plan)
    assert summary.ops == {"ne": 3, "cpu": 2, "gpu": 1, "unknown": 1}
    assert summary.cost_share == pytest.approx({"ne": 0.80, "cpu": 0.19, "gpu": 0.01})
    assert summary.cpu_operators == {"gather_nd": 2}
    assert summary.describe().startswith("compute plan: 3 on ne, 2 on cpu, 1 on gpu, 1 on unknown")


@pytest.mark.skipif(sys.platform == "darwin", reason="checks the non-macOS refusal")
def test_coreml_run_off_macos_is_a_skip_reason():
    with pytest.raises(PhoneUnavailable, match="Core ML runs only on macOS") as raised:
        IOSRunner().run("dc2.mlpackage", {})
    assert sys.platform in raised.value.reason


def test_accelerated_core_ml_units_with_cpu_ops_are_refused():
    from dc2kit.bench.phone.coreml import check_full_residency

    mixed = summarize_plan([PlannedOp("conv", "ne", 0.9), PlannedOp("gather_nd", "cpu", 0.1)])
    for units in ("CPU_AND_NE", "CPU_AND_GPU"):
        with pytest.raises(DelegationError, match=r"plans 1 ops on the CPU \(gather_nd x1\)"):
            check_full_residency(mixed, units)
    check_full_residency(mixed, "ALL")  # ALL and CPU_ONLY promise no accelerator
    check_full_residency(summarize_plan([PlannedOp("conv", "ne", 1.0)]), "CPU_AND_NE")
