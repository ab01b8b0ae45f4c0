"""Smoothing predictions over time into sign events: EMA, hysteresis, minimum duration, cool-down.

Raw per-window predictions flicker: a window half-way into a sign looks like several signs, and a model
without a no-sign notion is confidently wrong about rest. The smoother turns them into one
:class:`SignEvent` per sign:

1. probabilities are averaged with an exponential moving average (``ema``: weight of the newest);
2. a sign *starts* when one label (never the background label) stays the top label with smoothed
   probability >= ``on_threshold`` for ``min_duration`` seconds; the event is emitted then, once;
3. it *ends* when that label's probability falls below ``off_threshold`` (lower than the on threshold:
   hysteresis) or another label starts; the same label cannot fire again before it has ended;
4. after an event no new event fires for ``cooldown`` seconds.

Defaults were tuned on generated streams (``tools/tune_smoothing.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class SmoothingConfig:
    """Parameters of :class:`EventSmoother` (every one has a ``live`` flag)."""

    # Tuned with tools/tune_smoothing.py on the demo model (streams of seeds 0, 1, 10, 11; 80 signs): with
    # predictions every 2 frames, averaging (ema < 1) delayed true signs more than it removed false ones; the
    # minimum duration, the hysteresis and the cool-down do the smoothing.
    ema: float = 1.0  # weight of the newest prediction in the moving average (1 = no averaging)
    on_threshold: float = 0.7  # smoothed probability at which a sign starts
    off_threshold: float = 0.35  # ... and below which it ends (hysteresis)
    min_duration: float = 0.1  # seconds a label must stay on top above on_threshold before it fires
    cooldown: float = 0.8  # seconds after an event in which no other event fires

    def __post_init__(self) -> None:
        from edge_slr.errors import UserError

        if not 0 < self.ema <= 1:
            raise UserError(f"--ema must be in (0, 1], got {self.ema:g}")
        if not 0 < self.off_threshold <= self.on_threshold <= 1:
            raise UserError(f"need 0 < --off-threshold <= --on-threshold <= 1, got {self.off_threshold:g} and "
                            f"{self.on_threshold:g}")
        if self.min_duration < 0 or self.cooldown < 0:
            raise UserError("--min-duration and --cooldown must be >= 0 seconds")


@dataclass(frozen=True)
class SignEvent:
    """One recognized sign. Times are stream seconds: ``start`` when its label first crossed the on threshold,
    ``end`` when the event fired (the newest frame the deciding prediction saw)."""

    label: str
    confidence: float
    start: float
    end: float
    top3: tuple[tuple[str, float], ...]

    def to_json(self) -> dict:
        return {"label": self.label, "confidence": round(self.confidence, 4), "start": round(self.start, 3),
                "end": round(self.end, 3), "top3": [[label, round(p, 4)] for label, p in self.top3]}


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, np.float64) - np.max(logits)
    e = np.exp(z)
    return e / e.sum()


@dataclass
class EventSmoother:
    """Stateful smoother for one stream; feed it every prediction in time order."""

    labels: tuple[str, ...]
    config: SmoothingConfig = field(default_factory=SmoothingConfig)
    background: str | None = None  # the model's no-sign label, if it has one

    def __post_init__(self) -> None:
        self._sign_mask = np.array([label != self.background for label in self.labels])
        self.reset()

    def reset(self) -> None:
        """Forget the history (hands went down, or the stream restarted)."""
        self.probs: np.ndarray | None = None
        self._candidate: int | None = None
        self._candidate_since = 0.0
        self._active: int | None = None
        self._last_event_t = -np.inf

    @property
    def active_label(self) -> str | None:
        """The sign currently held on (fired and not yet ended), if any."""
        return None if self._active is None else self.labels[self._active]

    def top(self, k: int = 3) -> tuple[tuple[str, float], ...]:
        """The ``k`` most probable labels of the smoothed distribution."""
        if self.probs is None:
            return ()
        order = np.argsort(-self.probs)[:k]
        return tuple((self.labels[i], float(self.probs[i])) for i in order)

    def best_sign(self) -> tuple[str, float] | None:
        """The most probable sign of the smoothed distribution, leaving out the background label."""
        if self.probs is None:
            return None
        best = int(np.argmax(np.where(self._sign_mask, self.probs, -1.0)))
        return self.labels[best], float(self.probs[best])

    def update(self, probs: np.ndarray, t: float) -> SignEvent | None:
        """Add the prediction for the window ending at stream time ``t``; return an event when a sign fires."""
        cfg = self.config
        probs = np.asarray(probs, np.float64)
        self.probs = probs if self.probs is None else cfg.ema * probs + (1 - cfg.ema) * self.probs
        p = self.probs
        if self._active is not None and p[self._active] < cfg.off_threshold:
            self._active = None
        best = int(np.argmax(p))
        if not self._sign_mask[best] or p[best] < cfg.on_threshold or best == self._active:
            self._candidate = None
            return None
        if self._candidate != best:
            self._candidate, self._candidate_since = best, t
        if t - self._candidate_since < cfg.min_duration or t - self._last_event_t < cfg.cooldown:
            return None
        start = self._candidate_since
        self._active, self._candidate, self._last_event_t = best, None, t
        return SignEvent(self.labels[best], float(p[best]), start, t, self.top())
