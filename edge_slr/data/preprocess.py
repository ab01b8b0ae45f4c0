"""Pure NumPy/OpenCV preprocessing shared by prepare, evaluation and the live runtime (no TensorFlow).

Temporal sampling and the spatial crop are defined here once, so that a clip seen by the live
runtime goes through the same steps as a clip seen by evaluation. The tf.data pipeline has a
TensorFlow twin of :func:`sample_indices` (tested to give the same indices).
"""

from __future__ import annotations

import numpy as np

from edge_slr.hands.crops import CENTRE_FRACTION, apply_crop, centre_box

# Evaluation keeps the central 87.5% of the (square) frame: the mean side of the training crops
# (random resized crops of 50-100% of the area) is about 86%, so train and eval see similar scales.
EVAL_CROP_FRACTION = CENTRE_FRACTION


def uniform_indices(n_frames: int, frames: int) -> np.ndarray:
    """``frames`` indices spread evenly over ``n_frames``: the centre of each of ``frames`` equal segments.

    Integer arithmetic, so NumPy and TensorFlow give identical indices. With fewer source frames
    than wanted, frames repeat (each segment still maps to the frame under its centre).
    """
    if n_frames <= 0 or frames <= 0:
        raise ValueError(f"need positive frame counts, got n_frames={n_frames}, frames={frames}")
    i = np.arange(frames, dtype=np.int64)
    return ((2 * i + 1) * n_frames) // (2 * frames)


def sample_indices(
    n_frames: int, frames: int, training: bool = False, rng: np.random.Generator | None = None
) -> np.ndarray:
    """Which of ``n_frames`` frames make a ``frames``-frame clip.

    Evaluation and inference: :func:`uniform_indices` (deterministic). Training: TSN-style, one
    random frame inside each of ``frames`` equal segments, so every epoch sees a different but
    still evenly spread subset (temporal jitter without dropping the start or the end of the sign).
    """
    if not training:
        return uniform_indices(n_frames, frames)
    if rng is None:
        raise ValueError("training sampling needs a numpy random Generator")
    offsets = rng.random(frames)
    idx = np.floor((np.arange(frames) + offsets) * n_frames / frames).astype(np.int64)
    return np.minimum(idx, n_frames - 1)


def crop_square(frame: np.ndarray, size: int, fraction: float = 1.0) -> np.ndarray:
    """Centre-crop a square of ``fraction`` x the short side and resize it to ``size`` x ``size``.

    INTER_AREA when shrinking (no aliasing from 480p sources), bilinear when enlarging. The one
    implementation lives in :mod:`edge_slr.hands.crops` (the centre box of the crops live uses too).
    """
    return apply_crop(frame, centre_box(frame.shape[:2], fraction), size)


def preprocess_clip(frames: np.ndarray, size: int, crop_fraction: float = EVAL_CROP_FRACTION) -> np.ndarray:
    """Evaluation/inference spatial preprocessing of RGB frames (T, H, W, 3) -> (T, size, size, 3) uint8.

    Equivalent to what prepare + the evaluation pipeline do (centre square, then the central
    ``crop_fraction``), done in one resize; models normalize their own [0, 255] input.
    """
    return np.stack([crop_square(f, size, crop_fraction) for f in frames])
