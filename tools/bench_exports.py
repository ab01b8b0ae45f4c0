"""Latency of exported .tflite files, side by side in one run (the first file is the baseline).

    python tools/bench_exports.py A.tflite B.tflite ... [--threads 2] [--runs 50] [--warmup 5]

Each model runs on zeros-free random clips through the project's TFLiteRunner with XNNPACK.
Prints median / p90 / p99 milliseconds per invoke and the ratio of each median to the first
file's. Files are measured interleaved, round by round, so load changes on a shared machine hit
every file alike. For a streaming model the per-frame path (encode_frame + lstm_step) is timed.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from edge_slr.runtime.model_card import read_model_card
from edge_slr.runtime.runner import TFLiteRunner


def _invoker(runner: TFLiteRunner, rng: np.random.Generator):
    card = read_model_card(runner.model)
    if not card.streaming:
        clip = rng.uniform(0, 255, (card.frames, card.size, card.size, 3)).astype(np.float32)
        return lambda: runner.run(clip)
    frame = rng.uniform(0, 255, (1, card.size, card.size, 3)).astype(np.float32)
    state = {s.name: np.zeros(s.shape, np.float32) for s in runner.input_specs("lstm_step") if s.name != "feature"}

    def per_frame():
        feature = runner.run(frame, "encode_frame")["feature"]
        return runner.run({"feature": feature, **state}, "lstm_step")

    return per_frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", type=Path)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    runners = [TFLiteRunner(p, num_threads=args.threads) for p in args.models]
    invokers = [_invoker(r, rng) for r in runners]
    for call in invokers:
        for _ in range(args.warmup):
            call()
    times: list[list[float]] = [[] for _ in invokers]
    for _ in range(args.runs):
        for i, call in enumerate(invokers):
            start = time.perf_counter()
            call()
            times[i].append((time.perf_counter() - start) * 1e3)
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"{args.threads} thread(s), {args.runs} runs after {args.warmup} warm-up, load average {load}")
    base = float(np.median(times[0]))
    print(f"{'model':<44} {'median ms':>9} {'p90':>8} {'p99':>8} {'vs first':>8}")
    for path, t in zip(args.models, times, strict=True):
        med = float(np.median(t))
        print(f"{path.name:<44} {med:>9.2f} {np.percentile(t, 90):>8.2f} {np.percentile(t, 99):>8.2f} "
              f"{med / base:>7.2f}x")
    for runner in runners:
        runner.close()


if __name__ == "__main__":
    main()
