"""What a live run measures: per-stage latency, frame counters, staleness, and scores against ground truth."""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from dataclasses import dataclass

import numpy as np

from edge_slr.data.stream_truth import StreamTruth
from edge_slr.live.smoothing import SignEvent

STAGES = ("capture", "hands", "preprocess", "inference", "smoothing")
MAX_SAMPLES = 100_000  # per stage; a long run keeps the most recent


class StageTimes:
    """Thread-safe collection of durations (seconds) per named stage; summaries in milliseconds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._samples: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=MAX_SAMPLES))

    def add(self, stage: str, seconds: float) -> None:
        with self._lock:
            self._samples[stage].append(seconds)

    def samples_ms(self) -> dict[str, list[float]]:
        """Every kept duration per stage, in milliseconds (for plots)."""
        with self._lock:
            return {k: [x * 1e3 for x in v] for k, v in self._samples.items() if v}

    def summary(self) -> dict[str, dict[str, float]]:
        """``{stage: {count, p50_ms, p90_ms, mean_ms, max_ms}}`` for every stage with samples."""
        with self._lock:
            samples = {k: np.array(v) * 1e3 for k, v in self._samples.items() if v}
        return {k: {"count": int(len(v)), "p50_ms": round(float(np.percentile(v, 50)), 3),
                    "p90_ms": round(float(np.percentile(v, 90)), 3), "mean_ms": round(float(v.mean()), 3),
                    "max_ms": round(float(v.max()), 3)} for k, v in samples.items()}


@dataclass(frozen=True)
class Score:
    """Events scored against a ground-truth stream."""

    signs: int
    events: int
    matched: int
    precision: float
    recall: float
    latencies_ms: tuple[float, ...]  # sign end -> event, per matched sign (negative: fired before the sign ended)
    confusions: tuple[tuple[str, str], ...]  # (truth, predicted) of unmatched events with another sign's label
    matches: tuple[tuple[int, int], ...]  # (event index, sign index)
    repeats: int = 0  # unmatched events with the label of the sign they fired in (its sign already matched)

    def to_json(self) -> dict:
        lat = np.array(self.latencies_ms) if self.latencies_ms else None
        return {"signs": self.signs, "event_count": self.events, "matched": self.matched,
                "precision": round(self.precision, 4), "recall": round(self.recall, 4),
                "event_latency_ms_median": None if lat is None else round(float(np.median(lat)), 1),
                "event_latency_ms_p90": None if lat is None else round(float(np.percentile(lat, 90)), 1),
                "confusions": [list(c) for c in self.confusions], "repeats": self.repeats}


def score_events(events: list[SignEvent], truth: StreamTruth, max_delay: float, frames_seen: int | None = None
                 ) -> Score:
    """Match events to truth signs: same label, fired between the sign's start and ``max_delay`` s after its end.

    Each sign and each event matches at most once (earliest event first). An unmatched event is charged to
    the sign it fired in (else the latest sign that ended less than ``max_delay`` before it): a confusion when
    the labels differ, a repeat when they agree. Signs that end after the last frame the run saw
    (``frames_seen``) are left out, so an interrupted run is scored on what it saw.
    """
    fps = truth.fps
    signs = [s for s in truth.signs if frames_seen is None or s.end_frame < frames_seen]
    spans = [(s.start_frame / fps, (s.end_frame + 1) / fps) for s in signs]
    used: set[int] = set()
    matches, latencies, confusions, repeats = [], [], [], 0
    for e_index, event in enumerate(events):
        hit = next((i for i, (s, (a, b)) in enumerate(zip(signs, spans, strict=True))
                    if i not in used and s.label == event.label and a <= event.end <= b + max_delay), None)
        if hit is not None:
            used.add(hit)
            matches.append((e_index, hit))
            latencies.append((event.end - spans[hit][1]) * 1e3)
            continue
        near = [(s, a <= event.end <= b) for s, (a, b) in zip(signs, spans, strict=True)
                if a <= event.end <= b + max_delay]
        during = next((s for s, inside in near if inside), near[-1][0] if near else None)
        if during is not None and during.label == event.label:
            repeats += 1
        elif during is not None:
            confusions.append((during.label, event.label))
    n_events, n_signs = len(events), len(signs)
    return Score(n_signs, n_events, len(matches), len(matches) / n_events if n_events else 0.0,
                 len(matches) / n_signs if n_signs else 0.0, tuple(latencies), tuple(confusions), tuple(matches),
                 repeats)
