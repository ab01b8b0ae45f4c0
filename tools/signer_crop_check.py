"""Check the hands-only ``signer`` crop against MediaPipe's pose landmarker on real video.

The signer crop estimates the head/shoulder region from hand landmarks alone (edge_slr/hands/crops.py says
why). This measures how often that estimate really contains the signer: on every 3rd frame with hands of
each ``hzj_colors`` clip, the pose landmarker (``pose_landmarker_full.task``, not used by edge-slr itself)
finds nose, ears and shoulders, and we count the frames where all five lie inside the smoothed signer box,
and where the box spans both shoulders.

    .venv/bin/python tools/signer_crop_check.py [--data ../shared/data/hzj_colors] [--step 3]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge_slr.hands import CropSpec, CropTracker, HandDetector  # noqa: E402
from edge_slr.hands.landmarker import _import_mediapipe, _quietly  # noqa: E402

SHARED = ROOT.parent / "shared"
KEYPOINTS = {"nose": 0, "left_ear": 7, "right_ear": 8, "left_shoulder": 11, "right_shoulder": 12}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=SHARED / "data" / "hzj_colors")
    ap.add_argument("--models", type=Path, default=SHARED / "models" / "mediapipe")
    ap.add_argument("--step", type=int, default=3, help="check every STEP-th frame with hands (default: 3)")
    args = ap.parse_args()
    mp, base_options, _, _ = _import_mediapipe()
    from mediapipe.tasks.python.vision import pose_landmarker

    options = pose_landmarker.PoseLandmarkerOptions(
        base_options=base_options.BaseOptions(model_asset_path=str(args.models / "pose_landmarker_full.task")))
    pose = _quietly(lambda: pose_landmarker.PoseLandmarker.create_from_options(options))
    checked = inside = shoulders = 0
    misses: dict[str, int] = dict.fromkeys(KEYPOINTS, 0)
    try:
        for clip in sorted(args.data.glob("*/*.mp4")):
            cap = cv2.VideoCapture(str(clip))
            fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
            tracker: CropTracker | None = None
            with HandDetector(args.models / "hand_landmarker.task") as hands:
                n = seen = 0
                while True:
                    ok, bgr = cap.read()
                    if not ok:
                        break
                    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                    tracker = tracker or CropTracker(CropSpec.named("signer"), rgb.shape[:2])
                    found = hands.detect(rgb, int(n * 1000 / fps))
                    box = tracker.update(found)
                    n += 1
                    if not found:
                        continue
                    seen += 1
                    if seen % args.step:
                        continue
                    result = pose.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb))
                    if not result.pose_landmarks:
                        continue
                    h, w = rgb.shape[:2]
                    marks = result.pose_landmarks[0]
                    points = {k: np.array([marks[i].x * w, marks[i].y * h]) for k, i in KEYPOINTS.items()}
                    checked += 1
                    ok_all = True
                    for k, (x, y) in points.items():
                        if not (box.x <= x <= box.x + box.side and box.y <= y <= box.y + box.side):
                            misses[k] += 1
                            ok_all = False
                    inside += ok_all
                    shoulders += (box.x <= min(points["left_shoulder"][0], points["right_shoulder"][0])
                                  and max(points["left_shoulder"][0], points["right_shoulder"][0])
                                  <= box.x + box.side)
            cap.release()
    finally:
        _quietly(pose.close)
    result = {"frames_checked": checked, "head_and_shoulders_inside": round(inside / max(1, checked), 4),
              "both_shoulders_within_width": round(shoulders / max(1, checked), 4),
              "outside_per_keypoint": {k: round(v / max(1, checked), 4) for k, v in misses.items()}}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
