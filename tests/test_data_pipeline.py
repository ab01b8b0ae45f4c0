"""The tf.data input pipeline over prepared shards."""

from __future__ import annotations

import numpy as np
import pytest
from data_videos import write_frames_video, write_video

from edge_slr.data.pipeline import AugmentConfig, make_dataset, sample_indices_tf, tf
from edge_slr.data.prepare import PrepareConfig, prepare
from edge_slr.data.preprocess import preprocess_clip, sample_indices
from edge_slr.data.tfrecord import read_records
from edge_slr.data.video import read_clip
from edge_slr.errors import UserError

COLOURS = ((0, 0, 255), (0, 255, 0), (255, 0, 0))
FRAMES, SIZE = 8, 32


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """3 classes x 4 clips of 24 frames, stored as 16 frames of 40x40."""
    root = tmp_path_factory.mktemp("pipeline")
    for c, colour in enumerate(COLOURS):
        for k in range(4):
            write_video(root / "src" / f"class{c}" / f"{k}.mp4", 24 + 2 * k, colour)
    prepare(PrepareConfig(src=root / "src", out=root / "data", store_frames=16, size=40, shard_size=3,
                          progress=False))
    return root / "data"


def batches(ds) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(x.numpy(), y.numpy()) for x, y in ds]


def test_train_batches(data_dir):
    ds = make_dataset(data_dir, "train", frames=FRAMES, size=SIZE, batch=4, training=True)
    out = batches(ds)
    assert sum(len(y) for _, y in out) == 9
    x, y = out[0]
    assert x.shape == (4, FRAMES, SIZE, SIZE, 3) and x.dtype == np.float32 and y.dtype == np.int32
    assert 0.0 <= x.min() and x.max() <= 255.0 and x.max() > 100.0
    assert set(np.concatenate([y for _, y in out]).tolist()) == {0, 1, 2}
    dropped = batches(make_dataset(data_dir, "train", frames=FRAMES, size=SIZE, batch=4, training=True,
                                   drop_remainder=True))
    assert [len(y) for _, y in dropped] == [4, 4]


def test_eval_is_deterministic(data_dir):
    def run():
        return batches(make_dataset(data_dir, "val", frames=FRAMES, size=SIZE, batch=2))

    first, second = run(), run()
    assert len(first) == 2
    for (x1, y1), (x2, y2) in zip(first, second, strict=True):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)
    ds = make_dataset(data_dir, "val", frames=FRAMES, size=SIZE, batch=2)
    again = batches(ds) + batches(ds)  # a second pass over one dataset object is also the same
    np.testing.assert_array_equal(again[0][0], again[2][0])


def test_training_is_reproducible_per_seed_and_varies_per_epoch(data_dir):
    def epochs(seed, n=2):
        ds = make_dataset(data_dir, "train", frames=FRAMES, size=SIZE, batch=9, training=True, seed=seed)
        return [batches(ds)[0] for _ in range(n)]

    a, b, c = epochs(0), epochs(0), epochs(1, 1)
    np.testing.assert_array_equal(a[0][0], b[0][0])
    np.testing.assert_array_equal(a[1][0], b[1][0])
    assert not np.array_equal(a[0][0], a[1][0])  # next epoch: other order, frames and crops
    assert not np.array_equal(a[0][0], c[0][0])


def test_eval_matches_runtime_preprocessing(data_dir):
    """The live runtime's NumPy preprocessing of the source video gives (nearly) what evaluation gives."""
    info_dir = data_dir
    x, _ = batches(make_dataset(info_dir, "val", frames=FRAMES, size=SIZE, batch=1))[0]
    record = read_records(str(sorted(info_dir.glob("val-*.tfrecord"))[0]))[0]
    source_index = np.asarray(record.frame_index)[sample_indices(len(record.jpegs), FRAMES)]
    video = read_clip(data_dir.parent / "src" / record.source).frames[source_index]
    expected = preprocess_clip(video, SIZE).astype(np.float32)
    assert np.abs(x[0] - expected).mean() < 6.0  # JPEG and resize-order differences only


def test_sample_indices_tf_matches_numpy():
    for n in (1, 5, 16, 17, 32, 141):
        for frames in (1, 8, 16):
            got = sample_indices_tf(tf.constant(n), frames, training=False).numpy()
            np.testing.assert_array_equal(got, sample_indices(n, frames))
    drawn = sample_indices_tf(tf.constant(64), 8, training=True, seed=tf.constant([1, 2], tf.int64)).numpy()
    segment = np.arange(8) * 8
    assert ((drawn >= segment) & (drawn < segment + 8)).all()


@pytest.fixture(scope="module")
def asymmetric_dir(tmp_path_factory):
    """Clips whose left half is red and right half blue: a mirror image is easy to see."""
    root = tmp_path_factory.mktemp("asym")
    frame = np.zeros((48, 48, 3), np.uint8)
    frame[:, :24] = (0, 0, 255)  # BGR red
    frame[:, 24:] = (255, 0, 0)
    for k in range(4):
        write_frames_video(root / "src" / "sign" / f"{k}.mp4", [frame] * 10)
    prepare(PrepareConfig(src=root / "src", out=root / "data", store_frames=8, size=40, val=0.0,
                          progress=False))
    return root / "data"


def left_minus_right_redness(x: np.ndarray) -> np.ndarray:
    red = x[..., 0] - x[..., 2]  # (B, T, H, W)
    return red[..., :4].mean(axis=(1, 2, 3)) - red[..., -4:].mean(axis=(1, 2, 3))


def test_horizontal_flip_is_off_by_default(asymmetric_dir):
    ds = make_dataset(asymmetric_dir, "train", frames=4, size=SIZE, batch=4, training=True).repeat(8)
    diffs = np.concatenate([left_minus_right_redness(x) for x, _ in batches(ds)])
    assert len(diffs) == 32 and diffs.min() > -20  # never mirrored (red never ends up on the right)
    flipping = make_dataset(asymmetric_dir, "train", frames=4, size=SIZE, batch=4, training=True,
                            augment=AugmentConfig(hflip=True)).repeat(8)
    diffs = np.concatenate([left_minus_right_redness(x) for x, _ in batches(flipping)])
    assert diffs.min() < -200 and diffs.max() > 200  # both orientations occur


def test_bad_requests(data_dir, tmp_path):
    with pytest.raises(UserError, match="unknown split.*Did you mean val"):
        make_dataset(data_dir, "vall")
    with pytest.raises(UserError, match="larger than the stored frames"):
        make_dataset(data_dir, "train", size=64)
    with pytest.raises(UserError, match="run `edge-slr prepare"):
        make_dataset(tmp_path, "train")
    with pytest.raises(UserError, match="crop_scale"):
        make_dataset(data_dir, "train", training=True, size=SIZE, augment=AugmentConfig(crop_scale=(0.0, 1.0)))
