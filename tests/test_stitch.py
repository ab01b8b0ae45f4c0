"""``edge-slr stitch``: clips and photos -> one stream + ground truth, scored end to end by ``live --truth``."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import SHARED_DATA, SHARED_MODELS, require_shared

from edge_slr.cli import main
from edge_slr.data.split import assign_splits
from edge_slr.data.stitch import REST_GREY, StitchConfig, clip_frames, select_clips, stitch
from edge_slr.data.stream_truth import load_stream_truth
from edge_slr.data.synth import SynthConfig, count_frames, generate_dataset
from edge_slr.errors import UserError
from edge_slr.live.commands import demo_model_path

FPS = 25.0


@pytest.fixture(scope="module")
def synth_clips(tmp_path_factory) -> Path:
    """3 classes x 2 clips of one rendered signer, 64x64 at 25 fps (with manifest.csv)."""
    out = tmp_path_factory.mktemp("stitch") / "clips"
    generate_dataset(SynthConfig(out=out, classes=3, clips_per_class=2, signers=1, width=64, height=64, seed=4))
    return out


def _frames(video: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(video))
    frames = []
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        frames.append(bgr)
    capture.release()
    return frames


def _write_video(path: Path, colours: list[int], fps: float, size: tuple[int, int] = (40, 40)) -> None:
    """A clip whose frame ``i`` is flat grey level ``colours[i]`` (easy to find again after encoding)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    for c in colours:
        writer.write(np.full((size[1], size[0], 3), c, np.uint8))
    writer.release()


