"""`android-*` runtimes of `dc2kit bench`: skipped with a reason without a phone, a schema row from
recorded `benchmark_model` output with one (tests/data/phone: written in the tool's format, not
recordings of a dc2kit run; see its README)."""

import json
from pathlib import Path

import pytest
from phone_fakes import fake_adb

from dc2kit.bench.errors import BenchError
from dc2kit.bench.harness import run_benchmarks
from dc2kit.bench.phone.runtime import DeviceSettings
from dc2kit.bench.registry import RUNTIMES
from dc2kit.bench.results import Measurement, append_results, read_results
from dc2kit.bench.runtimes import Workload
from dc2kit.cli import main
from dc2kit.model.builder import WeightsChoice, resolve_weights

DATA = Path(__file__).parent / "data" / "phone"
TINY = (64, 96)
RANDOM = WeightsChoice.random(0)
NPU_LOG = "tflite_npu.txt"
QUICK = {"runs": 50, "seconds": 0.0, "warmup": 5, "weights": RANDOM}


def _cached_artifact(tmp_path: Path, runtime: str) -> Path:
    """A placeholder in the bench cache: the fake adb never reads the model it is pushed, so the
    test needs no conversion."""
    workload = Workload("mobile", *TINY, threads=4, weights=resolve_weights("mobile", RANDOM))
    artifact = RUNTIMES[runtime].artifact_path(workload, tmp_path)
    artifact.parent.mkdir(parents=True, exist_ok=True)
    artifact.write_bytes(b"placeholder")
    return artifact


def test_runtimes_are_registered_beside_the_host_ones():
    assert {"android-cpu", "android-gpu", "android-npu", "tflite-fp32-lowmem"} <= set(RUNTIMES)


def test_without_a_phone_every_android_runtime_skips_with_the_reason(tmp_path):
    device = DeviceSettings(adb=str(fake_adb(tmp_path, "List of devices attached\n")))
    results = run_benchmarks(
        "mobile", TINY, ["android-cpu", "android-npu"], 4, work_dir=tmp_path, device=device, **QUICK
    )
    for measurement in results:
        assert measurement.timings is None
        assert measurement.notes == (
            "skipped: no Android device attached (adb devices lists none)",
        )
    assert not (tmp_path / "tflite").exists()  # nothing exported for a runtime that cannot run


