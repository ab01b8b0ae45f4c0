"""Crop whole clips with the hand-based crops (``signer``, ``hand``), TensorFlow-free.

``prepare`` uses it for training data and the runtime side for raw clips, so a clip is framed by the
same code as the live pipeline: MediaPipe sees *every* frame in order (VIDEO mode tracks hands from
frame to frame, and :class:`~edge_slr.hands.CropTracker` smooths per frame, so skipping frames would
change both), while only the frames a clip keeps are cropped and stored. A still image is detected
once (IMAGE mode) and cropped once.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge_slr.data.preprocess import uniform_indices
from edge_slr.data.video import UnreadableClip, _check_file, _imread, frame_files, is_still, read_clip
from edge_slr.errors import UserError
from edge_slr.hands import Box, CropSpec, CropTracker, HandDetector, apply_crop, centre_box

FOLDER_FPS = 25.0  # timestamps for frame folders, which carry no rate


@dataclass(frozen=True)
class CroppedClip:
    """The kept frames of one clip after the crop, and how the hands were found."""

    frames: np.ndarray  # (N, size, size, 3) uint8 RGB
    indices: np.ndarray  # source frame index of each kept frame
    source_frames: int
    fps: float  # 0.0 when unknown (frame folders, stills)
    hand_frames: int  # source frames in which at least one hand was found
    jitter_px: float  # mean frame-to-frame move of the smoothed box centre, px (0 for stills)
    raw_jitter_px: float  # the same for an unsmoothed box: what smoothing removed
    mean_side_px: float  # mean side of the box, px (jitter relative to it is comparable across videos)
    seconds: float  # wall time of decoding, detection and cropping

    @property
    def hand_found(self) -> bool:
        return self.hand_frames > 0


def _iter_rgb(path: Path) -> tuple[Iterator[np.ndarray], float, int]:
    """Every frame of a video or frame folder as RGB, its fps (0 if unknown) and a frame-count hint."""
    if path.is_dir():
        files = frame_files(path)
        if not files:
            raise UnreadableClip(path, "no frame images in folder")

        def folder() -> Iterator[np.ndarray]:
            for f in files:
                bgr = _imread(f)
                if bgr is not None:
                    yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        return folder(), 0.0, len(files)
    _check_file(path)
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise UnreadableClip(path, "cannot open: not a video OpenCV can decode (corrupt or unknown format)")
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    hint = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)

    def video() -> Iterator[np.ndarray]:
        try:
            while True:
                ok, bgr = cap.read()
                if not ok or bgr is None:
                    return
                yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        finally:
            cap.release()
    return video(), fps, hint


def _jitter(boxes: list[Box], seen: list[bool]) -> float:
    """Mean move of the box centre between consecutive frames that both had hands (px); 0 without such pairs.

    Frames without hands keep the box still, so counting them would dilute the number.
    """
    both = np.logical_and(seen[1:], seen[:-1])
    if len(boxes) < 2 or not both.any():
        return 0.0
    c = np.array([b.centre for b in boxes])
    return float(np.linalg.norm(np.diff(c, axis=0), axis=1)[both].mean())


def crop_still(path: str | os.PathLike[str], spec: CropSpec, size: int,
               detector: HandDetector | None) -> CroppedClip:
    """One photo as a one-frame clip, cropped around the hands ``detector`` (IMAGE mode) finds."""
    start = time.perf_counter()
    p = Path(path)
    _check_file(p)
    bgr = _imread(p)
    if bgr is None:
        raise UnreadableClip(p, "cannot decode the image (corrupt or unknown format)")
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    hands = detector.detect(rgb) if detector is not None and spec.needs_hands else []
    tracker = CropTracker(spec, rgb.shape[:2])
    box = tracker.update(hands)
    return CroppedClip(apply_crop(rgb, box, size)[None], np.zeros(1, np.int64), 1, 0.0, int(bool(hands)),
                       0.0, 0.0, box.side, time.perf_counter() - start)


def crop_video(path: str | os.PathLike[str], spec: CropSpec, size: int, hands_model: str | os.PathLike[str],
               max_frames: int | None = None, smoothing: float | None = None) -> CroppedClip:
    """A video or frame folder with the tracked crop; keeps ``max_frames`` evenly spread frames (all if None).

    A fresh VIDEO-mode detector per clip, so one clip's hands never seed the tracking of the next.
    Frames are chosen from the container's frame count; if decoding finds another count, the
    right frames are cut in a second decoding pass with the boxes already tracked.
    """
    start = time.perf_counter()
    p = Path(path)
    if is_still(p):
        with HandDetector(hands_model, still=True) as detector:
            return crop_still(p, spec, size, detector)
    frames_iter, fps, hint = _iter_rgb(p)
    wanted = set(uniform_indices(hint, min(hint, max_frames)).tolist()) if max_frames and hint > 0 else None
    step_ms = 1000.0 / (fps or FOLDER_FPS)
    boxes: list[Box] = []
    raw: list[Box] = []
    kept: dict[int, np.ndarray] = {}
    seen: list[bool] = []
    with HandDetector(hands_model) as detector:
        tracker: CropTracker | None = None
        raw_tracker: CropTracker | None = None
        for n, rgb in enumerate(frames_iter):
            if tracker is None or raw_tracker is None:
                tracker = CropTracker(spec, rgb.shape[:2], smoothing)
                raw_tracker = CropTracker(spec, rgb.shape[:2], 0.0)
            hands = detector.detect(rgb, int(round(n * step_ms)))
            seen.append(bool(hands))
            boxes.append(tracker.update(hands))
            raw.append(raw_tracker.update(hands))
            if wanted is None or n in wanted:
                kept[n] = apply_crop(rgb, boxes[-1], size)
    total = len(boxes)
    if total == 0:
        raise UnreadableClip(p, "no decodable frames")
    target = uniform_indices(total, min(total, max_frames)) if max_frames else np.arange(total)
    if not set(target.tolist()) <= kept.keys():  # the container's count was wrong: cut again with known boxes
        todo = set(target.tolist())
        frames_iter, _, _ = _iter_rgb(p)
        kept = {n: apply_crop(rgb, boxes[n], size) for n, rgb in enumerate(frames_iter) if n in todo}
        if not todo <= kept.keys():
            raise UnreadableClip(p, "decoding is not repeatable")
    return CroppedClip(np.stack([kept[i] for i in target.tolist()]), target.astype(np.int64), total, fps,
                       sum(seen), _jitter(boxes, seen), _jitter(raw, seen), float(np.mean([b.side for b in boxes])),
                       time.perf_counter() - start)


def model_input_clip(path: str | os.PathLike[str], crop: CropSpec, frames: int, size: int,
                     hands_model: str | os.PathLike[str] | None = None) -> np.ndarray:
    """A raw clip (video, frame folder or photo) as a model with this card crop sees it: (frames, size, size, 3).

    ``crop`` is the model card's ``input.crop`` (:meth:`CropSpec.from_card`); frames are spread evenly
    over the clip as in evaluation, a photo is repeated. Hand-based crops need ``hands_model``: without
    it this is a one-line error, never a silent centre crop the model was not trained on.
    """
    if crop.needs_hands:
        if hands_model is None:
            raise UserError(f"this model expects the '{crop.kind}' crop, which needs hand landmarks; pass "
                            "--hands-model PATH/hand_landmarker.task (or set EDGE_SLR_HANDS_MODEL)")
        kept = crop_video(path, crop, size, hands_model, frames).frames
    else:
        kept = read_clip(path, frames, transform=lambda bgr: apply_crop(
            bgr, centre_box(bgr.shape[:2], crop.fraction), size)).frames
    return kept[uniform_indices(len(kept), frames)]
