"""The benchmark harness: its statistics, its child-process protocol and its results' schema.

No test asserts a timing: only formulas, provenance, isolation and what gets recorded.
"""

import json
import resource
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from dc2kit.bench.errors import BenchError
from dc2kit.bench.harness import BenchProgress, Job, run_benchmarks
from dc2kit.bench.memory import BASELINE_NOTE
from dc2kit.bench.registry import RUNTIMES
from dc2kit.bench.results import LOAD_END, LOAD_START, append_results, read_results
from dc2kit.bench.runtimes import Workload
from dc2kit.bench.timing import achieved_gflops, summarize, trimmed_mean
from dc2kit.bench.worker import TASKS, USAGE, main, run_worker
from dc2kit.convert.residency import xnnpack_residency
from dc2kit.convert.targets import DEFAULT_KERNEL_PREDICT
from dc2kit.convert.tflite_report import count_ops, read_tflite_subgraphs
from dc2kit.model import preset_config
from dc2kit.model.builder import WeightsChoice, resolve_weights
from dc2kit.model.summary import model_costs

TINY = (64, 96)  # (height, width)
RANDOM = WeightsChoice.random(0)  # latency does not depend on the weights' values
CACHE = Path("cache")  # artifact paths only: nothing is written there
QUICK = {"runs": 3, "seconds": 0.0, "warmup": 1, "weights": RANDOM}


def _parent_peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


# ----------------------------------------------------------------------------- statistics


def test_summary_matches_numpy_on_known_samples():
    samples = [5.0, 1.0, 3.0, 100.0, 2.0, 4.0, 6.0, 8.0, 7.0, 9.0, 10.0, 0.5]
    timings = summarize(samples, load_ms=12.0, first_ms=30.0, warmup=3)
    ordered = np.sort(samples)
    assert timings.runs == 12
    assert timings.warmup == 3
    assert (timings.load_ms, timings.first_ms) == (12.0, 30.0)
    assert timings.min_ms == 0.5
    assert timings.p50_ms == pytest.approx(np.percentile(samples, 50))
    assert timings.p90_ms == pytest.approx(np.percentile(samples, 90))
    assert timings.mean_ms == pytest.approx(np.mean(samples))
    assert timings.trimmed_mean_ms == pytest.approx(ordered[1:-1].mean())  # int(0.1·12) = 1
    assert timings.max_ms == 100.0
    assert timings.std_ms == pytest.approx(np.std(samples))  # population, as benchmark_model


def test_percentiles_interpolate_linearly():
    timings = summarize([float(v) for v in range(1, 11)], load_ms=None, first_ms=None, warmup=0)
    assert timings.p50_ms == pytest.approx(5.5)
    assert timings.p90_ms == pytest.approx(9.1)  # rank 0.9·9 = 8.1: 9 + 0.1·(10 − 9)


def test_trimmed_mean_keeps_the_middle_eighty_percent():
    samples = [*range(1, 20), 1000]  # 20 samples: two dropped from each end
    assert trimmed_mean(samples) == pytest.approx(np.mean(range(3, 19)))
    assert trimmed_mean([1.0, 2.0, 30.0]) == pytest.approx(11.0)  # under 10 samples: nothing cut


def test_summary_of_no_runs_is_an_error():
    with pytest.raises(BenchError):
        summarize([], load_ms=None, first_ms=None, warmup=0)


def test_achieved_rate_counts_two_flops_per_mac_at_the_median():
    assert achieved_gflops(gmac=0.5, p50_ms=10.0) == pytest.approx(100.0)


def test_job_round_trips_through_json():
    workload = Workload("mobile", 64, 96, 2)
    job = Job("torch", workload, "/tmp/w", 3, 0.5, 1, 0.37, "dc2kit bench", "abc123-dirty")
    assert Job.from_dict(json.loads(json.dumps(asdict(job)))) == job


def test_worker_takes_exactly_one_spec_file_and_known_tasks(tmp_path, capsys):
    assert main([]) == 2
    assert main(["a.json", "b.json"]) == 2
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"task": "model-train", "payload": {}}))
    assert main([str(spec)]) == 2
    err = capsys.readouterr().err
    assert err.count(USAGE) == 2
    assert "unknown benchmark task 'model-train'" in err
    assert sorted(TASKS) == ["kernel_predict-measure", "model-build", "model-measure"]
    with pytest.raises(ValueError, match="unknown benchmark task"):
        run_worker("model-train", {}, 1)


# ----------------------------------------------------------------------------- arguments


