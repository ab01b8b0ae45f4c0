"""Why did `live` miss signs of a stitched stream? Per sign: hand found, what the model says, what live fired.

Reads the stream's ground truth (``edge-slr stitch`` output) and the ``--stats-json`` of a ``live --truth`` run
on it, scores the run's events again (``edge_slr.live.metrics.score_events``, as live does), and for every sign
looks at the middle frame of its span in the stitched video: does MediaPipe (IMAGE mode) find a hand there, and
what does the model say on the card's crop of that frame held for a whole window? That splits live's misses
into "no hand" (the crop never saw the hand: the pipeline was hand-gated), "the model is wrong on this
photo" and "the model is right offline but live did not fire" (smoothing / timing), and gives the sign onset
-> event latency, which means more than sign end -> event for a photo held for seconds. TensorFlow-free.

    .venv/bin/python tools/asl_digits_stream.py runs/asl_digits_stream/val.json runs/asl_digits_stream/live.json \\
        --hands-model ../shared/models/mediapipe/hand_landmarker.task --json runs/asl_digits_stream/misses.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge_slr.data.stream_truth import load_stream_truth  # noqa: E402
from edge_slr.hands import CropSpec, CropTracker, HandDetector, apply_crop  # noqa: E402
from edge_slr.live.metrics import score_events  # noqa: E402
from edge_slr.live.model import LiveModel  # noqa: E402
from edge_slr.live.smoothing import SignEvent  # noqa: E402

SHARED = ROOT.parent / "shared"


def middle_frames(video: Path, wanted: list[int]) -> dict[int, np.ndarray]:
    """RGB frames at the ``wanted`` indices, decoded in one pass (mp4v seeking is not exact)."""
    left, out = set(wanted), {}
    capture = cv2.VideoCapture(str(video))
    index = 0
    while left and capture.grab():
        if index in left:
            ok, bgr = capture.retrieve()
            if ok:
                out[index] = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            left.discard(index)
        index += 1
    capture.release()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("truth", type=Path, help="the stream's ground truth (stitch writes it next to the video)")
    ap.add_argument("stats", type=Path, help="the --stats-json of `edge-slr live --truth` on that stream")
    ap.add_argument("--video", type=Path, default=None, help="the stream (default: the truth's video entry)")
    ap.add_argument("--model", type=Path, default=None, help="the .tflite (default: the one the stats name)")
    ap.add_argument("--hands-model", type=Path, default=SHARED / "models" / "mediapipe" / "hand_landmarker.task")
    ap.add_argument("--json", type=Path, default=None, help="write the per-sign table and the counts here")
    args = ap.parse_args()

    truth = load_stream_truth(args.truth)
    placed = json.loads(args.truth.read_text(encoding="utf-8")).get("clips") or [{} for _ in truth.signs]
    stats = json.loads(args.stats.read_text(encoding="utf-8"))
    video = args.video or (args.truth.parent / truth.video)
    events = [SignEvent(e["label"], e["confidence"], e["start"], e["end"], tuple(map(tuple, e["top3"])))
              for e in stats["events"]]
    score = score_events(events, truth, stats["clip_seconds"] + 0.5)
    matched = {sign: events[event] for event, sign in score.matches}

    model = LiveModel(args.model or Path(stats["model"]), num_threads=2)
    spec = CropSpec.from_card(model.card.raw["input"].get("crop", {}))
    middles = [(s.start_frame + s.end_frame) // 2 for s in truth.signs]
    frames = middle_frames(video, middles)
    rows = []
    try:
        with HandDetector(args.hands_model, still=True) as detector:
            for i, (sign, middle) in enumerate(zip(truth.signs, middles, strict=True)):
                rgb = frames[middle]
                hands = detector.detect(rgb)
                box = CropTracker(spec, rgb.shape[:2]).update(hands)
                clip = np.repeat(apply_crop(rgb, box, model.size)[None], model.card.frames, axis=0)
                logits = model.classify_clip(clip)
                probs = np.exp(logits - logits.max())
                probs /= probs.sum()
                top = int(np.argmax(probs))
                event = matched.get(i)
                outcome = ("matched" if event is not None else "missed: no hand" if not hands
                           else "missed: model wrong" if model.labels[top] != sign.label
                           else "missed: model right, live silent")
                rows.append({"sign": i, "label": sign.label, "path": placed[i].get("path"),
                             "signer": placed[i].get("signer"), "hand_found": bool(hands),
                             "offline_top1": model.labels[top], "offline_p": round(float(probs[top]), 3),
                             "outcome": outcome, "onset_latency_ms": None if event is None else
                             round((event.end - sign.start_frame / truth.fps) * 1e3)})
    finally:
        model.close()

    counts = Counter(r["outcome"] for r in rows)
    found = [r for r in rows if r["hand_found"]]
    right = sum(r["offline_top1"] == r["label"] for r in found)
    onset = [r["onset_latency_ms"] for r in rows if r["onset_latency_ms"] is not None]
    print(f"{len(rows)} signs; live: precision {score.precision:.3f}, recall {score.recall:.3f} "
          f"({score.matched} matched, {score.events} events, {len(score.confusions)} confusions, "
          f"{score.repeats} repeats)")
    print(f"hand found (MediaPipe IMAGE mode, middle frame): {len(found)}/{len(rows)} = {len(found) / len(rows):.3f}; "
          f"model right offline on those: {right}/{len(found)} = {right / max(1, len(found)):.3f}")
    if onset:
        print(f"sign onset -> event: median {np.median(onset):.0f} ms, p90 {np.percentile(onset, 90):.0f} ms")
    for outcome in ("matched", "missed: no hand", "missed: model wrong", "missed: model right, live silent"):
        print(f"  {outcome:<34} {counts.get(outcome, 0)}")
    per_class = {label: (sum(r["outcome"] == "matched" for r in rows if r["label"] == label),
                         sum(r["label"] == label for r in rows)) for label in truth.classes}
    print("recall per class: " + ", ".join(f"{k} {m}/{n}" for k, (m, n) in per_class.items() if n))
    if score.confusions:
        print("confusions (truth -> fired): " + ", ".join(f"{a}->{b} x{n}"
                                                         for (a, b), n in Counter(score.confusions).most_common()))
    for r in rows:
        if r["outcome"] != "matched":
            print(f"  {r['outcome']:<34} {r['label']} {r['path']} (signer {r['signer']}): offline "
                  f"{r['offline_top1']} {r['offline_p']:.2f}")
    if args.json:
        args.json.write_text(json.dumps({"precision": score.precision, "recall": score.recall,
                                         "counts": dict(counts), "hand_found": len(found),
                                         "offline_right_on_found": right, "onset_latency_ms_median":
                                         float(np.median(onset)) if onset else None, "signs": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
