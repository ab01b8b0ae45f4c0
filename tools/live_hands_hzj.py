"""MediaPipe hands on real signing (``../shared/data/hzj_colors``): detection rate and signer-crop jitter.

For every clip, frames go through the live pipeline's own pieces in order (``HandDetector`` in VIDEO mode,
``CropTracker``): the share of frames in which at least one hand is found, and the crop jitter, i.e.
the mean frame-to-frame movement of the crop box (centre and side, pixels of the 480x360 source) while
hands are visible, once with the tracker's smoothing off and once with its default.

    .venv/bin/python tools/live_hands_hzj.py [--data ../shared/data/hzj_colors] [--crop signer|hand]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from edge_slr.data.video import read_video
from edge_slr.hands import CropSpec, CropTracker, HandDetector

SHARED = Path(__file__).resolve().parents[2] / "shared"


def jitter(boxes: list[tuple[float, float, float]]) -> float:
    """Mean L1 movement of (x centre, y centre, side) between consecutive boxes, in pixels."""
    if len(boxes) < 2:
        return 0.0
    b = np.array(boxes)
    return float(np.abs(np.diff(b, axis=0)).sum(axis=1).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED / "data" / "hzj_colors")
    parser.add_argument("--hands-model", type=Path, default=SHARED / "models" / "mediapipe" / "hand_landmarker.task")
    parser.add_argument("--crop", default="signer", choices=["signer", "hand"])
    args = parser.parse_args()
    clips = sorted(args.data.glob("*/*.mp4"))
    frames_total = frames_hands = 0
    raw_j, smooth_j, detect_s = [], [], 0.0
    for clip in clips:
        video = read_video(clip)
        shape = video.frames.shape[1:3]
        raw, smooth = CropTracker(CropSpec.named(args.crop), shape, smoothing=0.0), \
            CropTracker(CropSpec.named(args.crop), shape)
        boxes_raw, boxes_smooth = [], []
        with HandDetector(args.hands_model) as detector:
            for i, rgb in enumerate(video.frames):
                start = time.perf_counter()
                hands = detector.detect(rgb, int(i * 1000 / (video.fps or 30)))
                detect_s += time.perf_counter() - start
                frames_total += 1
                if hands:
                    frames_hands += 1
                    for tracker, boxes in ((raw, boxes_raw), (smooth, boxes_smooth)):
                        box = tracker.update(hands)
                        boxes.append((box.x + box.side / 2, box.y + box.side / 2, box.side))
        raw_j.append(jitter(boxes_raw))
        smooth_j.append(jitter(boxes_smooth))
    print(f"{len(clips)} clips, {frames_total} frames: hands found in {frames_hands / frames_total:.1%} of frames; "
          f"MediaPipe {1e3 * detect_s / frames_total:.1f} ms per frame")
    print(f"{args.crop} crop jitter (mean px per frame while hands are visible): "
          f"{np.mean(raw_j):.2f} without smoothing, {np.mean(smooth_j):.2f} with the default smoothing "
          f"({np.mean(raw_j) / max(np.mean(smooth_j), 1e-9):.1f}x less)")


if __name__ == "__main__":
    main()
