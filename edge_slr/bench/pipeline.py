"""``edge-slr bench --pipeline SOURCE``: the whole live pipeline, headless and in real time, measured.

Runs :class:`~edge_slr.live.pipeline.LivePipeline` exactly as ``edge-slr live --headless`` does (paced
at the source's fps, so a slow stage drops frames as with a camera) and reports its live metrics in the
bench's forms: a table on stdout, ``--json`` (the run's full summary plus per-stage samples), ``--csv``
(one line per stage) and ``--plot`` (per-stage latency distributions side by side, plus staleness).
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
from pathlib import Path
from typing import Any

from edge_slr.utils.atomic import atomic_path, write_json, write_text


def bench_pipeline_cmd(args: argparse.Namespace) -> int:
    """CLI target of ``edge-slr bench --pipeline``."""
    from edge_slr.live.commands import demo_model_path, format_summary
    from edge_slr.live.pipeline import LiveConfig, LivePipeline

    from .commands import parse_threads
    from .host import host_info, load_average

    threads = parse_threads(args.threads)[0] if args.threads else None
    config = LiveConfig(source=args.pipeline, model=Path(args.model) if args.model else demo_model_path(),
                        threads=threads, xnnpack=args.delegate != "none",
                        delegate=args.delegate if args.delegate not in ("xnnpack", "none") else None,
                        stride=args.stride,
                        hands_model=args.hands_model, truth=Path(args.truth) if args.truth else None,
                        max_seconds=args.max_seconds)
    pipeline = LivePipeline(config)
    h = host_info()
    load = load_average()
    print(f"host: {h.cpu}, {h.cores} cores, {h.machine}, Python {h.python}, ai-edge-litert {h.litert_version}; "
          f"load average {' '.join(f'{x:.2f}' for x in load) if load else 'unknown'}", flush=True)
    print(f"pipeline: {pipeline.source.name} at {pipeline.source.fps:g} fps, model {config.model.name}, "
          f"{'with' if config.hands_model else 'without'} MediaPipe hands", flush=True)
    try:
        pipeline.run()
    except KeyboardInterrupt:
        print("bench: interrupted; reporting what was measured", file=sys.stderr)
    summary = pipeline.summary()
    samples = pipeline.times.samples_ms() | {"staleness": pipeline.staleness_ms()}
    print(format_summary(summary))
    if args.json:
        write_json(args.json, summary | {"samples_ms": samples})
        print(f"wrote {args.json}", file=sys.stderr)
    if args.csv:
        _write_csv(args.csv, summary)
        print(f"wrote {args.csv}", file=sys.stderr)
    if args.plot:
        write_pipeline_plot(args.plot, samples, summary)
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0


def _write_csv(path: str | os.PathLike[str], summary: dict[str, Any]) -> None:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["stage", "count", "p50_ms", "p90_ms", "mean_ms", "max_ms"])
    for stage, row in summary["stages"].items():
        writer.writerow([stage, row["count"], row["p50_ms"], row["p90_ms"], row["mean_ms"], row["max_ms"]])
    stale = summary["staleness_ms"]
    writer.writerow(["staleness", summary["inferences"], stale["p50"], stale["p90"], "", stale["max"]])
    write_text(path, text.getvalue())


def write_pipeline_plot(path: str | os.PathLike[str], samples: dict[str, list[float]], summary: dict[str, Any]) -> None:
    """Per-stage latency (and staleness) distributions side by side, with the run's counters in the title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [k for k, v in samples.items() if v]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.4 * len(names)), 4.8))
    if names:
        parts = ax.violinplot([samples[k] for k in names], showmedians=True, widths=0.8)
        for body in parts["bodies"]:
            body.set_alpha(0.5)
        ax.set_xticks(range(1, len(names) + 1), names)
    ax.set_ylabel("ms per frame / inference")
    values = [x for k in names for x in samples[k] if x > 0]
    if values and max(values) / max(min(values), 1e-3) > 50:
        ax.set_yscale("log")
    score = (f", precision {summary['precision']:.2f} recall {summary['recall']:.2f}"
             if "precision" in summary else "")
    ax.set_title(f"live pipeline: {summary['frames_processed']} frames processed, {summary['frames_dropped']} "
                 f"dropped, {summary['inferences']} inferences{score}", fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
