"""Measure ``prepare --crop signer|hand`` on real data: share of clips with a hand, crop jitter, time per clip.

Runs the real ``prepare`` (the same code as ``edge-slr prepare``) into a scratch folder for each
dataset x crop and reads the ``hands`` statistics it writes into ``dataset.json``. Jitter is the mean
move of the box centre between consecutive frames that both have hands, in px and as a share of the
box side, smoothed (what is stored and what live uses) and unsmoothed; stills have one frame, so none.
Time per clip is the wall time of decoding, MediaPipe on every frame and cropping, one worker thread.

    .venv/bin/python tools/measure_crops.py [--data ../shared/data] [--hands-model PATH] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge_slr.data.prepare import PrepareConfig, prepare  # noqa: E402

SHARED = ROOT.parent / "shared"
DATASETS = ("hzj_colors", "asl_digits")
CROPS = ("signer", "hand")


def measure(src: Path, crop: str, hands_model: Path, scratch: Path) -> dict:
    start = time.perf_counter()
    result = prepare(PrepareConfig(src=src, out=scratch / f"{src.name}-{crop}", crop=crop, hands_model=hands_model,
                                   size=64, store_frames=16, min_frames=1, workers=1, progress=False,
                                   split="random"))
    hands = dict(result.info.hands or {})
    hands.pop("no_hand_centre_fallback", None)
    return {"dataset": src.name, "crop": crop, "wall_s": round(time.perf_counter() - start, 1), **hands}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=SHARED / "data")
    ap.add_argument("--hands-model", type=Path, default=SHARED / "models" / "mediapipe" / "hand_landmarker.task")
    ap.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in DATASETS:
            for crop in CROPS:
                rows.append(measure(args.data / name, crop, args.hands_model, Path(tmp)))
                r = rows[-1]
                jitter = (f"jitter {r['jitter_px_median']:.2f} px ({100 * r['jitter_share_of_side_median']:.2f}% of "
                          f"side) vs {r['raw_jitter_px_median']:.2f} px unsmoothed; frames with hand "
                          f"{r['share_of_frames_with_hand']:.0%}; {r['ms_per_frame_mean']:.1f} ms/frame"
                          if "jitter_px_median" in r else "stills: no jitter")
                print(f"{name:11s} {crop:6s} clips {r['clips']:5d}  with hand {r['share_with_hand']:.1%}  "
                      f"{1000 * r['seconds_per_clip_mean']:.0f} ms/clip  {jitter}", flush=True)
    print(f"machine: {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
