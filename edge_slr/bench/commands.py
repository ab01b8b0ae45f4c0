"""``edge-slr bench``: latency of .tflite files on this device, as a table, JSON, CSV and plot."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edge_slr.errors import UserError
from edge_slr.hands import resolve_hands_model

from .latency import NO_DELEGATE, XNNPACK, BenchConfig, run_bench


def parse_threads(text: str) -> tuple[int, ...]:
    """``"1,2,4"`` -> ``(1, 2, 4)``, in the given order without repeats."""
    try:
        values = tuple(dict.fromkeys(int(v) for v in text.split(",") if v.strip()))
    except ValueError:
        raise UserError(f"--threads takes comma-separated positive integers like 1,2,4, got '{text}'") from None
    if not values or min(values) < 1:
        raise UserError(f"--threads takes comma-separated positive integers like 1,2,4, got '{text}'")
    return values


def bench_cmd(args: argparse.Namespace) -> int:
    if args.pipeline:
        from .pipeline import bench_pipeline_cmd

        return bench_pipeline_cmd(args)
    if not args.models:
        raise UserError("name at least one MODEL.tflite to benchmark, or --pipeline SOURCE for the live pipeline")
    missing = [m for m in args.models if not Path(m).exists()]
    if missing:  # a typo is a user error; an unreadable or broken file is a failed row
        raise UserError(f"no such file: {', '.join(missing)}")
    delegate = args.delegate
    if delegate not in (XNNPACK, NO_DELEGATE) and not Path(delegate).is_file():
        raise UserError(f"--delegate takes xnnpack, none or the path of a delegate library; {delegate} not found")
    if args.profile:
        return _profile(args, delegate)
    config = BenchConfig(threads=parse_threads(args.threads) if args.threads else BenchConfig().threads,
                         runs=args.runs, warmup=args.warmup, min_time=args.min_time, delegate=delegate,
                         signature=args.signature, data=Path(args.data) if args.data else None,
                         hands_model=resolve_hands_model(args.hands_model))
    log = (lambda line: print(line, file=sys.stderr, flush=True)) if not args.quiet else (lambda _: None)
    result = run_bench(args.models, config, log=log)

    from .report import litert_table, table, write_csv, write_json_report, write_plot

    litert = _litert_rows(args, config, result.rows) if args.litert_benchmark else []
    print(table(result))
    if args.litert_benchmark:
        print()
        print(litert_table(litert, result.rows) if litert else
              "litert-benchmark is not installed (it comes with ai-edge-litert); skipped")
    for path, write in ((args.json, lambda p: write_json_report(p, result, litert)),
                        (args.csv, lambda p: write_csv(p, result)), (args.plot, lambda p: write_plot(p, result))):
        if path:
            write(path)
            print(f"wrote {path}", file=sys.stderr)
    return 0


def _litert_rows(args: argparse.Namespace, config: BenchConfig, rows: list) -> list:
    """litert-benchmark per measured row: each signature of its workload (a stream step runs two, summed)."""
    from .litert_tool import combine, find_tool, run_litert_benchmark

    tool = find_tool()
    if tool is None:
        return []
    out = []
    for row in rows:
        if not row.ok:
            continue
        signatures = row.workload.split("+") if row.workload and row.workload != "main" else [None]
        parts = [run_litert_benchmark(tool, row.path, row.threads, config.runs, config.warmup, sig)
                 for sig in signatures]
        out.append(combine(parts))
    return out


def _profile(args: argparse.Namespace, delegate: str) -> int:
    from .profile import profile_model, profile_table

    if len(args.models) != 1:
        raise UserError("--profile takes exactly one model")
    if args.csv or args.plot or args.litert_benchmark or args.data:
        raise UserError("--profile writes its table and --json only (no --csv, --plot, --litert-benchmark or --data)")
    if delegate not in (XNNPACK, NO_DELEGATE):
        raise UserError("--profile runs with --delegate xnnpack or none; for an external delegate use LiteRT's "
                        "benchmark_model --enable_op_profiling=true on the device")
    threads = parse_threads(args.threads)[0] if args.threads else BenchConfig().threads[0]
    profile = profile_model(args.models[0], threads=threads, use_xnnpack=delegate == XNNPACK,
                            signature=args.signature, runs=args.runs)
    print(profile_table(profile))
    if args.json:
        from dataclasses import asdict

        from edge_slr.utils.atomic import write_json

        write_json(args.json, {**asdict(profile), "by_type": [asdict(r) for r in profile.by_type()],
                               "sum_ms": profile.sum_ms})
        print(f"wrote {args.json}", file=sys.stderr)
    return 0
