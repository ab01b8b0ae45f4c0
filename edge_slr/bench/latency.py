"""Latency of .tflite models x thread counts, measured interleaved round by round.

Each (model, threads) case is loaded (load time = interpreter creation + tensor allocation + delegate
preparation), run once (first inference: XNNPACK packs weights lazily), warmed up, and then every
round runs each live case once, in an order that rotates from round to round. Load changes on a
shared machine (another process, thermal throttling) therefore hit every case alike, which makes the
ratios between models trustworthy even when the absolute numbers drift.

A case that cannot load or run becomes a failed row with its reason; the others carry on.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge_slr.errors import UserError
from edge_slr.runtime.delegates import load_external_delegate
from edge_slr.runtime.model_card import ModelCard, read_model_card
from edge_slr.runtime.runner import TFLiteRunner
from edge_slr.runtime.xnnpack import xnnpack_stats

from .host import HostInfo, current_rss_mb, host_info, load_average, peak_rss_mb
from .inputs import clip_sources, load_clips
from .workload import Workload, build_workload

XNNPACK, NO_DELEGATE = "xnnpack", "none"


@dataclass(frozen=True)
class BenchConfig:
    threads: tuple[int, ...] = (os.cpu_count() or 1,)
    runs: int = 50  # steady-state rounds (at least)
    warmup: int = 5
    min_time: float = 1.0  # keep adding rounds until the steady state has run this many seconds
    delegate: str = XNNPACK  # "xnnpack", "none", or the path of an external delegate library
    signature: str | None = None
    data: Path | None = None  # folder of videos / frame folders (None: random inputs)
    hands_model: Path | None = None  # MediaPipe bundle for models whose card names a hand-based crop
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.threads or min(self.threads) < 1:
            raise UserError(f"thread counts must be >= 1, got {list(self.threads)}")
        if self.runs < 1 or self.warmup < 0 or self.min_time < 0:
            raise UserError("need --runs >= 1, --warmup >= 0 and --min-time >= 0")


@dataclass
class BenchRow:
    """One (model, threads) result. Times are milliseconds; steady-state stats are None when it failed."""

    model: str
    path: str
    threads: int
    delegate: str
    workload: str = ""
    inputs: str = ""  # "random" or "N clips" (from --data)
    status: str = "ok"  # "ok" or "failed"
    reason: str = ""
    size_mb: float = 0.0
    load_ms: float | None = None
    first_ms: float | None = None
    warmup_ms: float | None = None  # mean of the warm-up runs
    runs: int = 0
    p50_ms: float | None = None
    p90_ms: float | None = None
    p99_ms: float | None = None
    mean_ms: float | None = None
    std_ms: float | None = None
    min_ms: float | None = None
    max_ms: float | None = None
    per_second: float | None = None  # calls per second at the mean latency, one call at a time
    gflop: float | None = None  # GFLOP of one call (model card)
    gflop_estimated: bool = False  # True when derived (a stream step's share of the clip's FLOPs)
    gflops_per_s: float | None = None  # achieved, at the median
    rss_mb: float | None = None  # resident memory added by loading this case and its first inference
    delegated_ops: int | None = None
    total_ops: int | None = None
    coverage: str = ""  # e.g. "xnnpack 100% (1 partition)"
    times_ms: list[float] = field(default_factory=list, repr=False)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def fail(self, reason: str) -> None:
        self.status, self.reason = "failed", reason


@dataclass
class BenchResult:
    host: HostInfo
    config: BenchConfig
    load_start: tuple[float, float, float] | None
    load_end: tuple[float, float, float] | None
    peak_rss_mb: float
    wall_s: float
    rows: list[BenchRow]

    def as_dict(self) -> dict[str, Any]:
        config = asdict(self.config)
        config["data"] = str(self.config.data) if self.config.data else None
        return {"host": asdict(self.host), "config": config, "load_average_start": self.load_start,
                "load_average_end": self.load_end, "peak_rss_mb": round(self.peak_rss_mb, 1),
                "wall_s": round(self.wall_s, 2), "rows": [asdict(r) for r in self.rows]}


@dataclass
class _Case:
    row: BenchRow
    runner: TFLiteRunner | None = None
    workload: Workload | None = None


def run_bench(models: Sequence[str | os.PathLike[str]], config: BenchConfig,
              log: Callable[[str], None] = lambda _: None) -> BenchResult:
    """Measure every model at every thread count; failures become failed rows, never exceptions."""
    t_start = time.perf_counter()
    load_start = load_average()
    sources = clip_sources(config.data) if config.data is not None else None  # bad --data: fail before work
    cases = [_Case(BenchRow(model=Path(m).name, path=str(m), threads=t, delegate=_delegate_label(config.delegate)))
             for m in models for t in config.threads]
    coverage: dict[str, tuple[int, int, str] | None] = {}
    rng = np.random.default_rng(config.seed)
    for case in cases:
        _guard(case, lambda c=case: _load(c, config, rng, sources, coverage))
        if case.row.ok:
            log(f"loaded {case.row.model} ({case.row.threads} thread(s)) in {case.row.load_ms:.0f} ms, "
                f"first inference {case.row.first_ms:.1f} ms")
        else:
            log(f"{case.row.model} ({case.row.threads} thread(s)) failed: {case.row.reason}")
    _steady_state(cases, config)
    for case in cases:
        if case.runner is not None:
            case.runner.close()
        if case.row.ok:
            _summarize(case.row)
    return BenchResult(host=host_info(), config=config, load_start=load_start, load_end=load_average(),
                       peak_rss_mb=peak_rss_mb(), wall_s=time.perf_counter() - t_start,
                       rows=[c.row for c in cases])


def _guard(case: _Case, work: Callable[[], None]) -> None:
    """Run ``work``; any failure marks the case failed instead of ending the benchmark."""
    try:
        work()
    except Exception as exc:  # noqa: BLE001 - a broken model must become a row, whatever it raised
        _fail(case, exc)


def _fail(case: _Case, exc: Exception) -> None:
    """Mark the case failed with a one-line reason and release its runner."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    case.row.fail(text if isinstance(exc, UserError) else f"{type(exc).__name__}: {text}".rstrip(": "))
    if case.runner is not None:
        case.runner.close()
        case.runner = None


