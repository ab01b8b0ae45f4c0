"""The live pipeline end to end: real demo model, real sources, real threads; every wait bounded."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_slr.data.synth import SynthConfig, generate_stream
from edge_slr.errors import UserError
from edge_slr.live.commands import demo_model_path
from edge_slr.live.pipeline import LiveConfig, LivePipeline
from edge_slr.live.sources import SYNTH_TRAINING_SIGNERS, CaptureSource, SourceLost, open_source

pytestmark = pytest.mark.usefixtures("no_thread_leaks")

STREAM = SynthConfig(classes=10, signers=SYNTH_TRAINING_SIGNERS, seed=7, stream=True, signs=4, width=112, height=112)


@pytest.fixture(scope="module")
def stream_video(tmp_path_factory) -> tuple[Path, Path]:
    """A 4-sign generated stream written to mp4 plus its stream.json (signer unseen in training)."""
    out = tmp_path_factory.mktemp("stream") / "s"
    return generate_stream(SynthConfig(**{**STREAM.__dict__, "out": out}))


def _config(source: str, **kw) -> LiveConfig:
    return LiveConfig(source=source, model=demo_model_path(), threads=1, **kw)


def test_every_frame_run_on_a_video_file_recognizes_the_signs_and_scores_them(stream_video):
    video, truth = stream_video
    pipeline = LivePipeline(_config(str(video), every_frame=True, realtime=False, truth=truth))
    pipeline.run()
    summary = pipeline.summary()
    frames = json.loads(truth.read_text())["frames"]
    assert summary["frames_captured"] == summary["frames_processed"] == frames, "every frame, none dropped"
    assert summary["frames_dropped"] == 0 and summary["ring_overwritten"] == 0
    assert summary["signs"] == 4
    assert summary["recall"] >= 0.75 and summary["precision"] >= 0.75, summary["events"]
    assert set(summary["stages"]) >= {"capture", "preprocess", "inference", "smoothing"}
    assert summary["event_latency_ms_median"] is not None


def test_the_causal_streaming_twin_runs_frame_by_frame_through_its_step_signatures(stream_video):
    """The demo model's causal (2+1)D twin: every sampled frame pushed once through the steps due on it."""
    video, truth = stream_video
    twin = Path(__file__).resolve().parents[1] / "export" / "demo_r2plus1d_small_causal_int8_stream.tflite"
    pipeline = LivePipeline(LiveConfig(source=str(video), model=twin, threads=1, every_frame=True, realtime=False,
                                       truth=truth))
    pipeline.run()
    summary = pipeline.summary()
    assert summary["streaming"] and summary["frames_processed"] == json.loads(truth.read_text())["frames"]
    assert summary["recall"] >= 0.75 and summary["precision"] >= 0.75, summary["events"]


def test_a_slow_model_drops_frames_but_never_lags_behind(stream_video):
    """Inference 3x slower than the frame interval: staleness stays bounded, drops are counted, no queue grows."""
    video, _ = stream_video
    interval_ms = 1000 / 25
    config = _config(str(video), extra_latency_ms=3 * interval_ms, stride=1, max_seconds=6.0)
    pipeline = LivePipeline(config)
    pipeline.run()
    s = pipeline.summary()
    inference_ms = s["stages"]["inference"]["p90_ms"]
    assert s["inferences"] >= 10
    assert s["staleness_ms"]["p90"] < inference_ms + 3 * interval_ms, s["staleness_ms"]
    skipped = s["frames_processed"] - s["inferences"]
    assert skipped > s["inferences"], "most frames are never inferred on: the worker takes only the newest window"
    assert s["processed_fps"] > 20, "capture keeps the camera's pace whatever inference does"


def test_stop_ends_every_thread_within_a_second():
    pipeline = LivePipeline(_config("synth:1:30"))
    runner = threading.Thread(target=pipeline.run)
    runner.start()
    time.sleep(1.5)
    assert pipeline.running
    start = time.monotonic()
    pipeline.stop()
    runner.join(timeout=2)
    assert not runner.is_alive() and not pipeline.running
    assert time.monotonic() - start < 1.0
    assert pipeline.summary()["frames_processed"] > 10


def test_an_exception_in_a_worker_thread_ends_the_run_with_its_message():
    def explode(event):
        raise RuntimeError("event sink exploded")

    pipeline = LivePipeline(_config("synth:2:6", every_frame=True, realtime=False), on_event=explode)
    start = time.monotonic()
    with pytest.raises(RuntimeError, match="inference thread failed: RuntimeError: event sink exploded"):
        pipeline.run()
    assert time.monotonic() - start < 60 and not pipeline.running


def _camera_from(video: Path, reopen_ok: bool):
    """A live capture that delivers ``video`` and then disappears; reopening gives it back or fails."""
    opened = []

    def opener():
        opened.append(1)
        return cv2.VideoCapture(str(video) if len(opened) == 1 or reopen_ok else str(video.parent / "gone.mp4"))

    return opener, opened


def test_a_camera_that_disappears_is_retried_then_the_run_ends_with_a_clear_message(stream_video):
    video, _ = stream_video
    opener, opened = _camera_from(video, reopen_ok=False)
    source = CaptureSource(0, "camera 0", live=True, opener=opener, retries=3, retry_delay=0.05)
    pipeline = LivePipeline(_config("0"), source=source)
    with pytest.raises(SourceLost, match="camera 0 stopped delivering frames .* 3 reopen attempts"):
        pipeline.run()
    assert len(opened) == 4, "the first open plus three retries"
    assert not pipeline.running


