"""Benchmark report: regenerated from hand-made result files alone, targets computed exactly."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from dc2kit.bench.report import generate_report
from dc2kit.bench.report.load import as_measured, busy_load, load_averages, precision_of
from dc2kit.bench.results import LOAD_END, LOAD_START, Measurement, Timings, append_results

HOST = {
    "git_commit": "abc1234",
    "dc2kit_version": "0.1.0",
    "tools": {"python": "3.11.7", "torch": "2.13.0"},
    "cpu_model": "Test CPU 9000",
    "cores": 2,
    "threads": 2,
    "os": "Linux-test",
    "date": "2026-01-02T10:00:00+00:00",
    "command": "dc2kit bench run --suite standard",
}
PHONE = {
    **HOST,
    "cpu_model": "Pixel 8 (Tensor G3)",
    "os": "Android 15",
    "date": "2026-01-03T08:00:00+00:00",
    "command": "adb run",
}
ESTIMATE = {**HOST, "command": "dc2kit info --preset mobile"}


def timings(p50: float) -> Timings:
    return Timings(
        load_ms=None,
        first_ms=None,
        warmup=3,
        runs=30,
        min_ms=p50 * 0.9,
        p50_ms=p50,
        p90_ms=p50 * 1.1,
        mean_ms=p50,
        trimmed_mean_ms=p50,
    )


def model(runtime: str, preset: str, size: tuple[int, int], p50: float, **extra) -> Measurement:
    config = {"preset": preset, "width": size[0], "height": size[1], "threads": 2}
    config["formulation"] = "im2col"  # what export ships; the targets compare only its rows
    if runtime.startswith("tflite"):
        config["precision"] = runtime.split("-")[1]
        config["executor"] = "LiteRT, XNNPACK"
        config["kernel_predict"] = "composite" if "-composite" in runtime else "ops"
    return Measurement(
        "model",
        runtime,
        config,
        "measured",
        timings(p50),
        peak_rss_mb=500.0,
        provenance=HOST,
        **extra,
    )


def micro(
    formulation: str, k: int, p50: float, peak: float, date: str = HOST["date"]
) -> Measurement:
    config = {"formulation": formulation, "k": k, "width": 1024, "height": 768, "threads": 2}
    return Measurement(
        "kernel_predict",
        f"torch-{formulation}",
        config,
        "measured",
        timings(p50),
        peak_rss_mb=peak,
        notes=("rss_baseline_mb=100.0",),
        provenance={**HOST, "date": date},
    )


def write_results(results: Path) -> None:
    results.mkdir(parents=True)
    append_results(
        results / "model.jsonl",
        [
            model("torch", "mobile", (512, 384), 30.0),
            model("tflite-fp32", "mobile", (512, 384), 12.0),
            model("tflite-fp16", "mobile", (512, 384), 14.0),
            model("torch", "mobile", (1024, 768), 120.0),
            model("tflite-fp32", "mobile", (1024, 768), 50.0),
            model(
                "torch",
                "paper",
                (512, 384),
                900.0,
                achieved_gflops=100.0,
                machine_peak_gflops=400.0,
                share_of_peak=0.25,
            ),
            model(
                "tflite-fp32",
                "paper",
                (512, 384),
                700.0,
                achieved_gflops=150.0,
                machine_peak_gflops=400.0,
            ),
            Measurement(
                "model",
                "tflite-int8",
                {"preset": "paper", "width": 1024, "height": 768, "kernel_predict": "ops"},
                "measured",
                None,
                notes=("skipped: int8 quantization ran out of memory",),
                provenance=HOST,
            ),
        ],
    )
    append_results(
        results / "kernel_predict.jsonl",
        [
            micro("shift", 5, 99.0, 900.0, date="2026-01-01T09:00:00+00:00"),  # superseded
            micro("reference", 5, 40.0, 700.0),
            micro("shift", 5, 10.0, 250.0),
            micro("im2col", 5, 20.0, 400.0),
            micro("reference", 7, 80.0, 1100.0),
            micro("shift", 7, 16.0, 300.0),
            micro("im2col", 7, 32.0, 500.0),
        ],
    )
    append_results(
        results / "phone.jsonl",
        [
            Measurement(
                "phone",
                "android-gpu",
                {"preset": "mobile", "width": 512, "height": 384},
                "phone",
                Timings(80.0, 90.0, 5, 30, 40.0, 45.0, None, 46.0, None),
                provenance=PHONE,
            ),
            Measurement(  # a tool that prints only a mean
                "phone",
                "android-npu",
                {"preset": "mobile", "width": 512, "height": 384},
                "phone",
                Timings(None, None, 5, 30, None, None, None, 20.0, None),
                provenance=PHONE,
            ),
            Measurement(
                "model",
                "estimate-a16",
                {"preset": "mobile", "width": 1024, "height": 768},
                "estimate",
                timings(5.6),
                gmac=48.0,
                notes=("estimate, compute-bound: compute 5.60 ms", "8.5 TFLOP/s effective"),
                provenance=ESTIMATE,
            ),
        ],
    )


@pytest.fixture
def report(tmp_path):
    results = tmp_path / "benchmarks" / "results"
    write_results(results)
    out = tmp_path / "benchmarks" / "REPORT.md"
    plots = tmp_path / "benchmarks" / "plots"
    generate_report(results, out, plots)
    return out, plots, results


def section(text: str, heading: str) -> str:
    body = text.split(f"\n{heading}\n", 1)[1]
    return body.split("\n## ", 1)[0]


def test_targets_are_computed_from_the_data(report):
    text = report[0].read_text()
    targets = section(text, "## Targets")
    assert (
        "| TFLite fp32 (XNNPACK) vs PyTorch eager, mobile preset, 512×384 | ≥ 1.5× faster (p50) "
        "| 2.50× at 2 threads | **met** |" in targets
    )
    assert "| 2 | 30.0 | 12.0 | 2.50× | met |" in targets
    assert "met by torch-shift at every k | **met** |" in targets
    assert "| torch-shift | 5 | 4.00× | 0.25× | met |" in targets  # 10 ms, 150 MB vs 40, 600
    assert "| torch-shift | 7 | 5.00× | 0.20× | met |" in targets
    assert "| torch-im2col | 5 | 2.00× | 0.50× | not met |" in targets
    assert "| torch-im2col | 7 | 2.50× | 0.40× | not met |" in targets
    assert (
        "| 37.5 % (tflite-fp32, 512×384 · formulation=im2col · kernel_predict=ops · "
        "precision=fp32 · preset=paper · "
        "threads=2) "
        "| **not met** |" in targets
    )
    torch_row = "| torch | 512×384 · formulation=im2col · preset=paper · threads=2 | 100 | 400 |"
    assert f"{torch_row} 25.0 % |" in targets


def test_suite_tables_use_the_latest_run_and_show_both_memories(report):
    text = report[0].read_text()
    assert "17 configurations (1 superseded by later runs)" in text
    micro = section(text, "## Suite `kernel_predict` (measured)")
    assert "op increment MB" in micro
    assert "| torch-shift | 1024×768 · formulation=shift · k=5 · threads=2 | 10.0 |" in micro
    assert "| 250 | 150 |" in micro  # absolute peak, then the op's increment
    assert "99.0" not in micro
    model = section(text, "## Suite `model` (measured)")
    smaller = model.index("| torch | 512×384 · formulation=im2col · preset=mobile")
    assert smaller < model.index("| torch | 1024×768")
    assert "tflite-int8" not in model
    assert "executor=" not in model
    assert "- `tflite-fp32`: LiteRT, XNNPACK" in model
    assert "![model_latency](plots/model_latency.png)" in model
    assert "![kernel_predict_time](plots/kernel_predict_time.png)" in micro


def test_estimates_phone_and_skips_have_their_own_sections(report):
    text = report[0].read_text()
    estimates = section(text, "## Estimates (not measured)")
    rows = [line for line in estimates.splitlines() if line.startswith("| ") and "---" not in line]
    assert rows[0].startswith("| label |")
    assert rows[1].startswith(
        "| estimate | estimate-a16 | 1024×768 · preset=mobile | 5.60 | 48.0 |"
    )
    assert rows[1].endswith("| estimate, compute-bound: compute 5.60 ms |")  # its breakdown
    assert estimates.count("8.5 TFLOP/s effective") == 1  # the assumption, stated once
    assert "### Assumptions for `estimate-a16`\n\n- 8.5 TFLOP/s effective\n" in estimates
    assert "estimate-a16" not in section(text, "## Suite `model` (measured)")
    phone = section(text, "## Phone measurements")
    assert phone.count("| runtime | config | p50 ms | runs | mean ms | env |") == 1
    assert "| android-gpu | 512×384 · preset=mobile | 45.0 | 30 | 46.0 | E2 |" in phone
    assert "| android-npu | 512×384 · preset=mobile | — | 30 | 20.0 | E2 |" in phone
    skipped = section(text, "## Skipped configurations")
    assert (
        "| model | measured | tflite-int8 | 1024×768 · kernel_predict=ops · preset=paper "
        "| skipped: int8" in skipped
    )


def test_provenance_groups_rows_by_environment(report):
    text = report[0].read_text()
    provenance = section(text, "## Provenance")
    assert provenance.count("\n### E") == 2  # this machine, and the phone
    assert "- commit: abc1234" in provenance
    assert "- CPU: Pixel 8 (Tensor G3)" in provenance
    assert "- tools: python 3.11.7, torch 2.13.0" in provenance
    assert "  - `dc2kit bench run --suite standard`" in provenance
    assert "  - `dc2kit info --preset mobile`" in provenance
    assert "2026-01-01T09:00:00+00:00" not in provenance  # the superseded run's date
    assert "| E1 |" in section(text, "## Suite `model` (measured)")


def test_plots_are_png_files(report):
    _, plots, _ = report
    names = sorted(path.name for path in plots.iterdir())
    assert names == ["kernel_predict_memory.png", "kernel_predict_time.png", "model_latency.png"]
    for name in names:
        assert (plots / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_second_run_is_byte_identical(report):
    out, plots, results = report
    first = out.read_bytes()
    generate_report(results, out, plots)
    assert out.read_bytes() == first


def test_no_results_gives_no_data_targets(tmp_path):
    (tmp_path / "results").mkdir()
    out = generate_report(tmp_path / "results", tmp_path / "REPORT.md", tmp_path / "plots")
    targets = section(out.read_text(), "## Targets")
    assert targets.count("| no data | **no data** |") == 5  # one per target: compute_targets
    assert list((tmp_path / "plots").iterdir()) == []


def _loaded(start: float | None, end: float | None, cores: int = 2) -> Measurement:
    provenance = {**HOST, "cores": cores, LOAD_START: start, LOAD_END: end}
    return Measurement("model", "torch", {}, "measured", timings(1.0), provenance=provenance)


def test_busy_means_a_load_average_above_the_core_count():
    assert busy_load(_loaded(0.5, 2.5)) == 2.5  # the end counts as much as the start
    assert busy_load(_loaded(3.1, 1.0)) == 3.1
    assert busy_load(_loaded(2.0, 2.0)) is None  # exactly every core: the benchmark's own threads
    assert busy_load(_loaded(3.0, None, cores=4)) is None
    assert busy_load(_loaded(None, None)) is None  # nothing recorded: cannot be judged
    older = Measurement(
        "model",
        "torch",
        {},
        "measured",
        timings(1.0),
        notes=("1-minute load average 2.25 on 2 cores at start",),
        provenance=HOST,
    )
    assert load_averages(older) == (2.25,)  # files from before provenance carried it
    assert busy_load(older) == 2.25


def test_busy_rows_are_flagged_and_left_out_of_the_targets(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    quiet = {**HOST, LOAD_START: 0.4, LOAD_END: 1.9}
    busy = {**HOST, LOAD_START: 1.2, LOAD_END: 3.5, "date": "2026-01-02T11:00:00+00:00"}
    rows = [
        model("torch", "mobile", (512, 384), 30.0),
        model("tflite-fp32", "mobile", (512, 384), 12.0),
    ]
    append_results(
        results / "model.jsonl",
        [
            replace(rows[0], provenance=quiet),
            replace(rows[1], provenance=busy),
            replace(rows[1], config={**rows[1].config, "threads": 1}, provenance=quiet),
        ],
    )
    text = generate_report(results, tmp_path / "REPORT.md", tmp_path / "plots").read_text()
    targets = section(text, "## Targets")
    assert "Left out as busy: 1 of 3 measured rows." in targets
    # Quiet, 30 / 12 ms at 2 threads would meet it; busy, that TFLite row is left out, and the
    # quiet 1-thread one has no torch row to compare with.
    assert "mobile preset, 512×384 | ≥ 1.5× faster (p50) | no data | **no data** |" in targets
    table = section(text, "## Suite `model` (measured)")
    assert table.count("busy: load 3.50 on 2 cores") == 1
    assert "| machine |" in table
    assert "- 1-minute load averages: 0.40 … 3.50" in section(text, "## Provenance")
    assert section(text, "## Provenance").count("\n### E") == 1  # loads do not split envs


def test_share_of_peak_is_for_fp32_rows_only(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    rates = {"machine_peak_gflops": 100.0}
    append_results(
        results / "model.jsonl",
        [
            model("torch", "paper", (512, 384), 90.0, achieved_gflops=30.0, **rates),
            model("tflite-fp16", "paper", (512, 384), 50.0, achieved_gflops=60.0, **rates),
            model("tflite-int8", "paper", (512, 384), 20.0, achieved_gflops=258.5, **rates),
        ],
    )
    text = generate_report(results, tmp_path / "REPORT.md", tmp_path / "plots").read_text()
    table = section(text, "## Suite `model` (measured)")
    assert "| 258 | n/a † |" in table  # the int8 rate stays; its "258.5 %" share does not
    assert table.count("| n/a † |") == 2
    assert "| 30.0 % |" in table
    assert "† Share of peak is given for fp32 rows only" in table
    targets = section(text, "## Targets")
    best = "30.0 % (torch, 512×384 · formulation=im2col · preset=paper · threads=2)"
    assert f"| {best} | **not met** |" in targets
    assert "tflite-int8" not in targets and "tflite-fp16" not in targets


def test_a_runtime_name_gives_the_precision_a_row_does_not_state():
    """Rows written before configs named their precision: any part of the name may carry it, so
    a w8a8 or composite int8 row is never taken for fp32 (and given a share of peak)."""
    unstated = model("torch", "mobile", (64, 64), 1.0)
    assert "precision" not in unstated.config
    names = ("tflite-fp16", "tflite-w8a8-lowmem", "tflite-int8-composite", "torch")
    found = [precision_of(replace(unstated, runtime=name)) for name in names]
    assert found == ["fp16", "w8a8", "int8", None]


def test_estimate_assumptions_are_listed_once_per_device_and_marked_by_precision(tmp_path):
    results = tmp_path / "results"
    results.mkdir()

    def estimate(precision: str, width: int, notes: tuple[str, ...]) -> Measurement:
        config = {"width": width, "height": 384, "precision": precision, "device": "NPU X"}
        figures = f"estimate, memory-bound: {precision} at {width}"
        return Measurement(
            "model", "estimate-x", config, "estimate", timings(5.0), notes=(figures, *notes)
        )

    shared = ("64 GB/s peak DRAM bandwidth", "no CPU fallback")
    append_results(
        results / "estimates.jsonl",
        [
            estimate(p, w, (f"{p} throughput assumed", *shared))
            for p in ("fp16", "int8")
            for w in (256, 512)
        ],
    )
    text = generate_report(results, tmp_path / "REPORT.md", tmp_path / "plots").read_text()
    estimates = section(text, "## Estimates (not measured)")
    assert "| estimate, memory-bound: int8 at 512 |" in estimates
    listed = estimates.split("### Assumptions for `estimate-x`: NPU X\n\n", 1)[1].splitlines()
    assert listed == [
        "- 64 GB/s peak DRAM bandwidth",
        "- no CPU fallback",
        "- (fp16 only) fp16 throughput assumed",
        "- (int8 only) int8 throughput assumed",
    ]


def test_memory_target_compares_low_memory_peaks_with_the_goal_busy_rows_kept(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    busy = {**HOST, LOAD_START: 1.2, LOAD_END: 3.5}
    size = (1024, 768)
    rows = [
        replace(model("tflite-fp32", "mobile", size, 1300.0), peak_rss_mb=5000.0),
        replace(model("tflite-fp32-lowmem", "mobile", size, 2000.0), peak_rss_mb=1400.0),
        replace(
            model("tflite-int8-lowmem", "mobile", size, 900.0), peak_rss_mb=1431.0, provenance=busy
        ),
        replace(model("tflite-fp16-lowmem", "mobile", (512, 384), 500.0), peak_rss_mb=9999.0),
    ]
    append_results(results / "model.jsonl", rows)
    text = generate_report(results, tmp_path / "REPORT.md", tmp_path / "plots").read_text()
    targets = section(text, "## Targets")
    # 1.5 GB = 1.5e9 bytes = 1430.5 MiB: 1400 MiB meets it, 1431 MiB does not.
    assert (
        "| Mobile preset at 1024×768 in the low-memory TFLite runtime (transient indirection) "
        "| ≤ 1.5 GB (1431 MiB) peak RSS | fp32 1400 MiB, int8 1431 MiB | **not met** |" in targets
    )
    assert "| fp32 | 5000 | 1300 | 1400 | 2000 | 1.54× | quiet | met |" in targets
    assert "| int8 | — | — | 1431 | 900 | — | busy | not met |" in targets
    # The busy row counts for memory, and the latency targets still leave it out.
    assert "Left out as busy: 1 of 4 measured rows;" in targets


def _legacy(measurement: Measurement) -> Measurement:
    """A host TFLite row as written before rows named their lowering (composite, then)."""
    config = {k: v for k, v in measurement.config.items() if k != "kernel_predict"}
    return replace(measurement, config=config)


def test_rows_without_a_lowering_read_as_the_composite_runtimes_they_measured(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    big, small = (1024, 768), (512, 384)
    old_default, old_lowmem = (
        _legacy(replace(model(name, "mobile", big, p50), peak_rss_mb=peak))
        for name, p50, peak in (
            ("tflite-fp32", 1000.0, 4600.0),
            ("tflite-fp32-lowmem", 2000.0, 1040.0),
        )
    )
    assert as_measured(old_lowmem).runtime == "tflite-fp32-composite-lowmem"
    assert as_measured(old_default).config["kernel_predict"] == "composite"
    current = model("tflite-fp32", "mobile", small, 15.0)
    assert as_measured(current) == current
    rows = [
        old_default,
        old_lowmem,
        replace(model("tflite-fp32", "mobile", big, 1200.0), peak_rss_mb=4000.0),
        replace(model("tflite-fp32-lowmem", "mobile", big, 1800.0), peak_rss_mb=900.0),
        model("torch", "mobile", small, 30.0),
        _legacy(model("tflite-fp32", "mobile", small, 10.0)),  # composite: not what ships
        current,
    ]
    append_results(results / "model.jsonl", rows)
    text = generate_report(results, tmp_path / "REPORT.md", tmp_path / "plots").read_text()
    targets = section(text, "## Targets")
    assert "| 2 | 30.0 | 15.0 | 2.00× | met |" in targets  # the shipped lowering only
    assert "| fp32 composite | 4600 | 1000 | 1040 | 2000 | 2.00× | quiet | met |" in targets
    assert "| fp32 | 4000 | 1200 | 900 | 1800 | 1.50× | quiet | met |" in targets
    assert "tflite-fp32-composite" in section(text, "## Suite `model` (measured)")


def test_latency_targets_compare_only_rows_of_the_formulation_export_ships(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    torch_row = model("torch", "mobile", (512, 384), 30.0)
    shipped = model("tflite-fp32", "mobile", (512, 384), 25.0)
    other = replace(shipped, config={**shipped.config, "formulation": "shift"})
    w8a8 = model("tflite-w8a8", "mobile", (512, 384), 10.0)
    other_torch = replace(torch_row, config={**torch_row.config, "formulation": "shift"})
    rows = [torch_row, shipped, replace(other, timings=timings(10.0)), w8a8]
    append_results(results / "model.jsonl", [*rows, replace(other_torch, timings=timings(5.0))])
    targets = section(
        generate_report(results, tmp_path / "R.md", tmp_path / "p").read_text(), "## Targets"
    )
    # im2col: 30 / 25 ms, not met; the shift rows (30 / 10 or 5 / 10) would say otherwise.
    assert "| 2 | 30.0 | 25.0 | 1.20× | not met |" in targets
    assert "| 2 | 25.0 | 10.0 | 2.50× |" in targets  # w8a8 against the im2col fp32 row
