"""Train on the real hzj_colors clips (9 Croatian colour signs, one signer) and measure the session confound.

In hzj_colors the recording session is confounded with the class (README of the shared data):
``crvena`` is grey background + black shirt, ``plavo`` and ``žuta`` blue + black, the other six blue +
white. A model can score by clothes and background instead of by the sign. This tool trains one
3-D and one LSTM model per setting and reports, besides validation top-1 (random split, 25 %):

- ``same-session top-1``: accuracy on the six classes of the blue + white session, where background
  and shirt are the same for every class (chance 1/6);
- ``static top-1``: accuracy on validation clips whose every frame is the first one (hands down, no
  sign yet; chance 1/9). Background and shirt alone would explain about 1/3 (crvena always,
  plavo/žuta half, the rest 1/6); more than that means other per-class looks (the clips of one
  sign were recorded together: posture, distance, light) also leak;
- ``static in session``: share of those still-frame predictions that fall in the true session.

The ``appearance`` setting is the control: a model that only ever sees still first frames. Its
accuracy is what looks alone give on this split, so the sign's share of a score is what lies above it.

Settings: ``baseline`` (the centre square of the frame, default augmentation); ``signer`` (``prepare --crop
signer``: the square around hands, head and shoulders from MediaPipe landmarks, smoothed over the clip,
the same crop the live pipeline applies; needs the MediaPipe hand bundle); ``mitigated`` (a
fixed upper-body box around head and hands, written as cropped copies of the videos before
``prepare``, so less shirt and background; plus ``--augment color``: random channel order and gray,
so background and shirt colour are no longer stable cues); ``appearance`` (a control: every clip
replaced by its first frame held still, so its accuracy is what looks alone give on this split).

    .venv/bin/python tools/train_hzj.py [--work DIR] [--arch r2plus1d_small cnn_lstm] [--setting ...]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

SOURCE = Path(__file__).resolve().parents[2] / "shared" / "data" / "hzj_colors"
# (left, top, side) of the upper-body box in the 480x360 source frames: head, raised hands, collar.
UPPER_BODY = (100, 0, 280)
SESSIONS = {"crvena": "grey+black", "plavo": "blue+black", "žuta": "blue+black"}  # others: blue+white
SHARED_SESSION = "blue+white"


@dataclass(frozen=True)
class Recipe:
    size: int
    width: float
    epochs: int
    lr: float
    batch: int = 8
    frames: int = 16


RECIPES = {
    "r2plus1d_small": Recipe(size=64, width=0.25, epochs=40, lr=2e-3),
    "cnn_lstm": Recipe(size=64, width=0.5, epochs=60, lr=1e-3),
}


SETTINGS = ("baseline", "signer", "mitigated", "appearance")
HANDS_MODEL = SOURCE.parents[1] / "models" / "mediapipe" / "hand_landmarker.task"


def session(label: str) -> str:
    return SESSIONS.get(label, SHARED_SESSION)


def rewrite_videos(src: Path, dst: Path, setting: str) -> Path:
    """Copy every clip of ``src`` into ``dst`` changed for ``setting`` (files already there are kept).

    ``mitigated``: every frame cut to the :data:`UPPER_BODY` box. ``appearance``: every frame replaced
    by the clip's first frame (hands down), same length: a model trained on these can only use looks.
    """
    left, top, side = UPPER_BODY
    for video in sorted(src.glob("*/*.mp4")):
        out = dst / video.parent.name / video.name
        if out.is_file():
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        capture = cv2.VideoCapture(str(video))
        fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
        tmp = out.with_name(f".{out.stem}.tmp.mp4")
        writer, first = None, None
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            if setting == "mitigated":
                frame = np.ascontiguousarray(frame[top:top + side, left:left + side])
            else:
                first = frame if first is None else first
                frame = first
            if writer is None:
                size = (frame.shape[1], frame.shape[0])
                writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
            writer.write(frame)
        writer.release()
        capture.release()
        os.replace(tmp, out)
    return dst


def confound_metrics(predictor, data: Path) -> dict[str, float]:
    """Same-session top-1, static-clip top-1 and the share of static predictions in the true session."""
    from edge_slr.data.pipeline import make_dataset

    labels = list(predictor.labels)
    same = [i for i, name in enumerate(labels) if session(name) == SHARED_SESSION]
    hits = total = static_hits = consistent = same_hits = same_total = 0
    for clips, truth in make_dataset(data, "val", frames=predictor.frames, size=predictor.size, batch=8):
        clips, truth = clips.numpy(), truth.numpy()
        moving = predictor.predict(clips).argmax(1)
        still = predictor.predict(np.repeat(clips[:, :1], clips.shape[1], axis=1)).argmax(1)
        hits += int((moving == truth).sum())
        total += len(truth)
        in_same = np.isin(truth, same)
        same_hits += int((moving[in_same] == truth[in_same]).sum())
        same_total += int(in_same.sum())
        static_hits += int((still == truth).sum())
        consistent += sum(session(labels[p]) == session(labels[t]) for p, t in zip(still, truth, strict=True))
    return {"top1": hits / total, "same_session_top1": same_hits / max(same_total, 1),
            "same_session_clips": same_total, "static_top1": static_hits / total,
            "static_session_consistent": consistent / total, "val_clips": total}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("runs/hzj"), help="data and run folder")
    parser.add_argument("--arch", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    parser.add_argument("--setting", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    args = parser.parse_args(argv)
    if not SOURCE.is_dir():
        print(f"hzj_colors not found at {SOURCE} (only on project machines)", file=sys.stderr)
        return 2

    from edge_slr.data.prepare import PrepareConfig, prepare
    from edge_slr.train.config import TrainConfig
    from edge_slr.train.evaluate import KerasPredictor
    from edge_slr.train.trainer import train

    rows = []
    for setting in args.setting:
        rewritten = setting in ("mitigated", "appearance")
        source = rewrite_videos(SOURCE, args.work / f"videos_{setting}", setting) if rewritten else SOURCE
        data = args.work / f"data_{setting}"
        crop = {"crop": "signer", "hands_model": HANDS_MODEL} if setting == "signer" else {}
        prepare(PrepareConfig(src=source, out=data, size=80, split="random", val=0.25, seed=0, progress=False,
                              **crop))
        for arch in args.arch:
            r = RECIPES[arch]
            start = time.perf_counter()
            result = train(TrainConfig(arch=arch, data=data, out=args.work / "runs" / f"{arch}_{setting}",
                                       epochs=r.epochs, batch=r.batch, lr=r.lr, frames=r.frames, size=r.size,
                                       width=r.width, augment="color" if setting == "mitigated" else "default",
                                       overwrite=True))
            wall = time.perf_counter() - start
            metrics = confound_metrics(KerasPredictor(result.folder), data)
            one, five, _ = os.getloadavg()
            rows.append({"arch": arch, "setting": setting, "wall_seconds": round(wall, 1),
                         "best_epoch": result.best_epoch, "load": [round(one, 2), round(five, 2)], **metrics})
            print(json.dumps(rows[-1]), flush=True)

    print(f"\n{'arch':<15} {'setting':<10} {'val top-1':>9} {'same-session':>12} {'static':>7} "
          f"{'static in session':>17} {'train time':>10}")
    for row in rows:
        print(f"{row['arch']:<15} {row['setting']:<10} {row['top1']:9.3f} {row['same_session_top1']:12.3f} "
              f"{row['static_top1']:7.3f} {row['static_session_consistent']:17.3f} {row['wall_seconds']:9.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
