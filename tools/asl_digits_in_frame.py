"""Does the shipped digits model work when the hand is small in a webcam-sized frame? (TensorFlow-free.)

Each held-out-signer photo of ``asl_digits`` (the validation signers that ``dataset.json`` of the
prepared data names) is pasted, enlarged 1.5-2.5x, at a random place into a 640x480 frame, and held
there for the model's frames with a 1-2 px tremor. The frames go through what ``edge-slr live`` runs:
MediaPipe hands in VIDEO mode, a :class:`~edge_slr.hands.CropTracker` with the model card's crop,
:func:`~edge_slr.hands.apply_crop`, and the .tflite through :class:`~edge_slr.runtime.clip_classifier.ClipClassifier`.
The same photos classified directly (the card's fallback centre crop of the bare photo) are the reference.

    .venv/bin/python tools/asl_digits_in_frame.py export/asl_digits_cnn_lstm_int8.tflite --data /tmp/asl/prep_hand
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge_slr.hands import CropSpec, CropTracker, HandDetector, apply_crop, centre_box  # noqa: E402
from edge_slr.runtime.clip_classifier import ClipClassifier  # noqa: E402

SHARED = ROOT.parent / "shared"


def backdrop(rng: np.random.Generator, h: int = 480, w: int = 640) -> np.ndarray:
    """A room-like background: a smooth colour gradient plus mild sensor noise."""
    top, bottom = rng.integers(60, 220, 3), rng.integers(60, 220, 3)
    ramp = np.linspace(0, 1, h)[:, None, None]
    frame = (top * (1 - ramp) + bottom * ramp).repeat(w, axis=1)
    return np.clip(frame + rng.normal(0, 4, (h, w, 3)), 0, 255).astype(np.uint8)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("--data", type=Path, required=True, help="prepared asl_digits folder (names the val signers)")
    ap.add_argument("--src", type=Path, default=SHARED / "data" / "asl_digits")
    ap.add_argument("--hands-model", type=Path, default=SHARED / "models" / "mediapipe" / "hand_landmarker.task")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--crop-scale", type=float, default=None,
                    help="experiment: use this hand-crop scale instead of the card's (what a retrained card would say)")
    ap.add_argument("--limit", type=int, default=None, help="only the first N photos")
    ap.add_argument("--min-confidence", type=float, default=0.5, help="MediaPipe hand confidence (default: 0.5)")
    args = ap.parse_args()
    val = set(json.loads((args.data / "dataset.json").read_text(encoding="utf-8"))["split"]["val_signers"])
    rows = [r for r in csv.DictReader((args.src / "manifest.csv").open(encoding="utf-8")) if r["signer"] in val]
    rows = rows[: args.limit]
    rng = np.random.default_rng(args.seed)
    hits_frame = hits_direct = found = hits_found = 0
    with ClipClassifier(args.model, num_threads=2) as model:
        spec = CropSpec.from_card(model.card.raw["input"]["crop"])
        if args.crop_scale is not None:
            spec = CropSpec(spec.kind, args.crop_scale, spec.fallback)
        labels, t, size = model.labels, model.card.frames, model.card.size
        for k, row in enumerate(rows):
            photo = cv2.cvtColor(cv2.imread(str(args.src / row["path"])), cv2.COLOR_BGR2RGB)
            direct = apply_crop(photo, centre_box(photo.shape[:2], spec.fallback), size)
            hits_direct += labels[int(np.argmax(model.predict(np.repeat(direct[None], t, 0))))] == row["label"]
            side = int(photo.shape[0] * rng.uniform(1.5, 2.5))
            big = cv2.resize(photo, (side, side), interpolation=cv2.INTER_LINEAR)
            x, y = int(rng.integers(0, 640 - side - 4)), int(rng.integers(0, 480 - side - 4))
            scene = backdrop(rng)
            tracker = CropTracker(spec, scene.shape[:2])
            clip, seen = [], 0
            with HandDetector(args.hands_model, min_confidence=args.min_confidence) as detector:
                for i in range(t + 8):  # a few frames to settle the tracker, then the model's window
                    dx, dy = rng.integers(-2, 3, 2)
                    frame = scene.copy()
                    frame[y + dy + 2 : y + dy + 2 + side, x + dx + 2 : x + dx + 2 + side] = big
                    hands = detector.detect(frame, i * 40)
                    seen += bool(hands)
                    box = tracker.update(hands)
                    if i >= 8:
                        clip.append(apply_crop(frame, box, size))
            found += seen > 0
            hit = labels[int(np.argmax(model.predict(np.stack(clip))))] == row["label"]
            hits_frame += hit
            hits_found += hit and seen > 0
            if (k + 1) % 100 == 0:
                print(f"{k + 1}/{len(rows)}", flush=True)
    n = len(rows)
    result = {"photos": n, "val_signers": len(val), "top1_photo_direct": round(hits_direct / n, 4),
              "top1_in_640x480_frame": round(hits_frame / n, 4), "hand_found_in_frame": round(found / n, 4),
              "top1_in_frame_when_hand_found": round(hits_found / max(1, found), 4), "crop_scale": spec.fraction}
    print(json.dumps(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
