"""The tf.data input pipeline over prepared shards, used by training, evaluation and export calibration.

Named stages, in order: interleaved shard reading -> (train: shuffle) -> parse -> temporal sampling
(train: one random frame per segment, TSN-style; eval: the centre of each segment) -> decode the
sampled JPEGs only -> spatial transform (train: random resized crop + small rotation, optional
flip, brightness/contrast, as one OpenCV warp and lookup table; eval: the central crop of
:data:`EVAL_CROP_FRACTION`) -> batch -> prefetch.

A clip of one stored frame is a still sign (a photo): sampling repeats the photo for every frame, and
training adds a small independent jitter per frame (shift, scale, rotation: what a held hand and a
tracked crop do live), so a model does not learn that a sign is a frozen frame.

Clips come out as float32 RGB in [0, 255], shape (B, T, size, size, 3), with int32 labels: models
normalize their own input. Training randomness is drawn per clip from a seeded stream and applied
with stateless ops, so a run is reproducible for a seed while every epoch still differs;
evaluation has no randomness and a fixed order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge_slr.data.info import DatasetInfo, load_dataset_info
from edge_slr.data.preprocess import EVAL_CROP_FRACTION
from edge_slr.data.tfrecord import parse_clip
from edge_slr.errors import UserError
from edge_slr.utils.tf_env import import_tf

tf, _ = import_tf()

AUTOTUNE = tf.data.AUTOTUNE


@dataclass(frozen=True)
class AugmentConfig:
    """Training augmentation. One draw per clip, applied to all its frames so motion stays coherent."""

    crop_scale: tuple[float, float] = (0.5, 1.0)  # area of the random crop, as a fraction of the frame
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)  # width / height of the random crop
    max_rotation_deg: float = 10.0  # uniform in [-max, max]
    brightness: float = 0.15  # added offset, uniform in [-b, b] x 255
    contrast: float = 0.15  # factor around the clip's mean colour, uniform in [1 - c, 1 + c]
    # Off by default: a mirrored sign swaps the dominant hand and can change its meaning (GUIDE.md).
    # Enable only for data where left- and right-handed signing are the same class.
    hflip: bool = False
    # Stills only (one-frame clips): per-frame shift of up to this share of the crop, scale 1 +- it and
    # rotation +- it radians (0.03: +-3 %, +-1.7 degrees), on top of the clip's own draw.
    still_jitter: float = 0.03

    def validate(self) -> None:
        """Raise :class:`UserError` for settings that cannot work."""
        lo, hi = self.crop_scale
        if not 0 < lo <= hi <= 1:
            raise UserError(f"crop_scale must satisfy 0 < low <= high <= 1, got {self.crop_scale}")
        lo, hi = self.crop_ratio
        if not 0 < lo <= hi:
            raise UserError(f"crop_ratio must satisfy 0 < low <= high, got {self.crop_ratio}")
        if not 0 <= self.max_rotation_deg < 90:
            raise UserError(f"max_rotation_deg must be in [0, 90), got {self.max_rotation_deg}")
        if not (0 <= self.brightness < 1 and 0 <= self.contrast < 1):
            raise UserError(f"brightness and contrast must be in [0, 1), got {self.brightness}, {self.contrast}")
        if not 0 <= self.still_jitter < 0.5:
            raise UserError(f"still_jitter must be in [0, 0.5), got {self.still_jitter}")


def sample_indices_tf(n_frames: tf.Tensor, frames: int, training: bool, seed: tf.Tensor | None = None) -> tf.Tensor:
    """TensorFlow twin of :func:`edge_slr.data.preprocess.sample_indices` (same indices in evaluation)."""
    n = tf.cast(n_frames, tf.int64)
    i = tf.range(frames, dtype=tf.int64)
    if not training:
        return ((2 * i + 1) * n) // (2 * frames)
    offsets = tf.random.stateless_uniform([frames], seed=seed, dtype=tf.float64)
    idx = tf.cast(tf.floor((tf.cast(i, tf.float64) + offsets) * tf.cast(n, tf.float64) / frames), tf.int64)
    return tf.minimum(idx, n - 1)


def decode_frames(jpegs: tf.Tensor, indices: tf.Tensor, frames: int, stored_size: int) -> tf.Tensor:
    """Decode only the sampled JPEGs -> uint8 (frames, stored_size, stored_size, 3)."""
    chosen = tf.gather(jpegs, indices)
    video = tf.stack([tf.io.decode_jpeg(chosen[t], channels=3, dct_method="INTEGER_FAST") for t in range(frames)])
    return tf.ensure_shape(video, [frames, stored_size, stored_size, 3])


def _inverse_affine(size: int, crop_w: tf.Tensor, crop_h: tf.Tensor, cx: tf.Tensor, cy: tf.Tensor,
                    angle: tf.Tensor, flip: tf.Tensor) -> tf.Tensor:
    """2x3 matrix mapping output pixels to input pixels for a rotated, possibly mirrored crop.

    The crop is centred at (cx, cy) with sides crop_w x crop_h in continuous coordinates (the frame
    spans [0, S], pixel centres at +0.5); ``flip`` is +1 or -1; the output is size x size. With
    parameters of shape (T,) instead of scalars the result is (2, 3, T): one matrix per frame.
    """
    c, s = tf.cos(angle), tf.sin(angle)
    half = 0.5 / size - 0.5  # normalized position of output pixel 0's centre
    a0, a1 = flip * c * crop_w / size, -s * crop_h / size
    b0, b1 = flip * s * crop_w / size, c * crop_h / size
    a2 = cx - 0.5 + flip * c * crop_w * half - s * crop_h * half
    b2 = cy - 0.5 + flip * s * crop_w * half + c * crop_h * half
    return tf.cast(tf.stack([[a0, a1, a2], [b0, b1, b2]]), tf.float32)


def _warp_and_color(video: np.ndarray, matrix: np.ndarray, size: np.ndarray, gain: np.ndarray,
                    offset: np.ndarray) -> np.ndarray:
    """Warp every frame with one inverse affine matrix, then one brightness/contrast lookup table.

    Contrast scales around the clip's mean colour (per channel), so the clip keeps its overall tone.
    """
    dsize = (int(size), int(size))
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    matrices = matrix if matrix.ndim == 3 else [matrix] * len(video)  # (T, 2, 3): one per frame (stills)
    out = np.stack([cv2.warpAffine(f, m, dsize, flags=flags, borderMode=cv2.BORDER_REFLECT_101)
                    for f, m in zip(video, matrices, strict=True)])
    if gain == 1.0 and offset == 0.0:
        return out
    mean = np.mean([cv2.mean(f)[:3] for f in out], axis=0)  # per channel, over the clip
    levels = np.arange(256, dtype=np.float32)[:, None]
    table = np.clip(np.rint((levels - mean) * gain + mean + offset), 0, 255).astype(np.uint8)
    table = np.ascontiguousarray(table.reshape(256, 1, 3))
    for f in out:
        cv2.LUT(f, table, dst=f)
    return out


def warp_clip(video: tf.Tensor, matrix: tf.Tensor, size: int, gain: tf.Tensor | float = 1.0,
              offset: tf.Tensor | float = 0.0) -> tf.Tensor:
    """Crop, resize, rotate and flip all frames of a uint8 clip in one affine warp, then brightness/contrast.

    OpenCV instead of TF image ops: measured here on 16x128x128 -> 112, ``ImageProjectiveTransformV3``
    took 15-29 ms per clip and cv2.warpAffine 3 ms; float colour ops cost another 2.6 ms per clip
    that one uint8 lookup table avoids. OpenCV releases the GIL, so parallel map calls overlap.
    """
    args = [video, matrix, size, tf.cast(gain, tf.float32), tf.cast(offset, tf.float32)]
    out = tf.numpy_function(_warp_and_color, args, tf.uint8, stateful=False)
    return tf.ensure_shape(out, [video.shape[0], size, size, 3])


def eval_transform(video: tf.Tensor, size: int) -> tf.Tensor:
    """Evaluation spatial transform: the central :data:`EVAL_CROP_FRACTION` of the frame, resized to size.

    With the default 128-pixel storage and size 112 this is an exact 112-pixel central crop (no
    resampling). Same recipe as :func:`edge_slr.data.preprocess.preprocess_clip` for the live runtime.
    """
    stored = video.shape[1]
    side = int(round(stored * EVAL_CROP_FRACTION))
    top = (stored - side) // 2
    out = tf.cast(video[:, top : top + side, top : top + side], tf.float32)
    if side != size:
        out = tf.image.resize(out, [size, size], method="bilinear", antialias=True)
    return out


def augment_transform(video: tf.Tensor, size: int, cfg: AugmentConfig, seed: tf.Tensor,
                      still: tf.Tensor | bool = False) -> tf.Tensor:
    """Training spatial and colour augmentation of one uint8 clip -> float32 in [0, 255].

    ``still`` (a one-frame clip repeated): each frame also gets its own small shift/scale/rotation.
    """
    seeds = tf.random.experimental.stateless_split(seed, num=8)
    stored = float(video.shape[1])

    def uniform(k: int, lo: float, hi: float) -> tf.Tensor:
        return tf.random.stateless_uniform([], seed=seeds[k], minval=lo, maxval=hi, dtype=tf.float64)

    area = uniform(0, *cfg.crop_scale) * stored * stored
    ratio = tf.exp(uniform(1, math.log(cfg.crop_ratio[0]), math.log(cfg.crop_ratio[1])))
    crop_w = tf.minimum(tf.sqrt(area * ratio), stored)
    crop_h = tf.minimum(tf.sqrt(area / ratio), stored)
    cx = crop_w / 2 + uniform(2, 0.0, 1.0) * (stored - crop_w)
    cy = crop_h / 2 + uniform(3, 0.0, 1.0) * (stored - crop_h)
    max_angle = math.radians(cfg.max_rotation_deg)
    angle = uniform(4, -max_angle, max_angle) if max_angle > 0 else tf.constant(0.0, tf.float64)
    flip = tf.where(uniform(5, 0.0, 1.0) < 0.5, -1.0, 1.0) if cfg.hflip else 1.0
    if cfg.still_jitter > 0 and not (isinstance(still, bool) and not still):
        # Independent per-frame draws from a seed folded off the clip's, so non-still clips keep their draws.
        frames = int(video.shape[0])
        amount = tf.cast(still, tf.float64) * cfg.still_jitter
        jseeds = tf.random.experimental.stateless_split(tf.random.experimental.stateless_fold_in(seed, 1), num=4)

        def per_frame(k: int) -> tf.Tensor:
            return amount * tf.random.stateless_uniform([frames], seed=jseeds[k], minval=-1.0, maxval=1.0,
                                                         dtype=tf.float64)

        scale = 1.0 + per_frame(0)
        matrix = _inverse_affine(size, crop_w * scale, crop_h * scale, cx + per_frame(1) * crop_w,
                                 cy + per_frame(2) * crop_h, angle + per_frame(3), tf.cast(flip, tf.float64))
        matrix = tf.transpose(matrix, [2, 0, 1])
    else:
        matrix = _inverse_affine(size, crop_w, crop_h, cx, cy, angle, tf.cast(flip, tf.float64))
    gain = uniform(6, 1 - cfg.contrast, 1 + cfg.contrast) if cfg.contrast > 0 else 1.0
    offset = uniform(7, -cfg.brightness, cfg.brightness) * 255.0 if cfg.brightness > 0 else 0.0
    return tf.cast(warp_clip(video, matrix, size, gain, offset), tf.float32)


def _shard_records(files: list[str], training: bool, seed: int, deterministic: bool) -> tf.data.Dataset:
    """Stage 1: read the split's shards, interleaved (shard order shuffled each epoch in training)."""
    ds = tf.data.Dataset.from_tensor_slices(files)
    if training:
        ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    return ds.interleave(tf.data.TFRecordDataset, cycle_length=min(len(files), 4), block_length=1,
                         num_parallel_calls=AUTOTUNE, deterministic=deterministic)


