"""`dc2kit bench` (host runtimes), `bench-suite` (a suite and its report), `bench-report`."""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict
from pathlib import Path

from dc2kit.cli.common import (
    add_command,
    console,
    float_range,
    int_range,
    model_size,
    output_file,
)
from dc2kit.cli.quiet import phases
from dc2kit.cli.weights import add_weights_arguments, resolved_weights
from dc2kit.convert.targets import DEFAULT_FORMULATION, EXPORTABLE_FORMULATIONS


def cmd_bench(args: argparse.Namespace) -> int:
    from rich.table import Table

    from dc2kit.atomic import write_atomically
    from dc2kit.bench.harness import BenchProgress, run_benchmarks
    from dc2kit.bench.phone.runtime import DeviceSettings
    from dc2kit.bench.results import append_results
    from dc2kit.model.builder import DEFAULT_PRESET

    names = [name.strip() for name in args.runtimes.split(",") if name.strip()]
    choice, origin = resolved_weights(args)
    preset = args.preset or DEFAULT_PRESET
    with phases() as timer:

        def show(event: BenchProgress) -> None:
            if event.stage == "done":
                timer.done()
            else:
                timer.step(f"[{event.index}/{event.total}] {event.runtime}: {event.stage}")

        results = run_benchmarks(
            preset,
            args.size,
            names,
            args.threads,
            runs=args.runs,
            seconds=args.seconds,
            warmup=args.warmup,
            work_dir=Path(args.work_dir),
            formulation=args.formulation,
            weights=choice,
            progress=show,
            device=DeviceSettings(
                adb_serial=args.adb_serial,
                benchmark_binary=args.benchmark_model,
                npu_libraries=tuple(args.npu_library),
                tool=args.benchmark_tool,
            ),
        )
    if args.append:
        append_results(args.append, results)
    if args.json:
        write_atomically(args.json, json.dumps([asdict(r) for r in results], indent=2).encode())
    table = Table(
        title=f"DC2Net {preset} at {args.size[1]}x{args.size[0]}, {args.threads} threads, "
        f"weights: {origin.label}"
    )
    for column in (
        "runtime",
        "p50 ms",
        "p90 ms",
        "trimmed mean ms",
        "peak RSS MiB",
        "GFLOP/s",
        "share of peak",
    ):
        table.add_column(column, justify="left" if column == "runtime" else "right")
    for r in results:
        if r.timings is None:
            table.add_row(r.runtime, *["—"] * 5, "; ".join(r.notes))
            continue
        t = r.timings
        table.add_row(
            r.runtime,
            _cell(t.p50_ms, ".1f"),
            _cell(t.p90_ms, ".1f"),
            _cell(t.trimmed_mean_ms, ".1f"),
            _cell(r.peak_rss_mb, ".0f"),
            _cell(r.achieved_gflops, ".1f"),
            _cell(r.share_of_peak, ".0%"),
        )
    console.print(table)
    return 0


def _cell(value: float | None, spec: str) -> str:
    """A figure, or a dash where the runtime's tool prints none (a phone's p90, its GFLOP/s)."""
    return "—" if value is None else format(value, spec)


def cmd_bench_suite(args: argparse.Namespace) -> int:
    from dc2kit.bench.report import generate_report
    from dc2kit.bench.suite import run_suite

    choice, origin = resolved_weights(args)
    with phases() as timer:
        written = run_suite(
            args.suite,
            Path(args.results),
            Path(args.work_dir),
            lambda text: timer.done() if text.endswith(" done") else timer.step(text),
            weights=choice,
            sections=args.sections,
        )
    console.print(f"model rows measured with weights: {origin.label}", highlight=False)
    report = generate_report(Path(args.results), Path(args.report), Path(args.plots))
    for file, count in written.items():
        console.print(f"appended {count} results to {Path(args.results) / file}", highlight=False)
    console.print(f"wrote {report}", highlight=False)
    return 0


def cmd_bench_report(args: argparse.Namespace) -> int:
    from dc2kit.bench.report import generate_report

    report = generate_report(Path(args.results), Path(args.report), Path(args.plots))
    console.print(f"wrote {report}", highlight=False)
    return 0


def _report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--results", default="benchmarks/results", help="JSON-lines folder")
    parser.add_argument("--report", default="benchmarks/REPORT.md")
    parser.add_argument("--plots", default="benchmarks/plots")


def register(commands: argparse._SubParsersAction) -> None:
    from dc2kit.bench.harness import DEFAULT_RUNS, DEFAULT_SECONDS, DEFAULT_WARMUP
    from dc2kit.bench.phone.android import TOOLS
    from dc2kit.bench.registry import RUNTIMES

    bench = add_command(commands, "bench", help="measure latency and memory of host runtimes")
    add_weights_arguments(bench)
    bench.add_argument("--size", type=model_size, default=(384, 512), help="WxH (default 512x384)")
    bench.add_argument(
        "--runtimes", default="torch,tflite-fp32", help=f"comma-separated: {', '.join(RUNTIMES)}"
    )
    bench.add_argument("--threads", type=int_range(1, 1024), default=os.cpu_count() or 1)
    bench.add_argument(
        "--runs", type=int_range(1, 100_000), default=DEFAULT_RUNS, help="at least this many runs"
    )
    bench.add_argument(
        "--seconds",
        type=float_range(0, 3600),
        default=DEFAULT_SECONDS,
        help="and at least this long",
    )
    bench.add_argument("--warmup", type=int_range(0, 10_000), default=DEFAULT_WARMUP)
    bench.add_argument(
        "--formulation", choices=EXPORTABLE_FORMULATIONS, default=DEFAULT_FORMULATION
    )
    bench.add_argument("--work-dir", default="build/bench-models", help="cache of exported models")
    bench.add_argument(
        "--json", metavar="FILE", type=output_file(), help="write the results (with provenance)"
    )
    bench.add_argument(
        "--append", metavar="FILE", type=output_file(), help="append results as JSON lines"
    )
    phone = bench.add_argument_group("phone runtimes (android-cpu, android-gpu, android-npu)")
    phone.add_argument("--adb-serial", help="the phone's adb serial (default: the only one)")
    phone.add_argument(
        "--benchmark-model", metavar="PATH", help="LiteRT's benchmark_model built for the phone"
    )
    phone.add_argument(
        "--benchmark-tool",
        choices=TOOLS,
        default="tflite",
        help="which benchmark_model build: the TFLite interpreter's or LiteRT's CompiledModel's",
    )
    phone.add_argument(
        "--npu-library",
        action="append",
        default=[],
        metavar="PATH",
        help="a vendor library an NPU run loads (repeat; QNN: libQnnTFLiteDelegate.so, ...)",
    )
    bench.set_defaults(run=cmd_bench)

    suite = add_command(
        commands,
        "bench-suite",
        help="run a suite of benchmarks/suites.json and regenerate the report",
    )
    suite.add_argument("--suite", default="demo", help="standard or demo")
    suite.add_argument("--work-dir", default="build/bench-models")
    suite.add_argument(
        "--sections",
        type=lambda text: [name.strip() for name in text.split(",") if name.strip()],
        help="comma-separated sections to run (model, memory, kernel_predict, training; "
        "default: all)",
    )
    add_weights_arguments(suite, preset=False)
    _report_arguments(suite)
    suite.set_defaults(run=cmd_bench_suite)

    report = add_command(commands, "bench-report", help="regenerate REPORT.md and plots")
    _report_arguments(report)
    report.set_defaults(run=cmd_bench_report)