def test_stitched_synth_clips_are_scored_end_to_end_by_live(synth_clips, tmp_path):
    """stitch -> frame count, spans and letterbox of the video -> `live --truth` scores every stitched sign."""
    out = tmp_path / "stream.mp4"
    assert main(["stitch", str(synth_clips), str(out), "--frame-size", "96x64", "--gap-seconds", "1",
                 "--seed", "3"]) == 0
    truth = load_stream_truth(tmp_path / "stream.json")
    raw = json.loads((tmp_path / "stream.json").read_text())
    clips = {row["path"]: count_frames(synth_clips / row["path"])
             for row in csv.DictReader((synth_clips / "manifest.csv").open())}
    gap = 25
    assert len(truth.signs) == 6 and truth.fps == FPS and truth.video == "stream.mp4"
    assert sorted(c["path"] for c in raw["clips"]) == sorted(clips), "every clip once"
    assert truth.frames == count_frames(out) == gap + sum(n + gap for n in clips.values())
    position = gap
    for sign, placed in zip(truth.signs, raw["clips"], strict=True):
        assert (sign.start_frame, sign.end_frame) == (position, position + clips[placed["path"]] - 1)
        assert sign.label == placed["label"] == Path(placed["path"]).parent.name
        assert truth.classes[sign.class_index] == sign.label
        position = sign.end_frame + 1 + gap
    frames = _frames(out)
    assert frames[0].shape == (64, 96, 3)
    rest, signing = frames[truth.signs[0].start_frame - 1], frames[truth.signs[0].start_frame + 5]
    assert np.abs(rest.astype(int) - REST_GREY).max() <= 8, "rest is plain grey"
    assert np.abs(signing[:, :14].astype(int) - REST_GREY).max() <= 8, "left letterbox bar"
    assert np.abs(signing[:, -14:].astype(int) - REST_GREY).max() <= 8, "right letterbox bar"
    assert np.abs(signing[:, 20:76].astype(int) - REST_GREY).mean() > 10, "the 64x64 clip sits in the middle"
    assert [s.label for s in truth.signs] != sorted(s.label for s in truth.signs), "shuffled, not listed order"

    stats = tmp_path / "stats.json"
    proc = subprocess.run(
        [sys.executable, "-m", "edge_slr.cli", "live", "--source", str(out), "--model", str(demo_model_path()),
         "--truth", str(tmp_path / "stream.json"), "--headless", "--every-frame", "--threads", "1",
         "--stats-json", str(stats)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(stats.read_text())
    assert {"precision", "recall", "event_latency_ms_median", "confusions", "repeats", "matched"} <= set(summary)
    assert summary["signs"] == len(truth.signs), "every stitched sign is scored"
    assert summary["frames_processed"] == truth.frames
    assert 0.0 <= summary["precision"] <= 1.0 and summary["matched"] >= 1
    assert "precision" in proc.stderr and "recall" in proc.stderr


@pytest.mark.slow
def test_bench_pipeline_scores_a_stitched_stream(synth_clips, tmp_path):
    """`bench --pipeline VIDEO --truth FILE` (real time) reports the same score keys on a short stitched stream."""
    out = tmp_path / "short.mp4"
    stitch(StitchConfig(src=synth_clips, out=out, frame_size=(64, 64), gap_seconds=0.4, limit=2))
    report = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "edge_slr.cli", "bench", "--pipeline", str(out), "--truth",
         str(out.with_suffix(".json")), "--threads", "1", "--json", str(report)],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(report.read_text())
    assert summary["signs"] == 2 and {"precision", "recall", "confusions"} <= set(summary)
    assert "precision" in proc.stdout


def test_truth_timing_of_stills_resampled_videos_and_edge_rest(tmp_path):
    """A photo is held --still-seconds; a 50 fps clip is resampled to 25 fps; --rest edge shows neighbours' frames."""
    src = tmp_path / "src"
    (src / "a").mkdir(parents=True)
    (src / "b").mkdir()
    cv2.imwrite(str(src / "a" / "photo.png"), np.full((60, 30, 3), 200, np.uint8))  # 30 wide, 60 high
    _write_video(src / "b" / "clip.mp4", [30] * 10 + [110] * 10 + [190] * 10, fps=50.0)  # 0.6 s
    config = StitchConfig(src=src, out=tmp_path / "s.mp4", frame_size=(80, 40), fps=FPS, gap_seconds=0.4,
                          still_seconds=1.0, rest="edge", seed=0)
    result = stitch(config)
    truth = result.truth
    spans = {s.label: (s.start_frame, s.end_frame) for s in truth.signs}
    first = truth.signs[0].label
    assert spans[first][0] == 10
    lengths = {label: end - start + 1 for label, (start, end) in spans.items()}
    assert lengths == {"a": 25, "b": 15}, "photo: 1 s at 25 fps; 30 frames at 50 fps: 0.6 s = 15 frames"
    assert truth.frames == 10 + 25 + 10 + 15 + 10 == count_frames(result.video)
    frames = [f.astype(int) for f in _frames(result.video)]
    b_start, b_end = spans["b"]
    assert abs(frames[b_start][20, 40, 0] - 30) <= 15 and abs(frames[b_end][20, 40, 0] - 190) <= 15
    # edge rest: frames before clip b show its first frame, after it its last; a photo has no rest frame, so a gap
    # between the photo and clip b shows b's frame for the whole gap
    before, after = frames[b_start - 10:b_start], frames[b_end + 1:b_end + 11]
    assert all(abs(f[20, 40, 0] - 30) <= 15 for f in before)
    assert all(abs(f[20, 40, 0] - 190) <= 15 for f in after)
    a_start, a_end = spans["a"]
    photo = frames[a_start]
    assert abs(photo[20, 40, 0] - 200) <= 15, "the 30x60 photo ..."
    assert abs(photo[20, 2, 0] - REST_GREY) <= 15, "... is letterboxed"
    assert all(abs(f[20, 40, 0] - 200) <= 15 for f in frames[a_start:a_end + 1]), "the photo is held"
    held = clip_frames(src / "a" / "photo.png", config)
    assert len(held) == 25 and all(np.array_equal(held[0], f) for f in held), "... unchanged (before encoding)"


def test_order_is_seeded_and_avoids_direct_repeats(synth_clips, tmp_path):
    def order(seed: int) -> list[str]:
        return [c.rel for c in select_clips(StitchConfig(src=synth_clips, out=tmp_path / "o.mp4", seed=seed))[1]]

    assert order(1) == order(1) and order(1) != order(2)
    for seed in range(6):
        labels = [Path(rel).parent.name for rel in order(seed)]
        assert sorted(labels) == sorted(["c00_wave", "c01_circle", "c02_push"] * 2)
        repeats = sum(a == b for a, b in zip(labels, labels[1:], strict=False))
        assert repeats <= 1 and (repeats == 0 or labels[-1] == labels[-2]), labels


def test_only_val_stitches_exactly_the_clips_prepare_holds_out(tmp_path):
    """--only val reuses prepare's split (same --split/--val/--split-seed): held-out signers, nobody else."""
    src = tmp_path / "photos"
    rows = []
    for signer in range(6):
        for label in "xyz":
            (src / label).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(src / label / f"p{signer}.png"), np.full((32, 32, 3), 30 * signer, np.uint8))
            rows.append(f"{label}/p{signer}.png,{label},s{signer}")
    (src / "manifest.csv").write_text("path,label,signer\n" + "\n".join(rows) + "\n")
    config = StitchConfig(src=src, out=tmp_path / "v.mp4", only="val", val=0.34, split_seed=5)
    listing, val = select_clips(config)
    assigned, report = assign_splits(listing.clips, "auto", 0.34, 5)
    assert sorted(c.rel for c in val) == sorted(c.rel for c in assigned if c.split == "val")
    assert {c.signer for c in val} == set(report.val_signers) and report.val_signers
    train = select_clips(StitchConfig(src=src, out=tmp_path / "t.mp4", only="train", val=0.34, split_seed=5))[1]
    assert not {c.rel for c in train} & {c.rel for c in val} and len(train) + len(val) == 18
    chosen = select_clips(StitchConfig(src=src, out=tmp_path / "s.mp4", signers=("s1", "s4"), limit=5))[1]
    assert len(chosen) == 5 and {c.signer for c in chosen} == {"s1", "s4"}


def _run_cli(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge_slr.cli", "stitch", *args], capture_output=True, text=True,
                          timeout=60)


