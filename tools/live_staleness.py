"""An artificially slow model over a long paced stream: does the live pipeline stay current?

Runs the live pipeline in real time on a generated sign stream twice, side by side in one process: with
the demo model as it is (baseline), and with every inference made ``--factor`` times the frame interval
slower (``--extra-latency-ms``, what a slow device does). Prints staleness (age of the newest frame when
an inference starts) for the first and the second half of each run, so growth would show, plus frames
captured / processed / dropped and ring overwrites.

    .venv/bin/python tools/live_staleness.py [--seconds 120] [--factor 3]
"""

from __future__ import annotations

import argparse
import os

import numpy as np

from edge_slr.live.commands import demo_model_path
from edge_slr.live.pipeline import LiveConfig, LivePipeline


def run(seconds: float, extra_ms: float, signs: int) -> tuple[dict, np.ndarray]:
    pipeline = LivePipeline(LiveConfig(source=f"synth:5:{signs}", model=demo_model_path(), threads=2, stride=1,
                                       extra_latency_ms=extra_ms, max_seconds=seconds))
    pipeline.run()
    return pipeline.summary(), np.array(pipeline.staleness_ms())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--factor", type=float, default=3.0, help="inference time as a multiple of the frame interval")
    args = parser.parse_args()
    interval_ms = 1000 / 25
    signs = int(args.seconds / 2.5) + 4
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    print(f"{'run':<22}{'frames cap/proc/drop':>22}{'ring over':>10}{'infer':>7}{'infer p50':>10}"
          f"{'stale p50 1st/2nd half':>24}{'stale max':>10}")
    for name, extra in (("baseline", 0.0), (f"{args.factor:g}x frame interval", args.factor * interval_ms)):
        s, stale = run(args.seconds, extra, signs)
        half = len(stale) // 2
        first, second = np.median(stale[:half]), np.median(stale[half:])
        counts = f"{s['frames_captured']}/{s['frames_processed']}/{s['frames_dropped']}"
        print(f"{name:<22}{counts:>22}{s['ring_overwritten']:>10}{s['inferences']:>7}"
              f"{s['stages']['inference']['p50_ms']:>9.1f} {first:>11.1f} / {second:<10.1f}{stale.max():>10.1f}")
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
