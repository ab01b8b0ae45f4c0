"""Video/frame-folder readers and the pure preprocessing shared with the runtime (no TensorFlow)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from data_videos import H, W, write_bytes, write_frames, write_video

from edge_slr.data.preprocess import crop_square, preprocess_clip, sample_indices, uniform_indices
from edge_slr.data.video import UnreadableClip, read_clip, read_frame_folder, read_video


def rect_x(rgb: np.ndarray) -> int:
    """Left edge of the red rectangle in an RGB frame (as drawn by data_videos.frame)."""
    red = (rgb[..., 0].astype(int) - rgb[..., 2].astype(int)) > 60
    return int(np.argmax(red.any(axis=0)))


def test_read_video_all_frames_rgb(tmp_path):
    path = write_video(tmp_path / "clip.mp4", 20, fps=30.0)
    clip = read_video(path)
    assert clip.frames.shape == (20, H, W, 3) and clip.frames.dtype == np.uint8
    assert clip.source_frames == 20 and clip.fps == pytest.approx(30.0)
    assert clip.indices.tolist() == list(range(20))
    r, g, b = clip.frames[0, H // 2, 3].astype(int)  # inside the red rectangle (BGR (0,0,255) written)
    assert r > 200 and b < 60 and g < 60
    xs = [rect_x(f) for f in clip.frames]
    assert xs == sorted(xs) and xs[0] < xs[-1]


def test_read_video_keeps_evenly_spread_frames_and_transforms(tmp_path):
    path = write_video(tmp_path / "clip.mp4", 40)
    full = read_video(path)
    clip = read_video(path, max_frames=8, transform=lambda f: crop_square(f, 32))
    assert clip.frames.shape == (8, 32, 32, 3)
    assert clip.indices.tolist() == uniform_indices(40, 8).tolist()
    assert clip.source_frames == 40
    expected = np.stack([crop_square(full.frames[i], 32) for i in clip.indices])
    assert np.abs(clip.frames.astype(int) - expected.astype(int)).max() <= 1
    short = read_video(path, max_frames=100)  # fewer frames than asked: all of them, none repeated
    assert short.indices.tolist() == list(range(40))


@pytest.mark.parametrize("content, reason", [
    (b"", "empty file"),
    (np.random.default_rng(0).bytes(4096), "cannot open"),
])
def test_bad_videos_raise_with_reason(tmp_path, content, reason):
    path = write_bytes(tmp_path / "bad.mp4", content)
    with pytest.raises(UnreadableClip, match=reason) as info:
        read_clip(path, 8)
    assert info.value.path == str(path) and reason in info.value.reason


def test_missing_and_truncated_videos(tmp_path):
    with pytest.raises(UnreadableClip, match="missing file"):
        read_clip(tmp_path / "nope.mp4")
    data = write_video(tmp_path / "ok.mp4", 30).read_bytes()
    truncated = write_bytes(tmp_path / "cut.mp4", data[: len(data) // 2])  # moov atom lost: not openable
    with pytest.raises(UnreadableClip):
        read_clip(truncated)


def test_utf8_paths(tmp_path):
    path = write_video(tmp_path / "ljubičasta" / "žuta 01.mp4", 12)
    assert read_clip(path, 4).frames.shape[0] == 4
    folder = write_frames(tmp_path / "narančasta" / "smeđe", 5)
    assert read_clip(folder).frames.shape[0] == 5


def test_frame_folder_natural_order_and_bad_frames(tmp_path):
    folder = tmp_path / "clip"
    write_frames(folder, 12)
    clip = read_frame_folder(folder)
    assert clip.fps == 0.0 and clip.source_frames == 12
    xs = [rect_x(f) for f in clip.frames]
    assert xs == sorted(xs)
    write_bytes(folder / "000003.jpg", b"not a jpeg")
    clip = read_frame_folder(folder, max_frames=100)
    assert clip.source_frames == 11 and len(clip.frames) == 11
    (tmp_path / "empty").mkdir()
    with pytest.raises(UnreadableClip, match="no frame images"):
        read_frame_folder(tmp_path / "empty")


def test_uniform_indices():
    assert uniform_indices(32, 16).tolist() == list(range(1, 32, 2))
    assert uniform_indices(5, 5).tolist() == [0, 1, 2, 3, 4]
    assert uniform_indices(4, 8).tolist() == [0, 0, 1, 1, 2, 2, 3, 3]  # short clips repeat frames
    with pytest.raises(ValueError):
        uniform_indices(0, 8)


def test_sample_indices_training_stays_in_segments():
    rng = np.random.default_rng(0)
    draws = np.stack([sample_indices(64, 8, training=True, rng=rng) for _ in range(200)])
    assert draws.min() >= 0 and draws.max() <= 63
    segment = np.arange(8) * 8
    assert ((draws >= segment) & (draws < segment + 8)).all()
    assert len({tuple(d) for d in draws}) > 100  # jitter: different subsets
    assert (np.diff(sample_indices(3, 8, True, np.random.default_rng(1))) >= 0).all()
    assert sample_indices(64, 8).tolist() == uniform_indices(64, 8).tolist()


def test_preprocess_clip_centre_crop():
    frames = np.zeros((2, 60, 100, 3), np.uint8)
    frames[:, :, 50:] = 255  # right half white
    out = preprocess_clip(frames, 28)
    assert out.shape == (2, 28, 28, 3) and out.dtype == np.uint8
    assert out[:, :, :10].max() == 0 and out[:, :, -10:].min() == 255


def test_readers_do_not_import_tensorflow():
    code = ("import sys; import edge_slr.data.video, edge_slr.data.preprocess, edge_slr.data.layouts, "
            "edge_slr.data.split, edge_slr.data.info; "
            "bad = [m for m in ('tensorflow', 'tf_keras', 'keras') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