def test_unknown_runtime_is_a_one_line_bench_error(tmp_path):
    with pytest.raises(BenchError, match="tflite-fp64") as caught:
        run_benchmarks("mobile", TINY, ["torch", "tflite-fp64"], 2, work_dir=tmp_path, **QUICK)
    assert isinstance(caught.value, ValueError)
    assert "\n" not in str(caught.value)
    assert "tflite-fp16" in str(caught.value)  # names the choices


@pytest.mark.parametrize(
    ("size", "threads", "runs"), [((60, 96), 2, 3), (TINY, 0, 3), (TINY, 2, 0)]
)
def test_bad_size_or_protocol_is_a_bench_error(tmp_path, size, threads, runs):
    with pytest.raises(BenchError):
        run_benchmarks(
            "mobile", size, ["torch"], threads, runs=runs, seconds=0, warmup=0, work_dir=tmp_path
        )


# ----------------------------------------------------------------------------- child processes


@pytest.mark.skipif(sys.platform == "darwin", reason="Core ML runs there")
def test_core_ml_off_macos_is_skipped_with_its_reason_and_no_numbers(tmp_path):
    events: list[BenchProgress] = []
    results = run_benchmarks(
        "mobile",
        TINY,
        ["coreml-cpu", "coreml-ne"],
        2,
        work_dir=tmp_path,
        progress=events.append,
        weights=RANDOM,
    )
    assert [m.runtime for m in results] == ["coreml-cpu", "coreml-ne"]
    for measurement in results:
        assert measurement.timings is None
        assert measurement.peak_rss_mb is None
        assert measurement.achieved_gflops is None
        assert measurement.share_of_peak is None
        assert measurement.notes == ("skipped: Core ML runs only on macOS",)
    assert results[1].config["compute_units"] == "CPU_AND_NE"
    assert [e.stage for e in events] == ["done", "done"]
    assert not (tmp_path / "coreml").exists()  # nothing exported for a runtime that cannot run


def test_torch_runs_in_its_own_process_with_provenance_and_consistent_rates(tmp_path):
    ballast = np.ones(2**28, dtype=np.float32)  # 1 GiB here: a child must not report our peak
    assert _parent_peak_rss_mb() > 1024
    events: list[BenchProgress] = []
    (measurement,) = run_benchmarks(
        "mobile", TINY, ["torch"], 2, work_dir=tmp_path, progress=events.append, **QUICK
    )
    del ballast

    assert [e.stage for e in events] == ["measure", "done"]
    assert events[-1].measurement == measurement
    assert (measurement.runtime, measurement.source, measurement.suite) == (
        "torch",
        "measured",
        "model",
    )
    assert measurement.config["threads"] == 2
    assert (measurement.config["height"], measurement.config["width"]) == TINY

    timings = measurement.timings
    assert timings.runs == 3
    assert timings.warmup == 1
    assert all(
        value > 0
        for value in (
            timings.load_ms,
            timings.first_ms,
            timings.min_ms,
            timings.p50_ms,
            timings.p90_ms,
            timings.mean_ms,
            timings.trimmed_mean_ms,
        )
    )
    assert timings.min_ms <= timings.p50_ms <= timings.p90_ms

    assert 0 < measurement.peak_rss_mb < 1024
    (baseline,) = [n for n in measurement.notes if n.startswith(BASELINE_NOTE)]
    assert 0 < float(baseline.removeprefix(BASELINE_NOTE)) <= measurement.peak_rss_mb
    costs = model_costs(preset_config("mobile", *TINY))
    assert measurement.gmac == costs["total"].macs / 1e9
    assert measurement.achieved_gflops == pytest.approx(
        2 * measurement.gmac / (timings.p50_ms / 1e3), rel=1e-12
    )
    assert measurement.machine_peak_gflops > 0
    assert measurement.share_of_peak == pytest.approx(
        measurement.achieved_gflops / measurement.machine_peak_gflops, rel=1e-12
    )

    provenance = measurement.provenance
    for key in ("git_commit", "graph_code", "cpu_model", "cores", "date", "command"):
        assert provenance[key], key
    assert provenance["threads"] == 2
    assert all(provenance[key] >= 0 for key in (LOAD_START, LOAD_END))  # 1-minute averages
    assert not any("load average" in note for note in measurement.notes)  # provenance, not notes

    results = tmp_path / "results.jsonl"
    append_results(results, [measurement])
    assert read_results(results) == [measurement]


