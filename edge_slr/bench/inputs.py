"""Inputs for a benchmark: random values of the model's own input spec, or real clips from a folder.

Random inputs follow the model card's ``value_range`` (pixels 0-255 for our exports) so that
quantized inputs see realistic values; without a card they are uniform in [0, 1). ``--data`` reads a
folder of videos or frame folders with OpenCV (:mod:`edge_slr.data.video`), never TensorFlow, so it
works on a device. Prepared TFRecord datasets need TensorFlow to read and are therefore not accepted.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from edge_slr.data.preprocess import preprocess_clip
from edge_slr.data.video import FRAME_EXTENSIONS, VIDEO_EXTENSIONS, UnreadableClip, quiet_ffmpeg, read_clip
from edge_slr.errors import UserError
from edge_slr.runtime.model_card import ModelCard
from edge_slr.runtime.runner import TensorSpec

DEFAULT_RANGE = (0.0, 1.0)
MAX_CLIPS = 8  # real clips kept in memory and cycled through; enough to vary the input, small on a device


def value_range(card: ModelCard | None) -> tuple[float, float]:
    """Input value range the model expects: the card's ``input.value_range``, else [0, 1)."""
    if card is None:
        return DEFAULT_RANGE
    lo, hi = card.raw.get("input", {}).get("value_range", DEFAULT_RANGE)
    return float(lo), float(hi)


def random_feed(specs: Iterable[TensorSpec], rng: np.random.Generator,
                value_range: tuple[float, float] = DEFAULT_RANGE) -> dict[str, np.ndarray]:
    """One random array per input. Float values go through the runner, which quantizes them for
    quantized inputs; plain integer inputs (ids, shapes) get zeros, the only value valid for any model."""
    feed = {}
    for spec in specs:
        shape = tuple(max(d, 1) for d in spec.shape)
        if np.issubdtype(spec.dtype, np.floating) or spec.quantized:
            feed[spec.name] = rng.uniform(*value_range, shape).astype(np.float32)
        else:
            feed[spec.name] = np.zeros(shape, spec.dtype)
    return feed


def clip_sources(folder: str | os.PathLike[str]) -> list[Path]:
    """Video files and frame-image folders under ``folder`` (recursive), in sorted order."""
    root = Path(folder)
    if not root.is_dir():
        raise UserError(f"--data {root}: not a folder (give a folder of videos or of frame-image folders)")
    if any(p.suffix == ".tfrecord" or p.name == "dataset.json" for p in root.iterdir()):
        raise UserError(f"--data {root} is a prepared TFRecord dataset, which needs TensorFlow to read; "
                        "give the source folder of videos (or frame folders) instead")
    found = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix.lower() in VIDEO_EXTENSIONS:
            found.append(path)
        elif path.is_dir() and any(f.suffix.lower() in FRAME_EXTENSIONS for f in path.iterdir() if f.is_file()):
            found.append(path)
    if not found:
        raise UserError(f"--data {root}: no videos ({', '.join(sorted(VIDEO_EXTENSIONS)[:5])}, ...) "
                        "or frame-image folders found")
    return found


def load_clips(sources: list[Path], card: ModelCard, limit: int = MAX_CLIPS,
               hands_model: Path | None = None) -> list[np.ndarray]:
    """Up to ``limit`` clips preprocessed as the model expects: ``(frames, size, size, 3)`` float32 pixels.

    Same sampling and crop as evaluation: evenly spread frames and exactly the crop the card names (a
    hand or signer crop runs MediaPipe with ``hands_model``, and is a one-line error without it).
    Unreadable sources are skipped; none readable is a UserError.
    """
    from edge_slr.data.hand_crops import model_input_clip
    from edge_slr.hands import CropSpec

    quiet_ffmpeg()
    crop = CropSpec.from_card(card.raw.get("input", {}).get("crop"))
    if crop.needs_hands:
        return [model_input_clip(s, crop, card.frames, card.size, hands_model).astype(np.float32)
                for s in sources[:limit]]
    fraction = crop.fraction
    clips, reasons = [], []
    for source in sources:
        if len(clips) >= limit:
            break
        try:
            clip = read_clip(source, max_frames=card.frames)
        except UnreadableClip as exc:
            reasons.append(exc.reason)
            continue
        frames = clip.frames
        if len(frames) < card.frames:  # short clip: repeat its last frame, as a live window would hold it
            frames = np.concatenate([frames, np.repeat(frames[-1:], card.frames - len(frames), axis=0)])
        clips.append(preprocess_clip(frames, card.size, fraction).astype(np.float32))
    if not clips:
        raise UserError(f"no readable clip among {len(sources)} source(s): {reasons[0] if reasons else '?'}")
    return clips