def test_a_camera_that_comes_back_keeps_streaming(stream_video):
    video, truth = stream_video
    opener, opened = _camera_from(video, reopen_ok=True)
    with CaptureSource(0, "camera 0", live=True, opener=opener, retries=3, retry_delay=0.05) as source:
        frames = json.loads(truth.read_text())["frames"]
        got = 0
        deadline = time.monotonic() + 30
        while got < frames + 5 and time.monotonic() < deadline:
            if source.read(timeout=5) is not None:
                got += 1
        assert source.stats.reopened >= 1 and got >= frames + 5


def test_bad_sources_and_models_fail_at_start_with_one_line(tmp_path, stream_video):
    with pytest.raises(UserError, match="neither a camera index, a URL, a folder nor an existing file"):
        open_source(str(tmp_path / "missing.mp4"))
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 1000)
    with pytest.raises(UserError, match="cannot"):
        open_source(str(broken))
    bad_model = tmp_path / "model.tflite"
    bad_model.write_bytes(b"not a model")
    with pytest.raises(UserError):
        LivePipeline(LiveConfig(source=str(stream_video[0]), model=bad_model))
    with pytest.raises(UserError, match="--every-frame needs a file"):
        CaptureSource(0, "camera 0", live=True, opener=lambda: cv2.VideoCapture(str(stream_video[0])),
                      every_frame=True)


def test_image_folder_source_plays_images_in_natural_order(tmp_path):
    for i in (1, 2, 10):
        cv2.imwrite(str(tmp_path / f"frame_{i}.png"), np.full((20, 30, 3), i * 10, np.uint8))
    with open_source(str(tmp_path), every_frame=True, fps=50) as source:
        frames = []
        while (frame := source.read(timeout=5)) is not None:
            frames.append(frame)
    assert [int(f.rgb[0, 0, 0]) for f in frames] == [10, 20, 100]
    assert [f.t_media for f in frames] == [0.0, 0.02, 0.04]


def test_live_cli_headless_writes_events_stats_and_annotated_video(stream_video, tmp_path):
    video, truth = stream_video
    events, stats, record = tmp_path / "events.jsonl", tmp_path / "stats.json", tmp_path / "annotated.mp4"
    proc = subprocess.run(
        [sys.executable, "-m", "edge_slr.cli", "live", "--source", str(video), "--model", str(demo_model_path()),
         "--headless", "--every-frame", "--threads", "1", "--truth", str(truth), "--events", str(events),
         "--stats-json", str(stats), "--record", str(record)],
        capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert lines and all({"label", "confidence", "start", "end", "top3"} <= set(e) for e in lines)
    assert [json.loads(line) for line in events.read_text().splitlines()] == lines
    summary = json.loads(stats.read_text())
    assert summary["precision"] >= 0.75 and "stage" in proc.stderr and "precision" in proc.stderr
    capture = cv2.VideoCapture(str(record))
    assert capture.get(cv2.CAP_PROP_FRAME_COUNT) > 10 and capture.get(cv2.CAP_PROP_FRAME_HEIGHT) >= 480
    capture.release()
    assert not list(tmp_path.glob(".*")), "no temporary files left behind"


def test_live_cli_bad_model_is_one_line(tmp_path):
    bad = tmp_path / "x.tflite"
    bad.write_bytes(b"nope")
    proc = subprocess.run([sys.executable, "-m", "edge_slr.cli", "live", "--source", "synth", "--model", str(bad),
                           "--headless"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "error" in proc.stderr and "Traceback" not in proc.stderr


def test_a_delegate_that_cannot_load_falls_back_to_the_cpu_with_one_line(tmp_path, stream_video):
    fake = tmp_path / "libnot_a_delegate.so"
    fake.write_bytes(b"\x7fELF but not really")
    warnings: list[str] = []
    from edge_slr.live.model import LiveModel

    model = LiveModel(demo_model_path(), num_threads=1, delegate=str(fake), warn=warnings.append)
    try:
        assert len(warnings) == 1 and "falling back to the CPU" in warnings[0] and "\n" not in warnings[0]
        assert model.delegate is None
        clip = np.zeros((model.card.frames, model.size, model.size, 3), np.uint8)
        assert model.classify_clip(clip).shape == (len(model.labels),)
    finally:
        model.close()


def test_only_the_inference_thread_touches_the_smoother():
    """The view reads a snapshot: the capture thread reading the smoother raced with reset() (hands gone) and
    crashed on real hand-gated streams ('NoneType' object is not subscriptable)."""
    pipeline = LivePipeline(_config("synth:2:2", every_frame=True, realtime=False))
    callers: set[str] = set()
    for name in ("update", "reset", "top", "best_sign"):
        method = getattr(pipeline.smoother, name)

        def spy(*args, _method=method, **kwargs):
            callers.add(threading.current_thread().name)
            return _method(*args, **kwargs)

        setattr(pipeline.smoother, name, spy)
    pipeline.run()
    view = pipeline.view()
    assert callers == {"live:inference"}
    assert view is not None and view.top3 and view.best_sign is not None
