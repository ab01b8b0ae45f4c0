"""Cost per new frame of a causal streaming export vs the full-clip export of the same run, side by side.

Exports one run twice (full clip, ``--streaming``), then times in one process, 2 threads, XNNPACK:
the whole clip, and each phase signature through :class:`~edge_slr.runtime.streaming.PhaseStream.push`
(host overhead included). Prints clip latency / frames, per-phase medians, mean over phases, worst phase,
and frames per second reached. Untrained weights (graph cost does not depend on them) unless --run is given.

    .venv/bin/python tools/bench_causal_stream.py --arch r2plus1d_18_causal --frames 16 --size 112 --width 1
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np


def _median_ms(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="r2plus1d_small_causal")
    parser.add_argument("--run", type=Path, help="a trained run folder (default: an untrained one in --work)")
    parser.add_argument("--data", type=Path, default=Path("runs/causal_acc/data"), help="prepared dataset (labels)")
    parser.add_argument("--work", type=Path, default=Path("runs/bench_causal"))
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=48)
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--quant", default="fp32")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=20, help="timed runs per clip / per phase")
    args = parser.parse_args(argv)

    from edge_slr.export.exporter import ExportConfig, export
    from edge_slr.runtime.clip_classifier import ClipClassifier
    from edge_slr.runtime.streaming import open_frame_stream
    from edge_slr.train.init_run import init_run

    run = args.run
    if run is None:
        run = args.work / f"{args.arch}_{args.frames}x{args.size}_w{args.width:g}"
        if not (run / "best.keras").is_file():
            init_run(run, args.arch, args.data, frames=args.frames, size=args.size, width=args.width)
    paths = {}
    for streaming in (False, True):
        report = export(ExportConfig(source=run, quant=args.quant, streaming=streaming, val_clips=0, calib=8,
                                     calib_data=args.data, threads=args.threads))
        paths[streaming] = report.path
    rng = np.random.default_rng(0)
    with ClipClassifier(paths[False], num_threads=args.threads) as full, \
            ClipClassifier(paths[True], num_threads=args.threads) as streamed:
        frames, size = full.card.frames, full.card.size
        clip = rng.uniform(0, 255, (frames, size, size, 3)).astype(np.float32)
        full.predict(clip)  # warm-up
        clip_ms = _median_ms(lambda: full.predict(clip), args.runs)
        stream = open_frame_stream(streamed.runner, streamed.card)
        period = len(stream.schedule)
        per_phase = [[] for _ in range(period)]
        for i in range(period * (args.runs + 1)):
            start = time.perf_counter()
            stream.push(clip[i % frames])
            if i >= period:  # first pass is warm-up
                per_phase[i % period].append(time.perf_counter() - start)
        phase_ms = [1e3 * statistics.median(t) for t in per_phase]
        clip_ms_2 = _median_ms(lambda: full.predict(clip), args.runs)  # again, after: load drifts
    clip_ms = min(clip_ms, clip_ms_2)
    mean_ms = sum(phase_ms) / period
    per_frame = clip_ms / frames
    print(f"\n{args.arch} {args.quant} {frames}x{size}x{size} width {args.width:g}, {args.threads} threads")
    print(f"full clip: {clip_ms:.2f} ms median -> {per_frame:.2f} ms per frame ({1e3 / clip_ms:.1f} clips/s)")
    print("phases:   " + ", ".join(f"{stream.schedule[p]} {ms:.2f} ms" for p, ms in enumerate(phase_ms)))
    print(f"stream:   mean {mean_ms:.2f} ms per new frame = {mean_ms / per_frame:.2f}x clip/frames; worst phase "
          f"{max(phase_ms):.2f} ms ({stream.schedule[int(np.argmax(phase_ms))]}); {1e3 / mean_ms:.1f} new frames/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
