"""The live pipeline: capture thread -> ring buffer -> inference worker -> smoother -> events.

Threads and their owners (all started and joined by :class:`LivePipeline`):

* the source's reader thread (inside the :class:`~edge_slr.live.sources.FrameSource`): newest frame only;
* **capture**: takes the newest frame, runs MediaPipe hands (the detector is created, used and closed in
  this thread, as VIDEO mode requires), crops as the model card says, resizes, pushes to the ring;
* **inference**: owns the model; a full-clip model classifies the newest window every ``stride`` frames,
  a streaming model encodes each new sample time once; smoothing turns predictions into events;
* the caller's thread runs :meth:`LivePipeline.run`: display or headless stats, stop conditions.

Any exception in a thread stops the run and is re-raised by ``run`` (never a silently dead thread);
``stop()`` ends every thread within a second.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge_slr.data.stream_truth import StreamTruth, load_stream_truth
from edge_slr.errors import UserError
from edge_slr.hands import CropSpec, CropTracker, Hand, HandDetector, apply_crop, resolve_hands_model
from edge_slr.live.metrics import Score, StageTimes, score_events
from edge_slr.live.model import LiveModel
from edge_slr.live.ring import FrameRing
from edge_slr.live.smoothing import EventSmoother, SignEvent, SmoothingConfig, softmax
from edge_slr.live.sources import FrameSource, open_source

POLL = 0.1  # seconds every blocking wait lasts at most, so a stop request is seen within it


@dataclass(frozen=True)
class LiveConfig:
    """Everything ``edge-slr live`` (and ``demo``, ``bench --pipeline``) decides; one object per command."""

    source: str
    model: Path
    threads: int | None = None
    xnnpack: bool = True
    delegate: str | None = None  # external delegate library (e.g. the GPU delegate); CPU fallback when it fails
    stride: int = 2  # camera frames between two full-clip inferences (streaming: sample times)
    realtime: bool = True
    every_frame: bool = False
    hands_model: Path | None = None
    gate_seconds: float = 1.0  # no hand seen for this long: no inference, smoothing and stream state reset
    clip_seconds: float | None = None  # override the card's window length
    smoothing: SmoothingConfig = field(default_factory=SmoothingConfig)
    extra_latency_ms: float = 0.0  # added to every inference: what a slower device would do
    max_seconds: float | None = None
    truth: Path | None = None
    fps: float | None = None  # pace of an image folder / override of a file's rate

    def __post_init__(self) -> None:
        if self.stride < 1:
            raise UserError(f"--stride must be >= 1, got {self.stride}")
        if self.gate_seconds <= 0:
            raise UserError(f"--gate-seconds must be positive, got {self.gate_seconds:g}")
        if self.extra_latency_ms < 0:
            raise UserError("--extra-latency-ms must be >= 0")


@dataclass(frozen=True)
class View:
    """What the display shows for the newest processed frame."""

    rgb: np.ndarray
    index: int
    t_media: float
    hands: tuple[Hand, ...]
    crop: tuple[float, float, float] | None  # x, y, side of the model's crop in frame pixels
    top3: tuple[tuple[str, float], ...]
    best_sign: tuple[str, float] | None  # the most probable sign (never the no-sign label): the confidence bar
    on_threshold: float  # where the bar fires an event
    active: str | None
    last_event: SignEvent | None
    gated: bool
    fps: float
    latency_ms: float


class LivePipeline:
    """One live run. ``run()`` blocks until the source ends, ``stop()`` is called, or a thread fails."""

    def __init__(self, config: LiveConfig, *, source: FrameSource | None = None,
                 on_event: Callable[[SignEvent], None] | None = None):
        self.config = config
        self.model = LiveModel(config.model, num_threads=config.threads, use_xnnpack=config.xnnpack,
                               clip_seconds=config.clip_seconds, delegate=config.delegate)
        try:
            self.crop = CropSpec.from_card(self.model.card.raw["input"].get("crop", {}))
            self.hands_model = resolve_hands_model(config.hands_model)
            if self.crop.kind != "centre" and self.hands_model is None:
                raise UserError(f"{config.model} expects the '{self.crop.kind}' crop, which needs hand landmarks; "
                                "pass --hands-model PATH/hand_landmarker.task (or set EDGE_SLR_HANDS_MODEL)")
            self.source = source or open_source(config.source, realtime=config.realtime,
                                                every_frame=config.every_frame, fps=config.fps)
        except BaseException:
            self.model.close()
            raise
        self.truth: StreamTruth | None = load_stream_truth(config.truth) if config.truth else self.source.truth
        timing = self.model.timing
        window_frames = int(np.ceil(timing.clip_seconds * self.source.fps)) + 1
        self.ring = FrameRing(max(2 * window_frames, window_frames + 4 * config.stride + 8),
                              (self.model.size, self.model.size, 3), reserve=window_frames + 1)
        self.smoother = EventSmoother(self.model.labels, config.smoothing, self.model.background)
        self.times = StageTimes()
        self.events: list[SignEvent] = []
        self.predictions: list[tuple[float, np.ndarray]] = []  # (stream time, probabilities) of every inference
        self._on_event = on_event
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._errors: list[tuple[str, BaseException]] = []
        self._view: View | None = None
        self._last_event: SignEvent | None = None
        self._gated = False
        # what the display shows of the smoother, copied by the inference thread (the smoother's owner) under
        # the lock: the capture thread reading the smoother itself would race with update() and reset()
        self._smoothed: tuple[tuple[tuple[str, float], ...], tuple[str, float] | None, str | None] = ((), None, None)
        self._inferences = 0
        self._staleness: list[float] = []
        self._latency = 0.0
        self._fps_times: list[float] = []
        self._threads = [threading.Thread(target=self._guard, args=(name, fn), name=f"live:{name}", daemon=True)
                         for name, fn in (("capture", self._capture), ("inference", self._inference))]
        self._started = 0.0
        self._finished = 0.0

    # -- control --------------------------------------------------------------------------------

    def start(self) -> None:
        self._started = time.monotonic()
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Ask every thread to end; they see it within :data:`POLL` seconds."""
        self._stop.set()
        self.ring.close()

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def join(self, timeout: float = 1.0) -> None:
        """Join both threads and the source's reader (each bounded), then release the model and source."""
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        self.source.close()
        if not self.running:
            self.model.close()
        self._finished = time.monotonic()

    def raise_errors(self) -> None:
        """Re-raise the first exception any thread ended with."""
        with self._lock:
            errors = list(self._errors)
        if errors:
            name, exc = errors[0]
            if isinstance(exc, UserError):
                raise exc
            raise RuntimeError(f"the live {name} thread failed: {type(exc).__name__}: {exc}") from exc

    def view(self) -> View | None:
        with self._lock:
            return self._view

    def run(self, tick: Callable[[LivePipeline], bool] | None = None, tick_interval: float = POLL) -> None:
        """Start, then call ``tick(self)`` every ``tick_interval`` s until the run ends (``tick`` False: stop).

        Ctrl-C stops the threads before the ``KeyboardInterrupt`` propagates.
        """
        self.start()
        try:
            while self.running and not self._stop.is_set():
                if tick is not None and tick(self) is False:
                    break
                if self.config.max_seconds and time.monotonic() - self._started >= self.config.max_seconds:
                    break
                time.sleep(tick_interval)
        finally:
            self.stop()
            self.join()
        self.raise_errors()

    # -- threads --------------------------------------------------------------------------------

    def _guard(self, name: str, body: Callable[[], None]) -> None:
        try:
            body()
        except BaseException as exc:  # noqa: BLE001 -- handed to the main thread by raise_errors()
            with self._lock:
                self._errors.append((name, exc))
            self.stop()

    def _capture(self) -> None:
        size = self.model.size
        detector = HandDetector(self.hands_model) if self.hands_model is not None else None
        tracker = CropTracker(self.crop, (self.source.height, self.source.width))
        try:
            while not self._stop.is_set():
                try:
                    frame = self.source.read(timeout=POLL)
                except TimeoutError:
                    continue
                if frame is None:
                    break
                t0 = time.monotonic()
                if frame.index:  # the first frame waited for start-up (e.g. MediaPipe's), not for capture
                    self.times.add("capture", t0 - frame.t_capture)
                hands: list[Hand] = []
                if detector is not None:
                    hands = detector.detect(frame.rgb, int(frame.t_media * 1000))
                    t1 = time.monotonic()
                    self.times.add("hands", t1 - t0)
                    t0 = t1
                box = tracker.update(hands if detector is not None else None)
                small = apply_crop(frame.rgb, box, size)
                self.times.add("preprocess", time.monotonic() - t0)
                self.ring.push(small, frame.t_capture, frame.t_media, hands=bool(hands) or detector is None,
                               block=self.config.every_frame, stop=self._stop)
                self._publish_view(frame.rgb, frame.index, frame.t_media, tuple(hands), (box.x, box.y, box.side))
        finally:
            if detector is not None:
                detector.close()
            self.ring.close()

    def _inference(self) -> None:
        model, cfg, timing = self.model, self.config, self.model.timing
        last_seq, since = -1, 0
        last_hands_t: float | None = None
        next_sample: float | None = None  # streaming: stream time of the next frame to encode
        sampled_since = 0
        while not self._stop.is_set():
            newest = self.ring.wait_newer(last_seq, POLL)
            if newest <= last_seq:
                if self.ring.closed:
                    break
                continue
            new = self.ring.since(last_seq) if self.hands_model is not None else None
            if new is not None and new.hands.any():
                last_hands_t = float(new.t_media[new.hands][-1])
            step = min(newest - last_seq, cfg.stride) if cfg.every_frame else newest - last_seq
            target = last_seq + step
            last_seq = target
            if self._gate(target, last_hands_t):
                next_sample, sampled_since, since = None, 0, 0
                continue
            t0 = time.monotonic()
            if model.stream is None:
                since += step
                if since < cfg.stride:
                    continue
                since = 0
                window = self.ring.sample(timing.clip_seconds, timing.frames, upto=target)
                if window is None:
                    continue
                logits = model.classify_clip(window.frames)
            else:
                window = self.ring.sample(0.0, 1, upto=target)
                if window is None:
                    continue
                now_t = float(window.t_media[-1])
                if next_sample is None:
                    next_sample = now_t
                logits = None
                while next_sample <= now_t + 1e-9:
                    frame = self.ring.at_time(next_sample, upto=target)
                    if frame is None:  # the worker fell a whole ring behind: start the window afresh
                        model.stream.reset()
                        next_sample = now_t
                        break
                    model.stream.push(frame.frames[0])
                    next_sample += timing.sample_interval
                    sampled_since += 1
                if not model.stream.ready or sampled_since < min(cfg.stride, timing.frames):
                    continue
                sampled_since = 0
                logits = model.stream.logits()
            if cfg.extra_latency_ms:
                time.sleep(cfg.extra_latency_ms / 1000)
            t1 = time.monotonic()
            self.times.add("inference", t1 - t0)
            probs = softmax(logits)
            event = self.smoother.update(probs, float(window.t_media[-1]))
            self._snapshot_smoother()
            t2 = time.monotonic()
            self.times.add("smoothing", t2 - t1)
            with self._lock:
                self._staleness.append(t0 - float(window.t_capture[-1]))
                self.predictions.append((float(window.t_media[-1]), probs))
                self._inferences += 1
                self._latency = t2 - float(window.t_capture[-1])
            if event is not None:
                self._emit(event)

    def _gate(self, seq: int, last_hands_t: float | None) -> bool:
        """Whether inference is off because no hand was seen for ``gate_seconds`` (resets state on entry)."""
        if self.hands_model is None:
            return False
        newest = self.ring.sample(0.0, 1, upto=seq)
        now_t = float(newest.t_media[-1]) if newest is not None else 0.0
        gated = last_hands_t is None or now_t - last_hands_t > self.config.gate_seconds
        if gated and not self._gated:
            self.smoother.reset()
            self._snapshot_smoother()
            if self.model.stream is not None:
                self.model.stream.reset()
        self._gated = gated
        return gated

    def _snapshot_smoother(self) -> None:
        """Copy what the view shows of the smoother (inference thread only)."""
        smoothed = (self.smoother.top(), self.smoother.best_sign(), self.smoother.active_label)
        with self._lock:
            self._smoothed = smoothed

    def _emit(self, event: SignEvent) -> None:
        with self._lock:
            self.events.append(event)
            self._last_event = event
        if self._on_event is not None:
            self._on_event(event)

    def _publish_view(self, rgb: np.ndarray, index: int, t_media: float, hands: tuple[Hand, ...],
                      crop: tuple[float, float, float]) -> None:
        now = time.monotonic()
        with self._lock:
            self._fps_times = [t for t in self._fps_times if now - t < 1.0] + [now]
            top3, best_sign, active = self._smoothed
            self._view = View(rgb, index, t_media, hands, crop, top3, best_sign, self.smoother.config.on_threshold,
                              active, self._last_event, self._gated, float(len(self._fps_times)), self._latency * 1e3)

    # -- results --------------------------------------------------------------------------------

    def score(self) -> Score | None:
        if self.truth is None:
            return None
        with self._lock:
            events = list(self.events)
        max_delay = self.model.timing.clip_seconds + 0.5
        return score_events(events, self.truth, max_delay, frames_seen=self._frames_seen())

    def staleness_ms(self) -> list[float]:
        """Staleness of every inference so far, in order (ms)."""
        with self._lock:
            return [x * 1e3 for x in self._staleness]

    def _frames_seen(self) -> int:
        view = self.view()
        return 0 if view is None else view.index + 1

    def summary(self) -> dict[str, Any]:
        """Everything measured, as one JSON-ready dict (the ``--stats-json`` file and ``demo --json``)."""
        stats = self.source.stats
        stale = np.array(self.staleness_ms() or [0.0])
        seconds = max(1e-9, (self._finished or time.monotonic()) - self._started)
        score = self.score()
        with self._lock:
            events = [e.to_json() for e in self.events]
        out: dict[str, Any] = {
            "model": str(self.config.model), "source": self.source.name, "streaming": self.model.streaming,
            "seconds": round(seconds, 2), "frames_captured": stats.produced, "frames_processed": self.ring.pushed,
            "frames_dropped": stats.dropped, "ring_overwritten": self.ring.overwritten, "reopened": stats.reopened,
            "inferences": self._inferences, "processed_fps": round(self.ring.pushed / seconds, 2),
            "staleness_ms": {"p50": round(float(np.percentile(stale, 50)), 2),
                             "p90": round(float(np.percentile(stale, 90)), 2), "max": round(float(stale.max()), 2)},
            "stages": self.times.summary(), "events": events, "hands_model": str(self.hands_model or ""),
            "crop": self.crop.kind, "clip_seconds": self.model.timing.clip_seconds,
            "delegate": self.model.delegate or ("xnnpack" if self.config.xnnpack else "none"),
        }
        if score is not None:
            out.update(score.to_json())
        return out