def _delegate_label(delegate: str) -> str:
    return delegate if delegate in (XNNPACK, NO_DELEGATE) else Path(delegate).name


def _load(case: _Case, config: BenchConfig, rng: np.random.Generator, sources: list[Path] | None,
          coverage: dict[str, tuple[int, int, str] | None]) -> None:
    row = case.row
    path = Path(row.path)
    row.size_mb = path.stat().st_size / 2**20 if path.is_file() else 0.0
    rss_before = current_rss_mb()
    external = config.delegate not in (XNNPACK, NO_DELEGATE)
    t0 = time.perf_counter()
    delegates = [load_external_delegate(config.delegate)] if external else []
    case.runner = TFLiteRunner(path, num_threads=row.threads, use_xnnpack=config.delegate != NO_DELEGATE,
                               delegates=delegates)
    row.load_ms = (time.perf_counter() - t0) * 1e3
    card = _card(case.runner)
    clips = (load_clips(sources, card, hands_model=config.hands_model)
             if sources is not None and card is not None else None)
    if sources is not None and card is None:
        raise UserError("--data needs the model card (input size and frames) of an edge-slr export")
    case.workload = build_workload(case.runner, card, config.signature, rng, clips)
    row.workload = case.workload.label
    row.inputs = f"{case.workload.real_inputs} clips" if case.workload.real_inputs else "random"
    if case.workload.flops:
        row.gflop, row.gflop_estimated = case.workload.flops / 1e9, not case.workload.flops_exact
    t0 = time.perf_counter()
    case.workload.call()
    row.first_ms = (time.perf_counter() - t0) * 1e3
    warm = []
    for _ in range(config.warmup):
        t0 = time.perf_counter()
        case.workload.call()
        warm.append((time.perf_counter() - t0) * 1e3)
    row.warmup_ms = float(np.mean(warm)) if warm else None
    row.rss_mb = max(0.0, current_rss_mb() - rss_before)
    key = f"{row.path}|{row.workload}"
    if key not in coverage:
        coverage[key] = _coverage(case.runner, case.workload, config.delegate)
    if coverage[key] is not None:
        row.delegated_ops, row.total_ops, row.coverage = coverage[key]


def _card(runner: TFLiteRunner) -> ModelCard | None:
    """The model card, or None for files not exported by edge-slr (they still benchmark, on random inputs)."""
    try:
        return read_model_card(runner.model)
    except UserError:
        return None


