"""Cost per new frame of a causal streaming export vs the full-clip export of the same run, side by side.

Exports one run twice (full clip, ``--streaming``; ``--reuse`` keeps exports already on disk), then times in
one process, 2 threads, XNNPACK, in interleaved rounds (the machine is shared: load drifts hit every case alike):
each round runs the whole clip once and one full period of frames (the step signatures due on each) through
:class:`~edge_slr.runtime.streaming.PhaseStream.push` (host copies included) on each stream, in a rotating order.
``--compare`` adds other streaming exports of the same model (e.g. written by an earlier commit) to the same
rounds. Prints clip latency / frames, per-frame-position medians, their mean, the worst position, and new frames per
second. Untrained weights (graph cost does not depend on them) unless --run is given. ``--breakdown`` splits the
ratio: the ops' own work (each op timed alone), the graphs warm, whole periods pushed back to back (state copies,
frame writes, steps following each other), and the rounds.

    .venv/bin/python tools/bench_causal_stream.py --arch r2plus1d_18_causal --frames 16 --size 112 --width 1 \\
        --data runs/pb_final/prepared_112 --quant int8
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="r2plus1d_small_causal", help="a *_causal architecture")
    parser.add_argument("--run", type=Path, help="a trained run folder (default: an untrained one in --work)")
    parser.add_argument("--data", type=Path, default=Path("runs/causal_acc/data"),
                        help="prepared dataset (labels; int8 calibration: its stored frames must be >= --size)")
    parser.add_argument("--work", type=Path, default=Path("runs/bench_causal"), help="where untrained runs go")
    parser.add_argument("--frames", type=int, default=16, help="clip frames of the untrained run")
    parser.add_argument("--size", type=int, default=48, help="frame size of the untrained run")
    parser.add_argument("--width", type=float, default=0.25, help="width multiplier of the untrained run")
    parser.add_argument("--quant", default="fp32", help="export format of both files (fp32, fp16, dynamic, int8)")
    parser.add_argument("--threads", type=int, default=2, help="interpreter threads")
    parser.add_argument("--rounds", type=int, default=20, help="timed rounds (one clip + one period per stream)")
    parser.add_argument("--reuse", action="store_true", help="keep exports already in the run's export folder")
    parser.add_argument("--compare", type=Path, action="append", default=[],
                        help="another streaming export of the same model to time in the same rounds (repeatable)")
    parser.add_argument("--breakdown", action="store_true",
                        help="also split each stream's cost per new frame: its ops timed alone, its step graphs "
                             "warm, and whole periods pushed back to back (state copies included), each vs the clip")
    args = parser.parse_args(argv)

    from tqdm import tqdm

    from edge_slr.export.exporter import ExportConfig, export
    from edge_slr.runtime.clip_classifier import ClipClassifier
    from edge_slr.runtime.streaming import open_frame_stream
    from edge_slr.train.init_run import init_run

    run = args.run
    if run is None:
        run = args.work / f"{args.arch}_{args.frames}x{args.size}_w{args.width:g}"
        if not (run / "best.keras").is_file():
            init_run(run, args.arch, args.data, frames=args.frames, size=args.size, width=args.width)
    paths = []
    for streaming in (False, True):
        out = run / "export" / f"{args.arch}_{args.quant}{'_stream' if streaming else ''}.tflite"
        if not (args.reuse and out.is_file()):
            export(ExportConfig(source=run, quant=args.quant, streaming=streaming, val_clips=0, calib=8,
                                calib_data=args.data, threads=args.threads, out=out))
        paths.append(out)
    paths += args.compare
    rng = np.random.default_rng(0)
    models = [ClipClassifier(p, num_threads=args.threads) for p in paths]
    try:
        full, streamed = models[0], models[1:]
        frames, size = full.card.frames, full.card.size
        clip = rng.uniform(0, 255, (frames, size, size, 3)).astype(np.float32)
        streams = [open_frame_stream(m.runner, m.card) for m in streamed]
        cases = [lambda: full.predict(clip)]
        per_position = []
        for stream in streams:
            times: list[list[float]] = [[] for _ in stream.schedule]
            per_position.append(times)
            cases.append(lambda s=stream, t=times: _period(s, clip, t))
        for case in cases:  # warm-up: XNNPACK packs weights on the first invoke
            case()
        for times in per_position:
            for t in times:
                t.clear()
        clip_times = []
        for r in tqdm(range(args.rounds), desc="rounds", unit="round", leave=False):
            for k in range(len(cases)):
                c = (k + r) % len(cases)
                if c == 0:
                    start = time.perf_counter()
                    cases[0]()
                    clip_times.append(time.perf_counter() - start)
                else:
                    cases[c]()
        breakdowns = [_breakdown(full, path, stream, clip, args)
                      for path, stream in zip(paths[1:], streams, strict=True)] if args.breakdown else []
    finally:
        for m in models:
            m.close()
    clip_ms = 1e3 * statistics.median(clip_times)
    per_frame = clip_ms / frames
    print(f"\n{args.arch} {args.quant} {frames}x{size}x{size} width {args.width:g}, {args.threads} threads, "
          f"{args.rounds} interleaved rounds")
    print(f"full clip {paths[0].name}: {clip_ms:.2f} ms median -> {per_frame:.2f} ms per frame "
          f"({1e3 / clip_ms:.1f} clips/s)")
    headlines = []
    for path, stream, times in zip(paths[1:], streams, per_position, strict=True):
        position_ms = [1e3 * statistics.median(t) for t in times]
        mean_ms = sum(position_ms) / len(position_ms)
        headlines.append(mean_ms)
        worst = int(np.argmax(position_ms))
        print(f"stream {path.name}: mean {mean_ms:.2f} ms per new frame = {mean_ms / per_frame:.2f}x clip/frames; "
              f"worst frame position {worst} ({'+'.join(stream.schedule[worst])}) {position_ms[worst]:.2f} ms; "
              f"{1e3 / mean_ms:.1f} new frames/s")
        print("  per frame position: " + ", ".join(f"{p} {ms:.2f}" for p, ms in enumerate(position_ms)))
    for path, rows, mean_ms in zip(paths[1:], breakdowns, headlines, strict=False):  # no rows without --breakdown
        print(f"\nwhere {path.name}'s cost per new frame goes (ms per frame; clip: the same measure / {frames}):")
        print(f"  {'':44s} {'clip':>7s} {'stream':>7s}  ratio")
        for label, clip_cell, stream_cell in [*rows, ("in the rounds (the headline)", per_frame, mean_ms)]:
            print(f"  {label:44s} {clip_cell:7.3f} {stream_cell:7.3f}  {stream_cell / clip_cell:.2f}x")
    return 0


def _breakdown(full, path: Path, stream, clip: np.ndarray, args: argparse.Namespace
               ) -> list[tuple[str, float, float]]:
    """Rows (what, clip ms per frame, stream ms per frame) that add the stream's costs one at a time: the ops'
    own work (each op timed alone, as ``bench --profile``), the graphs invoked warm (each repeated back to back;
    steps weighted by how often they are due), and whole periods pushed back to back (state copies and frame
    writes included). The rounds' figures (each case after the others ran, as a live pipeline calls a model
    between other work) are the headline above."""
    from edge_slr.bench.profile import profile_model

    frames, period = len(clip), len(stream.schedule)
    calls = [sig for entry in stream.schedule for sig in entry]
    steps = stream.steps
    share = {sig: calls.count(sig) / period for sig in steps}  # calls per new frame
    ops_clip = profile_model(full.runner.path, threads=args.threads).sum_ms / frames
    ops_stream = sum(profile_model(path, threads=args.threads, signature=sig).sum_ms * share[sig] for sig in steps)
    warm: dict[str, list[float]] = {sig: [] for sig in [*steps, "clip", "push"]}
    for _ in range(args.rounds):
        for sig, bound in steps.items():
            warm[sig].append(_median_of_repeats(bound.invoke))
        warm["clip"].append(_median_of_repeats(lambda: full.predict(clip)) / frames)
        stream.reset()  # invoking steps alone left its state undefined
        warm["push"].append(_median_of_repeats(lambda: [stream.push(clip[p % frames]) for p in range(period)])
                            / period)
    ms = {key: 1e3 * statistics.median(t) for key, t in warm.items()}
    return [("ops timed alone, summed", ops_clip, ops_stream),
            ("whole graphs warm (each repeated alone)", ms["clip"], sum(ms[sig] * share[sig] for sig in steps)),
            ("pushes warm (periods back to back)", ms["clip"], ms["push"])]


def _median_of_repeats(call, repeats: int = 5) -> float:
    """Seconds of one call, the median of ``repeats`` back-to-back calls after one that warms the caches."""
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _period(stream, clip: np.ndarray, times: list[list[float]]) -> None:
    """One push per frame position, each timed (the frames cycle through the clip)."""
    for p in range(len(stream.schedule)):
        start = time.perf_counter()
        stream.push(clip[p % len(clip)])
        times[p].append(time.perf_counter() - start)


if __name__ == "__main__":
    sys.exit(main())