def test_cli_without_adb_skips_android_npu_with_the_reason(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # no adb here
    out = tmp_path / "rows.json"
    args = ["bench", "--runtimes", "android-npu", "--size", "96x64", "--random-weights"]
    assert main([*args, "--work-dir", str(tmp_path / "cache"), "--json", str(out)]) == 0
    (row,) = json.loads(out.read_text())
    assert row["timings"] is None
    assert row["notes"] == ["skipped: 'adb' is not on PATH: install Android platform-tools"]
    assert "not on PATH" in capsys.readouterr().out


def test_recorded_npu_output_becomes_a_schema_row_with_residency(tmp_path):
    artifact = _cached_artifact(tmp_path, "android-npu")
    adb = fake_adb(tmp_path, "List of devices attached\nR5CW\tdevice\n", NPU_LOG)
    qnn = tmp_path / "libQnnTFLiteDelegate.so"
    qnn.write_bytes(b"")
    device = DeviceSettings(
        adb=str(adb), benchmark_binary="benchmark_model", npu_libraries=(str(qnn),)
    )
    (row,) = run_benchmarks(
        "mobile", TINY, ["android-npu"], 4, work_dir=tmp_path, device=device, **QUICK
    )
    assert (row.suite, row.runtime, row.source) == ("phone", "android-npu", "phone")
    assert row.config["preset"] == "mobile" and (row.config["height"], row.config["width"]) == TINY
    assert row.config["require_full_delegation"] is True
    t = row.timings
    assert (t.warmup, t.runs) == (5, 50)
    assert (t.mean_ms, t.p50_ms, t.first_ms) == pytest.approx((18.1204, 18.052, 31.562))
    assert (t.load_ms, t.min_ms) == pytest.approx((1841.2, 17.815))
    assert row.peak_rss_mb == pytest.approx(96.4375)
    assert row.placement == {
        "delegates": [
            {
                "delegate": "TfLiteQnnDelegate",
                "delegated_nodes": 1203,
                "undelegated_nodes": 0,
                "partitions": 1,
            }
        ]
    }
    assert row.provenance["device_model"] == "SM-S911B"
    assert "--require_full_delegation=true" in row.provenance["device_command"]
    calls = [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]
    pushed = [call[-2] for call in calls if call[0] == "push"]
    assert pushed == [str(artifact), "benchmark_model", str(qnn)]
    results = tmp_path / "rows.jsonl"
    append_results(results, [row])
    assert read_results(results) == [row]
    assert isinstance(row, Measurement)


def test_cpu_fallback_on_an_accelerator_is_an_error_not_a_row(tmp_path):
    _cached_artifact(tmp_path, "android-npu")
    adb = fake_adb(tmp_path, "List of devices attached\nR5CW\tdevice\n", "tflite_gpu_fallback.txt")
    device = DeviceSettings(
        adb=str(adb), benchmark_binary="b", npu_libraries=("x/libQnnTFLiteDelegate.so",)
    )
    with pytest.raises(BenchError, match=r"^android-npu: benchmark_model refused"):
        run_benchmarks(
            "mobile", TINY, ["android-npu"], 4, work_dir=tmp_path, device=device, **QUICK
        )


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({}, "pass --benchmark-model PATH"),
        ({"benchmark_binary": "b"}, "an NPU run needs the vendor libraries"),
    ],
)
def test_a_phone_run_without_its_tools_is_a_one_line_error(tmp_path, settings, message):
    _cached_artifact(tmp_path, "android-npu")
    adb = fake_adb(tmp_path, "List of devices attached\nR5CW\tdevice\n", NPU_LOG)
    device = DeviceSettings(adb=str(adb), **settings)
    with pytest.raises(BenchError, match=message):
        run_benchmarks(
            "mobile", TINY, ["android-npu"], 4, work_dir=tmp_path, device=device, **QUICK
        )


def test_gpu_runs_the_plain_ops_artifact_and_refuses_composites(tmp_path):
    from dc2kit.bench.micro_op import export_kernel_predict_tflite

    workload = Workload("mobile", *TINY, threads=4, weights=resolve_weights("mobile", RANDOM))
    gpu = RUNTIMES["android-gpu"].artifact_path(workload, tmp_path)
    assert gpu.name.endswith("-fp32-ops.tflite")
    # The CPU runs what `export` ships (tflite-fp32's cache entry), the NPU the composite one.
    for android, host in (("cpu", "tflite-fp32"), ("npu", "tflite-fp32-composite")):
        path = RUNTIMES[f"android-{android}"].artifact_path(workload, tmp_path)
        assert path == RUNTIMES[host].artifact_path(workload, tmp_path)
    assert RUNTIMES["android-cpu"].artifact_path(workload, tmp_path) == gpu
    assert RUNTIMES["android-npu"].describe()["kernel_predict"] == "composite"
    assert RUNTIMES["android-gpu"].describe()["kernel_predict"] == "ops"
    # A cache entry holding a composite (here the op alone) is refused, not timed on the CPU.
    gpu.parent.mkdir(parents=True)
    export_kernel_predict_tflite(gpu, 3, "shift", 8, 8)
    adb = fake_adb(tmp_path, "List of devices attached\nR5CW\tdevice\n", "tflite_gpu.txt")
    device = DeviceSettings(adb=str(adb), benchmark_binary="benchmark_model")
    with pytest.raises(BenchError, match=r"dc2kit\.kernel_predict.*no GPU delegate runs"):
        run_benchmarks(
            "mobile", TINY, ["android-gpu"], 4, work_dir=tmp_path, device=device, **QUICK
        )
