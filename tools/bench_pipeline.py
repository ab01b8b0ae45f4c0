"""Throughput of the tf.data input pipeline alone (no model), in clips per second.

Usage: ``python tools/bench_pipeline.py DATA_DIR [--frames 16 --size 112 --batch 8 --clips 800]``

DATA_DIR is a folder written by ``edge-slr prepare``. The split is repeated, so a small dataset
still gives a long enough run. Train mode includes shuffling and augmentation; eval mode is the
deterministic path. The machine's load average is printed before and after, because these
numbers only mean something next to what else was running.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from edge_slr.data.info import load_dataset_info
from edge_slr.data.pipeline import make_dataset


def measure(ds, clips: int, warmup_batches: int) -> tuple[float, float]:  # noqa: ANN001 (a tf.data.Dataset)
    """(clips/s, CPU ms per clip) over ``clips`` clips, after ``warmup_batches`` batches.

    CPU time per clip (this process, all threads) does not depend on what else runs on a shared
    machine, so it is the number to compare between runs; clips/s is what this run got.
    """
    it = iter(ds.repeat())
    for _ in range(warmup_batches):
        next(it)
    n, start, cpu = 0, time.perf_counter(), time.process_time()
    while n < clips:
        x, _ = next(it)
        n += int(x.shape[0])
    return n / (time.perf_counter() - start), 1000 * (time.process_time() - cpu) / n


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data_dir")
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--size", type=int, default=112)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--clips", type=int, default=800, help="clips timed per mode (default: 800)")
    p.add_argument("--warmup", type=int, default=5, help="batches before timing (default: 5)")
    p.add_argument("--train-split", default="train")
    p.add_argument("--eval-split", default=None, help="default: val if present, else the train split")
    args = p.parse_args(argv)

    info = load_dataset_info(args.data_dir)
    eval_split = args.eval_split or ("val" if "val" in info.splits else args.train_split)
    cores = len(os.sched_getaffinity(0))
    print(f"data: {info.data_dir} ({', '.join(f'{k} {v.clips}' for k, v in info.splits.items())} clips, "
          f"stored {info.clip_spec.stored_frames}x{info.clip_spec.size}px)")
    print(f"clip: {args.frames}x{args.size}x{args.size}, batch {args.batch}; {cores} usable core(s); "
          f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for mode, split, training, deterministic in (
        ("train (augmented, unordered)", args.train_split, True, False),
        ("train (augmented, ordered)", args.train_split, True, True),
        ("eval (deterministic)", eval_split, False, True),
    ):
        ds = make_dataset(info, split, frames=args.frames, size=args.size, batch=args.batch,
                          training=training, deterministic=deterministic)
        rate, cpu_ms = measure(ds, args.clips, args.warmup)
        print(f"{mode:<30} split {split:<6} {rate:8.1f} clips/s  {cpu_ms:6.2f} CPU ms/clip "
              f"(-> {1000 * cores / cpu_ms:.0f} clips/s if {cores} cores were free)")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
