"""Tune the smoothing defaults on generated streams: record raw predictions once, replay every setting.

For each seed, the live pipeline runs the demo model over a generated sign stream (every frame, so the
result does not depend on machine load) and keeps every raw prediction. Each combination of smoothing
parameters is then replayed over those predictions with the real :class:`EventSmoother` and scored
against the ground truth (precision, recall, F1, median event latency). Prints the best settings and
where today's defaults rank.

    .venv/bin/python tools/tune_smoothing.py [--seeds 10 11 12] [--signs 20]
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np

from edge_slr.live.commands import demo_model_path
from edge_slr.live.metrics import score_events
from edge_slr.live.pipeline import LiveConfig, LivePipeline
from edge_slr.live.smoothing import EventSmoother, SmoothingConfig

GRID = {
    "ema": (0.3, 0.5, 0.7, 1.0),
    "on_threshold": (0.5, 0.6, 0.7, 0.8),
    "off_threshold": (0.25, 0.35, 0.45),
    "min_duration": (0.0, 0.15, 0.3),
    "cooldown": (0.0, 0.4, 0.8),
}


def record(seed: int, signs: int, stride: int):
    pipeline = LivePipeline(LiveConfig(source=f"synth:{seed}:{signs}", model=demo_model_path(), threads=2,
                                       every_frame=True, realtime=False, stride=stride))
    pipeline.run()
    return pipeline.predictions, pipeline.truth, pipeline.model.labels, pipeline.model.background, \
        pipeline.model.timing.clip_seconds


def replay(recorded, config: SmoothingConfig) -> tuple[float, float, float, float]:
    tp = n_events = n_signs = 0
    latencies = []
    for predictions, truth, labels, background, span in recorded:
        smoother = EventSmoother(labels, config, background)
        events = [e for t, p in predictions if (e := smoother.update(p, t)) is not None]
        score = score_events(events, truth, max_delay=span + 0.5)
        tp, n_events, n_signs = tp + score.matched, n_events + score.events, n_signs + score.signs
        latencies += score.latencies_ms
    precision, recall = tp / max(1, n_events), tp / max(1, n_signs)
    f1 = 2 * precision * recall / max(1e-9, precision + recall)
    return f1, precision, recall, float(np.median(latencies)) if latencies else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[10, 11, 12])
    parser.add_argument("--signs", type=int, default=20)
    parser.add_argument("--stride", type=int, default=2)
    args = parser.parse_args()
    recorded = [record(seed, args.signs, args.stride) for seed in args.seeds]
    results = []
    for values in itertools.product(*GRID.values()):
        params = dict(zip(GRID, values, strict=True))
        if params["off_threshold"] > params["on_threshold"]:
            continue
        results.append((replay(recorded, SmoothingConfig(**params)), params))
    results.sort(key=lambda r: (-r[0][0], r[0][3]))
    print(f"{len(results)} settings over seeds {args.seeds} ({args.signs} signs each)")
    print(f"{'F1':>6}{'prec':>7}{'recall':>7}{'lat ms':>8}  settings")
    for (f1, p, r, lat), params in results[:10]:
        print(f"{f1:6.3f}{p:7.3f}{r:7.3f}{lat:8.0f}  {params}")
    default = SmoothingConfig()
    f1, p, r, lat = replay(recorded, default)
    rank = 1 + sum(1 for (score, _) in results if score[0] > f1)
    print(f"defaults {default}: F1 {f1:.3f}, precision {p:.3f}, recall {r:.3f}, latency {lat:.0f} ms; rank {rank}")


if __name__ == "__main__":
    main()