def _coverage(runner: TFLiteRunner, workload: Workload, delegate: str) -> tuple[int, int, str] | None:
    """Ops of the workload's subgraphs that the delegate runs: measured for XNNPACK, 0 for none,
    unknown (None) for external delegates (they report their own coverage in their logs)."""
    model = runner.model
    indices = {0 if key is None else next(s.subgraph_index for s in model.signatures if s.key == key)
               for key in workload.signatures}
    total = sum(len(model.subgraphs[i].operators) for i in indices)
    if delegate == NO_DELEGATE:
        return 0, total, "none (TFLite kernels)"
    if delegate != XNNPACK:
        return None
    try:
        stats = [s for s in xnnpack_stats(runner.path) if s.subgraph in indices]
    except UserError:
        return None
    if len(stats) != len(indices):  # control-flow models: only the primary subgraph is measured
        return None
    done = sum(s.delegated_ops for s in stats)
    parts = sum(s.partitions for s in stats)
    # Each signature is its own graph: several signatures are that many partitions even when each runs whole.
    where = f"{parts} partition{'s' if parts != 1 else ''}" + (f" in {len(stats)} signatures" if len(stats) > 1 else "")
    left = sorted({name for s in stats for _, name in s.cpu_ops})
    text = f"xnnpack {done / total:.0%} ({where})" if total else "xnnpack -"
    if left:
        text += f"; not: {', '.join(left)}"
    return done, total, text


def time_interleaved(cases: Sequence[tuple[BenchRow, Workload]], config: BenchConfig) -> None:
    """Warm up every (row, workload), then time all of them in the rotating rounds of :func:`run_bench`.

    For callers that compare a TFLite workload with foreign ones (``tools/peer_bench.py`` times PyTorch and
    ONNX Runtime next to our runner): one loop for all, so a load change on the machine hits every case alike.
    Each row gets its first-call and warm-up times and its steady-state statistics; a failing call fails its row.
    """
    live = [_Case(row, workload=workload) for row, workload in cases]
    for case in live:
        _guard(case, lambda c=case: _warm(c, config.warmup))
    _steady_state(live, config)
    for case in live:
        if case.row.ok:
            _summarize(case.row)


def _warm(case: _Case, warmup: int) -> None:
    assert case.workload is not None
    t0 = time.perf_counter()
    case.workload.call()
    case.row.first_ms = (time.perf_counter() - t0) * 1e3
    warm = []
    for _ in range(warmup):
        t0 = time.perf_counter()
        case.workload.call()
        warm.append((time.perf_counter() - t0) * 1e3)
    case.row.warmup_ms = float(np.mean(warm)) if warm else None
    if case.workload.flops:
        case.row.gflop, case.row.gflop_estimated = case.workload.flops / 1e9, not case.workload.flops_exact


def _steady_state(cases: list[_Case], config: BenchConfig) -> None:
    live = [c for c in cases if c.row.ok]
    start = time.perf_counter()
    rounds = 0
    while live and (rounds < config.runs or time.perf_counter() - start < config.min_time):
        shift = rounds % len(live)
        for case in live[shift:] + live[:shift]:
            assert case.workload is not None
            call = case.workload.call
            try:
                t0 = time.perf_counter()
                call()
                case.row.times_ms.append((time.perf_counter() - t0) * 1e3)
            except Exception as exc:  # noqa: BLE001 - same rule as loading: the row fails, the run goes on
                _fail(case, exc)
        live = [c for c in live if c.row.ok]
        rounds += 1


def _summarize(row: BenchRow) -> None:
    t = np.asarray(row.times_ms)
    row.runs = int(t.size)
    row.p50_ms, row.p90_ms, row.p99_ms = (float(v) for v in np.percentile(t, [50, 90, 99]))
    row.mean_ms, row.std_ms = float(t.mean()), float(t.std(ddof=1)) if t.size > 1 else 0.0
    row.min_ms, row.max_ms = float(t.min()), float(t.max())
    row.per_second = 1e3 / row.mean_ms if row.mean_ms > 0 else math.inf
    if row.gflop is not None and row.p50_ms > 0:
        row.gflops_per_s = row.gflop / (row.p50_ms / 1e3)


def baseline_ratios(rows: Sequence[BenchRow]) -> list[float | None]:
    """Per row: its median over the median of the first model's row at the same thread count."""
    first = rows[0].path if rows else None
    base = {r.threads: r.p50_ms for r in rows if r.path == first and r.ok}
    return [r.p50_ms / base[r.threads] if r.ok and r.p50_ms is not None and base.get(r.threads) else None
            for r in rows]
