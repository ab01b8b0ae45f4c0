"""Non-model overhead of the live pipeline per frame: capture, preprocess, smoothing, and MediaPipe hands.

Runs the pipeline over the same video twice in one process, every frame (``--every-frame``), once without
and once with the MediaPipe hand landmarker, and prints each stage's mean and p90 per frame next to the
model's own inference time, so the share of the frame budget that is not the model is visible.

    .venv/bin/python tools/live_overhead.py [VIDEO] [--hands-model ../shared/models/mediapipe/hand_landmarker.task]

VIDEO defaults to a generated 160x120 synth stream; pass a real clip (e.g. one of ../shared/data/hzj_colors,
480x360) to see camera-sized frames.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from edge_slr.data.synth import SynthConfig, generate_stream
from edge_slr.live.commands import demo_model_path
from edge_slr.live.pipeline import LiveConfig, LivePipeline

STAGES = ("capture", "hands", "preprocess", "inference", "smoothing")
DEFAULT_HANDS = Path(__file__).resolve().parents[2] / "shared" / "models" / "mediapipe" / "hand_landmarker.task"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", nargs="?", type=Path)
    parser.add_argument("--hands-model", type=Path, default=DEFAULT_HANDS if DEFAULT_HANDS.is_file() else None)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        video = args.video
        if video is None:
            video, _ = generate_stream(SynthConfig(out=Path(tmp) / "s", classes=10, signers=10, seed=11, stream=True,
                                                   signs=8, width=160, height=120))
        print(f"video {video}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
        print(f"{'run':<14}{'frames':>7}" + "".join(f"{s + ' mean/p90 ms':>26}" for s in STAGES))
        runs = [("no hands", None)] + ([("with hands", args.hands_model)] if args.hands_model else [])
        for name, hands in runs:
            pipeline = LivePipeline(LiveConfig(source=str(video), model=demo_model_path(), threads=args.threads,
                                               every_frame=True, realtime=False, hands_model=hands,
                                               gate_seconds=1e9))
            pipeline.run()
            summary = pipeline.summary()
            cells = []
            for stage in STAGES:
                row = summary["stages"].get(stage)
                cells.append(f"{row['mean_ms']:>12.2f} / {row['p90_ms']:<11.2f}" if row else f"{'-':>26}")
            print(f"{name:<14}{summary['frames_processed']:>7}" + "".join(cells))
        if not args.hands_model:
            print("(no hand_landmarker.task found: pass --hands-model to measure the MediaPipe stage)")


if __name__ == "__main__":
    main()
