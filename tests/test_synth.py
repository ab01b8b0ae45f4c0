"""Tests of ``edge-slr synth``: determinism, written files, rest at both ends, distinct motions, streams, CLI."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_slr.data.synth import (
    BACKGROUND_LABEL,
    SynthConfig,
    count_frames,
    generate_dataset,
    generate_stream,
    label_names,
    render_clip,
)
from edge_slr.data.synth_signs import MAX_CLASSES, REST_POS, SIGNS, class_names
from edge_slr.errors import UserError

EDGE_SLR = Path(sys.executable).parent / "edge-slr"
REST_LINE = 0.85  # at rest both hand centres are below this fraction of the image height


def _decode(path: Path) -> np.ndarray:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    capture.release()
    return np.stack(frames)


def test_same_seed_gives_identical_frames_and_another_seed_does_not():
    config = SynthConfig(classes=3, seed=7)
    a, b = render_clip(config, 2, signer=1, clip=3), render_clip(config, 2, signer=1, clip=3)
    assert a.frames.dtype == np.uint8 and a.frames.ndim == 4 and a.frames.shape[-1] == 3
    np.testing.assert_array_equal(a.frames, b.frames)
    other = render_clip(SynthConfig(classes=3, seed=8), 2, signer=1, clip=3)
    assert other.frames.shape != a.frames.shape or not np.array_equal(other.frames, a.frames)


def test_dataset_manifest_matches_the_files(tmp_path):
    config = SynthConfig(out=tmp_path / "synth", classes=3, clips_per_class=2, signers=2, seed=1)
    manifest = generate_dataset(config)
    out = manifest.parent
    with manifest.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["path", "label", "signer"]
    assert len(rows) == 3 * 2 * 2
    assert {r["label"] for r in rows} == set(class_names(3))
    assert {r["signer"] for r in rows} == {"s0", "s1"}
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.mp4")) == sorted(r["path"] for r in rows)
    low, high = config.frame_range
    for row in rows:
        assert row["path"].split("/")[0] == row["label"]
        assert low <= count_frames(out / row["path"]) <= high
    assert (out / "classes.txt").read_text().split() == class_names(3)
    settings = json.loads((out / "synth.json").read_text())
    assert settings["classes"] == class_names(3) and settings["config"]["seed"] == 1
    preview = cv2.imread(str(out / "preview.png"))
    assert preview is not None and preview.shape[0] > 3 * 112
    assert not list(tmp_path.glob(".synth.partial*"))
    # The file holds the clip render_clip gives (up to MPEG-4 compression).
    clip = render_clip(config, 1, signer=1, clip=0)
    decoded = _decode(out / "c01_circle" / "s1_000.mp4")
    assert decoded.shape == clip.frames.shape
    assert np.abs(decoded.astype(np.int16) - clip.frames).mean() < 6


def _small(frame: np.ndarray) -> np.ndarray:
    """Upper three quarters, shrunk and brightness-normalised: noise and flicker go, arm movement stays."""
    top = cv2.resize(frame[: frame.shape[0] * 3 // 4].astype(np.float32), (28, 21), interpolation=cv2.INTER_AREA)
    return top * (128.0 / top.mean())


@pytest.mark.parametrize("class_index", range(MAX_CLASSES))
def test_clips_start_and_end_at_rest(class_index):
    clip = render_clip(SynthConfig(classes=MAX_CLASSES), class_index, signer=class_index % 3, clip=2)
    height = clip.frames.shape[1]
    rest_frames = np.r_[: clip.sign_start, clip.sign_end + 1: len(clip.frames)]
    assert clip.sign_start >= 1 and clip.sign_end <= len(clip.frames) - 2
    assert (clip.hands[rest_frames, :, 1] > REST_LINE * height).all()
    assert (clip.hands[clip.sign_start:clip.sign_end + 1, :, 1] < REST_LINE * height).any()
    first = _small(clip.frames[0])
    still = np.abs(_small(clip.frames[-1]) - first).mean()
    moving = max(np.abs(_small(f) - first).mean() for f in clip.frames[clip.sign_start:clip.sign_end + 1])
    assert moving > 2 * still


def test_live_datasets_also_cut_sign_clips_as_stream_windows():
    config = SynthConfig(classes=4, background=True)
    clips = [render_clip(config, c % 4, signer=1, clip=c) for c in range(16)]
    height = clips[0].frames.shape[1]
    raised = [(c.hands[:, :, 1] < REST_LINE * height).any(axis=1) for c in clips]
    # a stream window may begin or end inside a sign, or hold the edge of a neighbouring one
    assert any(r[0] or r[-1] for r in raised), "some clips are cut from a stream"
    assert any(c.sign_start >= 1 and not (r[:c.sign_start].any() or r[c.sign_end + 1:].any())
               for c, r in zip(clips, raised, strict=True)), "others are isolated clips"
    for clip, r in zip(clips, raised, strict=True):
        assert 0 <= clip.sign_start < clip.sign_end < len(clip.frames)
        assert r[clip.sign_start:clip.sign_end + 1].mean() > 0.5, "the labelled sign fills its span"


def test_background_class_is_rest_or_a_partial_sign():
    config = SynthConfig(classes=3, background=True)
    assert label_names(config)[-1] == BACKGROUND_LABEL and len(label_names(config)) == 4
    clips = [render_clip(config, 3, signer=1, clip=c) for c in range(12)]
    assert {c.label for c in clips} == {BACKGROUND_LABEL}
    height = clips[0].frames.shape[1]
    raised = [(c.hands[:, :, 1] < REST_LINE * height).any(axis=1).mean() for c in clips]
    assert min(raised) == 0.0, "some no-sign clips are rest only"
    assert max(raised) > 0, "others hold parts of signs (the ends of a sign, the start of the next)"
    with pytest.raises(UserError, match="class index must be 0..2"):
        render_clip(SynthConfig(classes=3), 3)


def _motion_signature(index: int) -> np.ndarray:
    """Both hands' paths (other hand at rest if unused), finger extension and depth over the sign."""
    u = np.linspace(0, 1, 24)
    dom, other = SIGNS[index].motion(u)
    other_pos = np.tile(REST_POS * [-1, 1], (len(u), 1)) if other is None else other.pos
    return np.concatenate([dom.pos.ravel(), other_pos.ravel(), 0.3 * dom.ext.ravel(), 0.3 * dom.scale])


