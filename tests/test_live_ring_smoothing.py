"""Unit tests of the live pipeline's ring buffer and event smoother (no model, no threads but the ones made here)."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from edge_slr.errors import UserError
from edge_slr.live.ring import FrameRing
from edge_slr.live.smoothing import EventSmoother, SmoothingConfig, softmax

pytestmark = pytest.mark.usefixtures("no_thread_leaks")


def _frame(value: int) -> np.ndarray:
    return np.full((4, 4, 3), value % 256, np.uint8)


def test_ring_keeps_the_newest_frames_and_copies_only_the_window():
    ring = FrameRing(8, (4, 4, 3))
    for i in range(20):
        ring.push(_frame(i), t_capture=float(i), t_media=i / 10)
    window = ring.latest(3)
    assert window.frames.shape == (3, 4, 4, 3)
    assert window.seqs.tolist() == [17, 18, 19]
    assert [int(f[0, 0, 0]) for f in window.frames] == [17, 18, 19]
    assert ring.latest(9) is None, "a window larger than the ring cannot be served"
    assert ring.overwritten == 12, "frames 0..11 left the ring before any reader looked at them"


def test_ring_samples_a_time_span_evenly_and_waits_until_it_is_covered():
    ring = FrameRing(64, (4, 4, 3))
    for i in range(10):  # 0.9 s of a 10 fps stream: less than the 2 s span
        ring.push(_frame(i), float(i), i / 10)
    assert ring.sample(2.0, 5) is None
    for i in range(10, 40):
        ring.push(_frame(i), float(i), i / 10)
    window = ring.sample(2.0, 5)
    assert window.seqs.tolist() == [19, 24, 29, 34, 39]
    np.testing.assert_allclose(window.t_media, [1.9, 2.4, 2.9, 3.4, 3.9])
    assert ring.sample(2.0, 5, upto=30).seqs.tolist() == [10, 15, 20, 25, 30]


def test_ring_sampling_bridges_dropped_frames():
    ring = FrameRing(64, (4, 4, 3))
    times = [0.0, 0.1, 0.2, 0.9, 1.0, 1.6, 2.0]  # a slow consumer dropped frames in between
    for i, t in enumerate(times):
        ring.push(_frame(i), t, t)
    window = ring.sample(2.0, 3)
    assert window.t_media.tolist() == [0.0, 1.0, 2.0]


def test_ring_reader_never_slows_the_writer_and_sees_consistent_frames():
    ring = FrameRing(16, (32, 32, 3))
    stop = threading.Event()
    bad: list[int] = []

    def reader():
        while not stop.is_set():
            window = ring.latest(4)
            if window is None:
                continue
            for seq, frame in zip(window.seqs, window.frames, strict=True):
                if not (frame == seq % 256).all():  # a frame torn by a concurrent write
                    bad.append(int(seq))

    thread = threading.Thread(target=reader)
    thread.start()
    start = time.perf_counter()
    for i in range(3000):
        ring.push(_frame(i).repeat(8, 0).repeat(8, 1), float(i), float(i))
    elapsed = time.perf_counter() - start
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert bad == []
    assert ring.pushed == 3000 and elapsed < 10


def test_ring_blocking_push_waits_for_the_reader_and_honours_stop():
    ring = FrameRing(4, (4, 4, 3))
    for i in range(4):
        ring.push(_frame(i), i, i, block=True)
    stop = threading.Event()
    result: list[int] = []
    writer = threading.Thread(target=lambda: result.append(ring.push(_frame(4), 4, 4, block=True, stop=stop)))
    writer.start()
    writer.join(timeout=0.3)
    assert writer.is_alive(), "the oldest frame was never read, so a blocking push must wait"
    ring.latest(4)  # the reader takes frames 0..3
    writer.join(timeout=2)
    assert result == [4] and ring.overwritten == 0
    for i in (5, 6):  # evict frames 1 and 2, read and older than the read point: no wait
        ring.push(_frame(i), i, i, block=True)
    writer = threading.Thread(target=lambda: result.append(ring.push(_frame(7), 7, 7, block=True, stop=stop)))
    writer.start()
    writer.join(timeout=0.3)
    assert writer.is_alive(), "frame 3 is the read point, where the next window starts from"

    stop.set()
    writer.join(timeout=2)
    assert not writer.is_alive() and result[-1] == -1


LABELS = ("a", "b", "c", "no_sign")


def _probs(label: str, p: float) -> np.ndarray:
    out = np.full(len(LABELS), (1 - p) / (len(LABELS) - 1))
    out[LABELS.index(label)] = p
    return out


def test_smoother_fires_once_per_sign_despite_flicker():
    smoother = EventSmoother(LABELS, SmoothingConfig(ema=0.6, on_threshold=0.6, off_threshold=0.3,
                                                      min_duration=0.2, cooldown=0.3), background="no_sign")
    sequence = ([("no_sign", 0.9)] * 10 + [("a", 0.9), ("a", 0.95), ("b", 0.5), ("a", 0.9), ("a", 0.9), ("a", 0.9),
                                           ("a", 0.85), ("a", 0.9)] + [("no_sign", 0.95)] * 10
                + [("c", 0.9)] * 8 + [("no_sign", 0.9)] * 5)
    events = [e for i, (label, p) in enumerate(sequence) if (e := smoother.update(_probs(label, p), i * 0.1))]
    assert [e.label for e in events] == ["a", "c"]
    first = events[0]
    assert first.start < first.end and first.confidence >= 0.6
    assert first.top3[0][0] == "a" and len(first.top3) == 3


def test_smoother_never_fires_the_background_label_and_respects_min_duration():
    smoother = EventSmoother(LABELS, SmoothingConfig(ema=1.0, min_duration=0.3), background="no_sign")
    assert all(smoother.update(_probs("no_sign", 0.99), t / 10) is None for t in range(20))
    # a 0.2 s blip of "b" is too short
    assert [smoother.update(_probs("b", 0.9), 2 + t / 10) for t in range(3)] == [None] * 3
    smoother.update(_probs("no_sign", 0.9), 2.3)
    events = [smoother.update(_probs("b", 0.9), 3 + t / 10) for t in range(5)]
    assert [e.label for e in events if e] == ["b"]


def test_smoother_same_label_fires_again_only_after_it_ended():
    smoother = EventSmoother(LABELS, SmoothingConfig(ema=1.0, min_duration=0.0, cooldown=0.0))
    assert smoother.update(_probs("a", 0.9), 0.0).label == "a"
    assert smoother.update(_probs("a", 0.9), 0.1) is None
    assert smoother.update(_probs("a", 0.5), 0.2) is None, "above the off threshold: still the same sign"
    assert smoother.update(_probs("b", 0.2), 0.3) is None  # a falls below off: ends, b too weak
    assert smoother.update(_probs("a", 0.9), 0.4).label == "a"
    smoother.reset()
    assert smoother.active_label is None and smoother.top() == ()


@pytest.mark.parametrize("kwargs", [{"ema": 0}, {"on_threshold": 0.3, "off_threshold": 0.5}, {"cooldown": -1}])
def test_smoothing_config_rejects_bad_values(kwargs):
    with pytest.raises(UserError):
        SmoothingConfig(**kwargs)


def test_softmax_is_stable():
    p = softmax(np.array([1000.0, 1000.0, -1000.0]))
    np.testing.assert_allclose(p, [0.5, 0.5, 0.0])


def test_ring_blocking_push_keeps_the_reserve_before_the_read_point():
    ring = FrameRing(6, (4, 4, 3), reserve=2)
    for i in range(6):
        ring.push(_frame(i), i, i, block=True)
    ring.at_time(3.0)  # read up to frame 3: frames 1, 2 (reserve), 3 and 4, 5 (unread) must stay
    ring.push(_frame(6), 6, 6, block=True)  # evicts frame 0: allowed
    stop = threading.Event()
    writer = threading.Thread(target=lambda: ring.push(_frame(7), 7, 7, block=True, stop=stop))
    writer.start()
    writer.join(timeout=0.3)
    assert writer.is_alive(), "frame 1 is in the reserve of the next window"
    stop.set()
    writer.join(timeout=2)
    assert ring.sample(3.0, 4, upto=4).seqs.tolist() == [1, 2, 3, 4]


def test_best_sign_leaves_out_the_background_label():
    smoother = EventSmoother(LABELS, SmoothingConfig(), background="no_sign")
    assert smoother.best_sign() is None
    smoother.update(np.array([0.05, 0.15, 0.1, 0.7]), 0.0)
    assert smoother.top(1)[0][0] == "no_sign"
    label, p = smoother.best_sign()
    assert label == "b" and p == pytest.approx(0.15)
