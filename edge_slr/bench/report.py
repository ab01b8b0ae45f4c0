"""Bench results as a console table, JSON, CSV and a plot of the latency distributions.

The table is what a user reads on a device's terminal: one line per (model, threads), the ratio of
each median to the first model's at the same thread count, failed rows with their reason below.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from dataclasses import asdict, fields

from edge_slr.utils.atomic import atomic_path, write_json, write_text

from .latency import BenchResult, BenchRow, baseline_ratios
from .litert_tool import LiteRtRow


def _f(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _ms(value: float | None) -> str:
    """Milliseconds with about three significant digits: 215, 21.5, 2.15, 0.215, 0.0215."""
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:#.3g}"


def header_lines(result: BenchResult) -> list[str]:
    h, c = result.host, result.config
    load = " -> ".join(" ".join(f"{v:.2f}" for v in la) if la else "?" for la in (result.load_start, result.load_end))
    inputs = f"clips from {c.data}" if c.data else "random inputs"
    rounds = max((r.runs for r in result.rows if r.ok), default=0)
    return [f"host: {h.cpu}, {h.cores} cores, {h.machine}, {h.system}, Python {h.python}, "
            f"ai-edge-litert {h.litert_version}",
            f"load average (1/5/15 min) at start -> end: {load}",
            f"delegate {c.delegate}; {rounds} interleaved rounds (at least {c.runs} and {c.min_time:g} s) after "
            f"{c.warmup} warm-up; "
            f"{inputs}; peak RSS {result.peak_rss_mb:.0f} MB; {result.wall_s:.1f} s"]


_COLUMNS = ("model", "workload", "thr", "load ms", "first", "warm", "p50 ms", "p90", "p99", "mean", "std",
            "/s", "GFLOP/s", "MB", "+RSS MB", "delegated", "vs first")


def table(result: BenchResult) -> str:
    """Header lines, the aligned table, then one line per failed row."""
    rows = result.rows
    ratios = baseline_ratios(rows)
    cells = []
    for row, ratio in zip(rows, ratios, strict=True):
        if not row.ok:
            cells.append([row.model, row.workload or "-", str(row.threads), "FAILED"] + [""] * (len(_COLUMNS) - 4))
            continue
        gflops = "-" if row.gflops_per_s is None else ("~" if row.gflop_estimated else "") + _f(row.gflops_per_s, 1)
        cells.append([row.model, row.workload, str(row.threads), _ms(row.load_ms), _ms(row.first_ms),
                      _ms(row.warmup_ms), _ms(row.p50_ms), _ms(row.p90_ms), _ms(row.p99_ms), _ms(row.mean_ms),
                      _ms(row.std_ms), _f(row.per_second, 0), gflops, _f(row.size_mb), _f(row.rss_mb, 1),
                      row.coverage or "?", "-" if ratio is None else f"{ratio:.2f}x"])
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(_COLUMNS)]
    left = {0, 1, 15}

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.ljust(w) if i in left else v.rjust(w) for i, (v, w) in enumerate(zip(values, widths,
                                                                                            strict=True))).rstrip()

    out = [*header_lines(result), "", line(_COLUMNS), *(line(c) for c in cells)]
    failed = [r for r in rows if not r.ok]
    if failed:
        out.append("")
        out.extend(f"FAILED {r.model} ({r.threads} thread(s)): {r.reason}" for r in failed)
    if any(r.ok and r.gflop_estimated for r in rows):
        out.append("~ per-frame FLOPs estimated as the card's clip FLOPs / frames")
    return "\n".join(out)


def litert_table(rows: Sequence[LiteRtRow], ours: Sequence[BenchRow]) -> str:
    """litert-benchmark's numbers next to our medians for the same file and thread count."""
    mine = {(r.model, r.threads): r for r in ours}
    out = ["litert-benchmark (CompiledModel, raw buffers) on the same files:",
           f"{'model':<36} {'thr':>3} {'signature':<24} {'init ms':>8} {'median':>8} {'p5':>8} {'p95':>8} "
           f"{'ours p50':>9}"]
    for r in rows:
        ours_row = mine.get((r.model, r.threads))
        ours_p50 = _ms(ours_row.p50_ms) if ours_row and ours_row.ok else "-"
        if r.status != "ok":
            out.append(f"{r.model:<36} {r.threads:>3} {r.signature:<24} FAILED: {r.reason}")
            continue
        out.append(f"{r.model:<36} {r.threads:>3} {r.signature:<24} {_ms(r.init_ms):>8} {_ms(r.median_ms):>8} "
                   f"{_ms(r.p5_ms):>8} {_ms(r.p95_ms):>8} {ours_p50:>9}")
    return "\n".join(out)