def _message_lines(stderr: str) -> int:
    """Lines of stderr besides the progress bar (text mode turns its carriage returns into line breaks)."""
    return sum(1 for line in stderr.splitlines() if line.strip() and not line.startswith("stitch:"))


def test_unreadable_clips_are_skipped_and_counted_or_fail_with_strict(synth_clips, tmp_path):
    src = tmp_path / "src"
    (src / "c00_wave").mkdir(parents=True)
    (src / "c00_wave" / "good.mp4").write_bytes((synth_clips / "c00_wave" / "s0_000.mp4").read_bytes())
    (src / "c00_wave" / "broken.mp4").write_bytes(b"not a video at all" * 10)
    (src / "c00_wave" / "empty.mp4").write_bytes(b"")
    proc = _run_cli([str(src), str(tmp_path / "ok.mp4")])
    assert proc.returncode == 0, proc.stderr
    assert "skipped 2 unreadable clip(s)" in proc.stdout and "broken.mp4" in proc.stdout
    truth = json.loads((tmp_path / "ok.json").read_text())
    assert len(truth["signs"]) == 1 and {s["path"] for s in truth["skipped"]} == {"c00_wave/broken.mp4",
                                                                                 "c00_wave/empty.mp4"}
    proc = _run_cli([str(src), str(tmp_path / "strict.mp4"), "--strict"])
    assert proc.returncode == 2 and _message_lines(proc.stderr) == 1 and "Traceback" not in proc.stderr
    assert "broken.mp4" in proc.stderr or "empty.mp4" in proc.stderr
    assert not (tmp_path / "strict.mp4").exists() and not (tmp_path / "strict.json").exists()
    assert not list(tmp_path.glob(".*")), "no temporary files left behind"


@pytest.mark.parametrize("args, message", [
    (["{missing}", "{out}"], "does not exist"),
    (["{src}", "{tmp}/stream.avi"], "OUT must be a video file ending in"),
    (["{src}", "{out}", "--frame-size", "640by480"], "--frame-size must be WIDTHxHEIGHT"),
    (["{src}", "{out}", "--frame-size", "641x480"], "even widths and heights"),
    (["{src}", "{out}", "--signer", "nobody"], "no clips by signer(s) nobody"),
    (["{src}", "{out}", "--rest", "blue"], "invalid choice"),
    (["{broken}", "{out}"], "none of the 1 selected clips"),
])
def test_bad_input_is_one_line_and_writes_nothing(synth_clips, tmp_path, args, message):
    broken = tmp_path / "broken"
    (broken / "x").mkdir(parents=True)
    (broken / "x" / "bad.mp4").write_bytes(b"garbage" * 20)
    names = {"missing": tmp_path / "nope", "out": tmp_path / "stream.mp4", "src": synth_clips, "tmp": tmp_path,
             "broken": broken}
    proc = _run_cli([a.format(**names) for a in args])
    assert proc.returncode == 2, proc.stdout
    assert message in proc.stderr and "Traceback" not in proc.stderr
    if message != "invalid choice":  # argparse's own errors come with the usage lines
        assert _message_lines(proc.stderr) == 1, proc.stderr
    assert not list(tmp_path.glob("stream.*")) and not list(tmp_path.glob(".*"))


def test_an_existing_output_needs_overwrite(synth_clips, tmp_path):
    out = tmp_path / "s.mp4"
    out.write_bytes(b"keep me")
    with pytest.raises(UserError, match="exists; choose another name or pass --overwrite"):
        stitch(StitchConfig(src=synth_clips, out=out, limit=1))
    assert out.read_bytes() == b"keep me"
    stitch(StitchConfig(src=synth_clips, out=out, limit=1, overwrite=True, frame_size=(64, 64)))
    assert count_frames(out) == load_stream_truth(out.with_suffix(".json")).frames


@pytest.mark.slow
def test_real_photos_through_the_digits_model_with_hand_gating(tmp_path):
    """Real hand photos, the shipped hand-crop digits model and MediaPipe: grey rest gates inference between signs."""
    photos = require_shared(SHARED_DATA / "hand_photos")
    bundle = require_shared(SHARED_MODELS / "mediapipe" / "hand_landmarker.task")
    model = Path(__file__).resolve().parents[1] / "export" / "asl_digits_cnn_lstm_int8.tflite"
    out = tmp_path / "digits.mp4"
    stitch(StitchConfig(src=photos, out=out, frame_size=(320, 240), still_seconds=1.0, gap_seconds=1.2, limit=6))
    stats = tmp_path / "stats.json"
    proc = subprocess.run(
        [sys.executable, "-m", "edge_slr.cli", "live", "--source", str(out), "--model", str(model), "--hands-model",
         str(bundle), "--truth", str(out.with_suffix(".json")), "--headless", "--every-frame", "--threads", "1",
         "--stats-json", str(stats)], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(stats.read_text())
    assert summary["signs"] == 6 and summary["crop"] == "hand"
    assert summary["matched"] >= 3, summary["events"]  # recall is bounded by MediaPipe finding the hand