def make_dataset(
    data_dir: str | Path | DatasetInfo,
    split: str,
    *,
    frames: int = 16,
    size: int = 112,
    batch: int = 8,
    training: bool = False,
    augment: AugmentConfig | None = None,
    seed: int = 0,
    shuffle_buffer: int = 256,
    drop_remainder: bool = False,
    deterministic: bool = True,
) -> tf.data.Dataset:
    """Batches of (clips float32 (B, frames, size, size, 3) in [0, 255], labels int32 (B,)).

    ``training`` turns on shard/record shuffling, random temporal sampling and ``augment``
    (default :class:`AugmentConfig`; pass ``AugmentConfig(crop_scale=(1, 1), max_rotation_deg=0,
    brightness=0, contrast=0)`` for sampling jitter only). The dataset is finite: call
    ``.repeat()`` for step-based training. ``deterministic=False`` lets parallel stages emit
    clips out of order (measured here: no faster on 2 cores); a run is then not exactly repeatable.
    Evaluation is always deterministic: same clips, same frames, same order every time.
    """
    info = data_dir if isinstance(data_dir, DatasetInfo) else load_dataset_info(data_dir)
    files = [str(p) for p in info.shard_paths(split)]
    if info.splits[split].clips == 0:
        raise UserError(f"split '{split}' of {info.data_dir} has no clips (all were skipped when preparing)")
    for name, value in (("frames", frames), ("size", size), ("batch", batch), ("shuffle_buffer", shuffle_buffer)):
        if value <= 0:
            raise UserError(f"{name} must be positive, got {value}")
    stored = info.clip_spec.size
    if size > stored:
        raise UserError(f"size {size} is larger than the stored frames ({stored} px) of {info.data_dir}; "
                        f"re-run `edge-slr prepare` with --size >= {size}")
    augment = augment or AugmentConfig()
    augment.validate()
    deterministic = deterministic or not training

    ds = _shard_records(files, training, seed, deterministic)
    if training:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
        # One random int per clip, a new stream each epoch: the per-clip seed of the stateless ops below.
        ds = tf.data.Dataset.zip(ds, tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True))
    else:
        ds = ds.map(lambda r: (r, tf.constant(0, tf.int64)))

    def load(serialized: tf.Tensor, rand: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        record = parse_clip(serialized)
        clip_seed = tf.stack([rand, tf.constant(seed, tf.int64)])
        seeds = tf.random.experimental.stateless_split(clip_seed, num=2)
        indices = sample_indices_tf(tf.shape(record["frames"])[0], frames, training, seeds[0])
        video = decode_frames(record["frames"], indices, frames, stored)
        still = tf.equal(tf.shape(record["frames"])[0], 1)  # one stored frame: a photo of a held sign
        video = augment_transform(video, size, augment, seeds[1], still) if training else eval_transform(video, size)
        return video, tf.cast(record["label"], tf.int32)

    ds = ds.map(load, num_parallel_calls=AUTOTUNE, deterministic=deterministic)
    ds = ds.batch(batch, drop_remainder=drop_remainder, num_parallel_calls=AUTOTUNE, deterministic=deterministic)
    return ds.prefetch(AUTOTUNE)