def test_every_class_moves_differently():
    signatures = np.stack([_motion_signature(i) for i in range(MAX_CLASSES)])
    gaps = np.sqrt(((signatures[:, None] - signatures[None]) ** 2).mean(-1))
    np.fill_diagonal(gaps, np.inf)
    assert gaps.min() > 0.1, np.unravel_index(gaps.argmin(), gaps.shape)


def test_two_classes_with_same_signer_and_seed_differ_in_motion():
    config = SynthConfig(classes=2)
    a, b = render_clip(config, 0, signer=0, clip=0), render_clip(config, 1, signer=0, clip=0)
    assert a.label != b.label
    steps = np.linspace(0, 1, 16)
    # Dominant-hand paths over the sign, resampled to a common length, in pixels.
    paths = [np.stack([np.interp(steps, np.linspace(0, 1, c.sign_end - c.sign_start + 1),
                                 c.hands[c.sign_start:c.sign_end + 1, 0, axis]) for axis in (0, 1)], 1) for c in (a, b)]
    assert np.linalg.norm(paths[0] - paths[1], axis=1).mean() > 10


def test_other_sizes_render():
    clip = render_clip(SynthConfig(classes=1, width=160, height=96), 0)
    assert clip.frames.shape[1:] == (96, 160, 3)


def test_stream_truth_is_consistent(tmp_path):
    config = SynthConfig(out=tmp_path / "live", classes=4, signs=4, seed=3)
    video, truth_path = generate_stream(config)
    truth = json.loads(truth_path.read_text())
    assert truth["frames"] == count_frames(video) and truth["fps"] == config.fps
    signs = truth["signs"]
    assert len(signs) == 4 and all(s["label"] in class_names(4) for s in signs)
    min_rest = round(config.rest_seconds[0] * config.fps)
    edges = [-1] + [f for s in signs for f in (s["start_frame"], s["end_frame"])] + [truth["frames"]]
    gaps = [edges[i + 1] - edges[i] - 1 for i in range(0, len(edges), 2)]  # rest frames before, between, after
    assert all(g >= min_rest for g in gaps), gaps
    assert all(s["end_frame"] - s["start_frame"] + 1 >= 16 for s in signs)


def test_config_rejects_bad_values():
    with pytest.raises(UserError, match=str(MAX_CLASSES)):
        SynthConfig(classes=MAX_CLASSES + 1)
    with pytest.raises(UserError, match="even"):
        SynthConfig(width=111)
    with pytest.raises(UserError, match="--fps"):
        SynthConfig(fps=5)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(EDGE_SLR), "synth", *args], capture_output=True, text=True, timeout=120)


def test_cli_writes_a_dataset_and_refuses_to_overwrite_silently(tmp_path):
    out = tmp_path / "data"
    args = (str(out), "--classes", "3", "--clips-per-class", "2", "--signers", "2")
    result = _cli(*args)
    assert result.returncode == 0, result.stderr
    assert "12 clips" in result.stdout and len(result.stdout.strip().splitlines()) == 1
    assert len((out / "manifest.csv").read_text().splitlines()) == 1 + 12
    again = _cli(*args)
    assert again.returncode == 2 and "--overwrite" in again.stderr
    assert _cli(*args, "--overwrite").returncode == 0


@pytest.mark.parametrize("args, message", [
    (["--size", "12x"], "WIDTHxHEIGHT"),
    (["--classes", "0"], f"between 1 and {MAX_CLASSES}"),
    (["--classes", str(MAX_CLASSES + 1)], f"between 1 and {MAX_CLASSES}"),
])
def test_cli_bad_input_is_one_line_exit_2(tmp_path, args, message):
    result = _cli(str(tmp_path / "out"), *args)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