def to_json(result: BenchResult, litert: Sequence[LiteRtRow] = ()) -> dict:
    data = result.as_dict()
    for row, ratio in zip(data["rows"], baseline_ratios(result.rows), strict=True):
        row["vs_first"] = ratio
    if litert:
        data["litert_benchmark"] = [asdict(r) for r in litert]
    return data


def write_json_report(path: str | os.PathLike[str], result: BenchResult, litert: Sequence[LiteRtRow] = ()) -> None:
    write_json(path, to_json(result, litert))


def write_csv(path: str | os.PathLike[str], result: BenchResult) -> None:
    """One CSV line per row (no per-run times: those are in the JSON)."""
    names = [f.name for f in fields(BenchRow) if f.name != "times_ms"] + ["vs_first"]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=names, lineterminator="\n")
    writer.writeheader()
    for row, ratio in zip(result.rows, baseline_ratios(result.rows), strict=True):
        values = {k: v for k, v in asdict(row).items() if k != "times_ms"}
        writer.writerow({**values, "vs_first": ratio})
    write_text(path, buf.getvalue())


def write_plot(path: str | os.PathLike[str], result: BenchResult) -> None:
    """Steady-state latency distributions side by side: one panel per thread count, one violin per model.

    A log axis when the medians differ by more than 8x, so a 5 ms and a 0.3 ms model both stay readable.
    """
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    threads = sorted({r.threads for r in result.rows})
    models = list(dict.fromkeys(r.model for r in result.rows))
    fig, axes = plt.subplots(1, len(threads), figsize=(max(4.5, 1.6 * len(models)) * len(threads), 4.8),
                             sharey=True, squeeze=False)
    medians = [r.p50_ms for r in result.rows if r.ok and r.p50_ms]
    log = bool(medians) and max(medians) / min(medians) > 8
    for ax, t in zip(axes[0], threads, strict=True):
        by_model = {r.model: r for r in result.rows if r.threads == t}
        positions = list(range(1, len(models) + 1))
        data = [(p, by_model[m]) for p, m in zip(positions, models, strict=True)
                if m in by_model and by_model[m].ok and by_model[m].times_ms]
        if data:
            parts = ax.violinplot([r.times_ms for _, r in data], positions=[p for p, _ in data], showmedians=True,
                                  showextrema=True, widths=0.8)
            for body in parts["bodies"]:
                body.set_alpha(0.5)
            for p, r in data:
                ax.annotate(f"p50 {r.p50_ms:.2f}\np99 {r.p99_ms:.2f}", (p + 0.42, r.p50_ms), xytext=(2, 0),
                            textcoords="offset points", fontsize=7, va="center",
                            bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.8})
        for p, m in zip(positions, models, strict=True):
            if m in by_model and not by_model[m].ok:
                ax.text(p, 0.5, "failed", transform=ax.get_xaxis_transform(), ha="center", color="red")
        ax.set_xticks(positions, [_wrap(m) for m in models], fontsize=7)
        ax.set_xlim(0.4, len(models) + 0.9)
        ax.set_title(f"{t} thread{'s' if t != 1 else ''}")
        ax.grid(axis="y", alpha=0.3)
        if log:
            ax.set_yscale("log")
            plain = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}")
            ax.yaxis.set_major_formatter(plain)
            ax.yaxis.set_minor_formatter(plain)
            ax.tick_params(axis="y", which="minor", labelsize=7)
    axes[0][0].set_ylabel("latency per call (ms)")
    fig.suptitle(f"edge-slr bench: {result.host.cpu} ({result.host.cores} cores), "
                 f"delegate {result.config.delegate}", fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


def _wrap(name: str, width: int = 18) -> str:
    """Break a long file name at underscores into lines of about ``width`` characters."""
    lines = [""]
    for part in name.removesuffix(".tflite").split("_"):
        sep = "_" if lines[-1] else ""
        if lines[-1] and len(lines[-1]) + len(part) + 1 > width:
            lines.append(part)
        else:
            lines[-1] += sep + part
    return "\n".join(lines)