def test_tflite_export_is_cached_and_reused(tflite_bench_run):
    """The session's bench run built `tflite-fp32`'s artifact once; a second run reuses it."""
    first = tflite_bench_run.measurements[0]
    stages = [stage for runtime, stage in tflite_bench_run.stages if runtime == "tflite-fp32"]
    assert stages == ["build", "measure", "done"]
    work_dir = tflite_bench_run.work_dir
    workload = Workload("mobile", *TINY, threads=2, weights=resolve_weights("mobile", RANDOM))
    artifact = RUNTIMES["tflite-fp32"].artifact_path(workload, work_dir)
    written = artifact.stat().st_mtime_ns
    assert first.timings.runs == 3
    assert first.config["precision"] == "fp32"
    assert "XNNPACK" in first.config["executor"]
    assert any("XNNPACK delegate" in note for note in first.notes)  # LiteRT's own log line
    assert first.placement == xnnpack_residency(artifact).as_placement()  # residency per row

    events: list[BenchProgress] = []
    (second,) = run_benchmarks(
        "mobile", TINY, ["tflite-fp32"], 2, work_dir=work_dir, progress=events.append, **QUICK
    )
    assert [e.stage for e in events] == ["measure", "done"]  # no second export, other threads
    assert artifact.stat().st_mtime_ns == written
    assert second.timings.p50_ms > 0

    run = RUNTIMES["tflite-fp32"].prepare(workload, work_dir)  # in-process load of the cache
    assert run()["image"].shape == (1, 3, *TINY)


def test_default_tflite_row_measures_the_shipped_fully_delegated_artifact(tflite_bench_run):
    """`tflite-fp32` measures what `export` ships (plain ops): one XNNPACK partition, nothing
    left to LiteRT's own kernels, and the row and the cache entry both name the lowering."""
    default, lowmem = tflite_bench_run.measurements
    for row in (default, lowmem):
        assert row.config["kernel_predict"] == DEFAULT_KERNEL_PREDICT == "ops"
        (delegate,) = row.placement["delegates"]
        assert (delegate["partitions"], delegate["undelegated_nodes"]) == (1, 0)
        assert delegate["delegated_nodes"] > 0
        assert row.placement["undelegated"] == {}
        assert row.placement["fully_accelerated"] is True
    workload = Workload("mobile", *TINY, threads=1, weights=resolve_weights("mobile", RANDOM))
    artifact = RUNTIMES["tflite-fp32"].artifact_path(workload, tflite_bench_run.work_dir)
    assert artifact.name.endswith("-fp32-ops.tflite") and artifact.exists()
    assert not any(
        op.startswith("STABLEHLO_COMPOSITE") for op in count_ops(read_tflite_subgraphs(artifact))
    )


def test_composite_runtimes_are_named_described_and_cached_apart():
    """The composite lowering stays measurable under its own names and cache entries; w8a8 has
    no composite variant (a composite can be neither quantized nor delegated)."""
    workload = Workload("mobile", *TINY, threads=1, weights=resolve_weights("mobile", RANDOM))
    for precision in ("fp32", "fp16", "int8"):
        for suffix in ("", "-lowmem"):
            default = RUNTIMES[f"tflite-{precision}{suffix}"]
            composite = RUNTIMES[f"tflite-{precision}-composite{suffix}"]
            assert default.describe()["kernel_predict"] == "ops"
            assert composite.describe()["kernel_predict"] == "composite"
            assert composite.describe()["precision"] == precision
            ops, composites = (
                r.artifact_path(workload, Path("cache")) for r in (default, composite)
            )
            assert ops.name.endswith(f"-{precision}-ops.tflite")
            assert composites == ops.with_name(ops.name.replace("-ops.", "-composite."))
    assert "tflite-w8a8-composite" not in RUNTIMES
    assert RUNTIMES["tflite-w8a8"].describe()["kernel_predict"] == "ops"


def test_failing_child_raises_with_its_last_error_line(tmp_path):
    workload = Workload("mobile", *TINY, threads=2, weights=resolve_weights("mobile", RANDOM))
    artifact = RUNTIMES["tflite-int8"].artifact_path(workload, tmp_path)
    artifact.parent.mkdir(parents=True)
    artifact.write_bytes(b"not a flatbuffer")  # a corrupt cache entry: the load fails
    with pytest.raises(BenchError, match=r"^tflite-int8: measure failed .*: \w+Error") as caught:
        run_benchmarks("mobile", TINY, ["tflite-int8"], 2, work_dir=tmp_path, **QUICK)
    assert "\n" not in str(caught.value)
