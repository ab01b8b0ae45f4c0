"""Scoring live events against a stream's ground truth (``live --truth``, ``bench --pipeline --truth``)."""

from __future__ import annotations

import pytest

from edge_slr.data.stream_truth import StreamTruth, TruthSign
from edge_slr.live.metrics import score_events
from edge_slr.live.smoothing import SignEvent

# three signs at 10 fps: a 1.0-2.0 s, b 3.0-4.0 s, a 5.0-6.0 s (end frame inclusive)
TRUTH = StreamTruth(10.0, 70, ("a", "b"), (TruthSign("a", 0, 10, 19), TruthSign("b", 1, 30, 39),
                                           TruthSign("a", 0, 50, 59)), "s.mp4")


def _event(label: str, t: float) -> SignEvent:
    return SignEvent(label, 0.9, t - 0.1, t, ((label, 0.9),))


def test_each_sign_matches_once_with_latency_from_its_end():
    score = score_events([_event("a", 1.5), _event("b", 4.3), _event("a", 5.2)], TRUTH, max_delay=0.8)
    assert (score.matched, score.precision, score.recall) == (3, 1.0, 1.0)
    assert score.latencies_ms == pytest.approx((-500.0, 300.0, -800.0))
    assert score.confusions == () and score.repeats == 0


def test_a_wrong_label_is_charged_to_the_sign_it_fired_in_not_an_earlier_one():
    # 3.2 s is inside b and within max_delay of a's end (2.0 s): the confusion belongs to b
    score = score_events([_event("a", 1.5), _event("a", 3.2)], TRUTH, max_delay=1.5)
    assert score.matched == 1 and score.confusions == (("b", "a"),)
    # after a sign ended, an unmatched event is charged to the latest sign within max_delay
    score = score_events([_event("b", 2.5)], TRUTH, max_delay=1.0)
    assert score.confusions == (("a", "b"),)


def test_a_second_event_for_the_same_sign_is_a_repeat_not_a_confusion():
    score = score_events([_event("a", 1.3), _event("a", 1.8)], TRUTH, max_delay=0.5)
    assert score.matched == 1 and score.repeats == 1 and score.confusions == ()
    assert score.precision == 0.5 and score.recall == pytest.approx(1 / 3)
    assert score.to_json()["repeats"] == 1


def test_signs_after_the_last_frame_seen_are_not_counted():
    score = score_events([_event("a", 1.5)], TRUTH, max_delay=0.5, frames_seen=45)
    assert score.signs == 2 and score.recall == 0.5
