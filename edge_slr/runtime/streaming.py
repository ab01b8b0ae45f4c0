"""Streaming models at run time: signature names, zero state, and frame-by-frame recognition.

One module used by export (parity checks), evaluation (:class:`~edge_slr.runtime.clip_classifier.ClipClassifier`),
bench and the live pipeline, so the signature contract and the zero state are written down once.

A streaming CNN+LSTM export holds three signatures (see ``edge_slr.export.streaming``):

* ``encode_frame``: one frame ``(1, H, W, 3)`` -> ``feature (1, F)``;
* ``lstm_step``: ``feature`` plus explicit state ``h_*``/``c_*`` -> ``logits`` plus the new state;
* ``classify``: a window of features ``(T, F)`` -> ``logits``.

:class:`FrameStream` encodes each new frame exactly once and keeps the last ``T`` features in a ring, so
a prediction costs one frame encoding plus one ``classify`` over cached features, instead of a whole clip.
It classifies the feature window rather than stepping ``lstm_step`` forever: the LSTM was trained on
``T``-frame clips that start from the zero state, and a sliding window keeps every prediction on that
footing however long the stream runs. :meth:`FrameStream.step_state` is the explicit-state step for
callers that want it (bench times it as the per-new-frame path).
"""

from __future__ import annotations

import numpy as np

from edge_slr.errors import UserError
from edge_slr.runtime.model_card import ModelCard
from edge_slr.runtime.runner import TFLiteRunner

ENCODE_FRAME = "encode_frame"
LSTM_STEP = "lstm_step"
CLASSIFY = "classify"
SIGNATURES = (ENCODE_FRAME, LSTM_STEP, CLASSIFY)
FEATURE = "feature"  # the per-frame input of ``lstm_step`` and output of ``encode_frame``
LOGITS = "logits"


def state_names(runner: TFLiteRunner, signature: str = LSTM_STEP, data_inputs: tuple[str, ...] = (FEATURE,)
                ) -> tuple[str, ...]:
    """Names of the explicit state inputs of ``signature``: every input that is not a data input."""
    return tuple(s.name for s in runner.input_specs(signature) if s.name not in data_inputs)


def init_state(runner: TFLiteRunner, signature: str = LSTM_STEP, data_inputs: tuple[str, ...] = (FEATURE,)
               ) -> dict[str, np.ndarray]:
    """The zero state of ``signature``: one float32 zero array per state input, shaped as the model says.

    Float even for quantized state inputs: the runner quantizes float inputs with the tensor's own scale.
    """
    specs = {s.name: s for s in runner.input_specs(signature)}
    return {name: np.zeros(specs[name].shape, np.float32) for name in state_names(runner, signature, data_inputs)}


def require_streaming(runner: TFLiteRunner) -> None:
    """One-line error when ``runner``'s file lacks the streaming signatures."""
    missing = [name for name in (ENCODE_FRAME, CLASSIFY) if name not in runner.signatures]
    if missing:
        raise UserError(f"{runner.path.name} is marked streaming but lacks the signature(s) {', '.join(missing)}; "
                        "re-export it with `edge-slr export-tflite --streaming`")


class FrameStream:
    """Frame-by-frame recognition with a streaming export: each frame is encoded once.

    ``push(frame)`` encodes one preprocessed frame ``(H, W, 3)`` (or ``(1, H, W, 3)``) into the feature
    ring; :meth:`logits` classifies the newest ``window`` features once the ring is full.
    """

    def __init__(self, runner: TFLiteRunner, window: int):
        require_streaming(runner)
        self.runner = runner
        self.window = window
        self._ring: np.ndarray | None = None  # (window, F), allocated on the first frame
        self._count = 0  # frames pushed since the last reset
        self._state = init_state(runner) if LSTM_STEP in runner.signatures else {}

    @property
    def ready(self) -> bool:
        """Whether a full window of frames has been pushed since the last reset."""
        return self._count >= self.window

    def reset(self) -> None:
        """Forget every frame (e.g. when the signer's hands go down): the next window starts empty."""
        self._count = 0
        self._state = {k: np.zeros_like(v) for k, v in self._state.items()}

    def push(self, frame: np.ndarray) -> np.ndarray:
        """Encode one new frame and return its feature ``(F,)``."""
        frame = np.asarray(frame, dtype=np.float32)
        if frame.ndim == 3:
            frame = frame[None]
        feature = self.runner.run(frame, ENCODE_FRAME)[FEATURE][0]
        if self._ring is None:
            self._ring = np.zeros((self.window, feature.shape[-1]), np.float32)
        self._ring[self._count % self.window] = feature
        self._count += 1
        return feature

    def features(self) -> np.ndarray:
        """The newest ``window`` features in time order ``(window, F)``."""
        if not self.ready or self._ring is None:
            raise RuntimeError(f"need {self.window} frames, have {self._count}")
        start = self._count % self.window
        return np.concatenate([self._ring[start:], self._ring[:start]]) if start else self._ring.copy()

    def logits(self) -> np.ndarray | None:
        """Logits ``(num_classes,)`` of the newest window, or None until the window is full."""
        if not self.ready:
            return None
        return self.runner.run(self.features(), CLASSIFY)[LOGITS].reshape(-1)

    def step_state(self, feature: np.ndarray) -> np.ndarray:
        """One explicit-state ``lstm_step`` on ``feature (F,)``; returns its logits and keeps the new state."""
        if LSTM_STEP not in self.runner.signatures:
            raise UserError(f"{self.runner.path.name} has no {LSTM_STEP} signature")
        out = self.runner.run({FEATURE: np.asarray(feature, np.float32).reshape(1, -1), **self._state}, LSTM_STEP)
        self._state = {name: out[name] for name in self._state}
        return out[LOGITS].reshape(-1)


CAUSAL_MODE = "causal_phases"  # the card's stream.mode of causal (2+1)D exports (edge_slr.export.causal_stream)


class PhaseStream:
    """Frame-by-frame recognition with a causal (2+1)D streaming export: one step signature per frame.

    The card's ``stream`` entry names the phase signatures in calling order (``schedule``): frame ``n`` runs
    ``schedule[n % len(schedule)]`` with the frame plus the state inputs that signature names; every output
    named like a state replaces it. No architecture knowledge here: temporal strides live in the schedule.
    Same surface as :class:`FrameStream`: ``push``, ``ready``, ``logits()``, ``reset()``.
    """

    def __init__(self, runner: TFLiteRunner, stream: dict):
        self.runner = runner
        self.schedule = tuple(stream["schedule"])
        self.frame_input = str(stream["frame_input"])
        self.logits_output = str(stream["logits_output"])
        self.window = int(stream["ready_after_frames"])
        missing = [s for s in self.schedule if s not in runner.signatures]
        if missing:
            raise UserError(f"{runner.path.name} lacks the step signature(s) {', '.join(missing)} its card names")
        self._zero: dict[str, np.ndarray] = {}
        self._reads: list[tuple[str, ...]] = []
        for sig in self.schedule:
            self._zero.update(init_state(runner, sig, (self.frame_input,)))
            self._reads.append(state_names(runner, sig, (self.frame_input,)))
        self._state = {k: v.copy() for k, v in self._zero.items()}
        self._count = 0
        self._logits: np.ndarray | None = None

    @property
    def ready(self) -> bool:
        """Whether a clip's worth of frames has been pushed since the last reset."""
        return self._count >= self.window

    def reset(self) -> None:
        """Back to the zero state (e.g. when the signer's hands go down)."""
        self._state = {k: v.copy() for k, v in self._zero.items()}
        self._count = 0
        self._logits = None

    def push(self, frame: np.ndarray) -> None:
        """Run the next phase on one preprocessed frame ``(H, W, 3)`` (or ``(1, H, W, 3)``)."""
        frame = np.asarray(frame, dtype=np.float32)
        if frame.ndim == 3:
            frame = frame[None]
        phase = self._count % len(self.schedule)
        inputs = {self.frame_input: frame, **{name: self._state[name] for name in self._reads[phase]}}
        out = self.runner.run(inputs, self.schedule[phase])
        self._state.update({name: value for name, value in out.items() if name in self._state})
        self._logits = out[self.logits_output].reshape(-1)
        self._count += 1

    def logits(self) -> np.ndarray | None:
        """Logits ``(num_classes,)`` over the newest clip-long span, or None before a full clip."""
        return self._logits if self.ready else None


def open_frame_stream(runner: TFLiteRunner, card: ModelCard) -> FrameStream | PhaseStream:
    """The frame streamer for a streaming export: :class:`PhaseStream` when the card has a causal
    ``stream`` schedule, else :class:`FrameStream` (CNN+LSTM ``encode_frame``/``classify``)."""
    if not card.streaming:
        raise UserError(f"{runner.path.name} is a full-clip model; frame streaming needs a --streaming export")
    stream = card.raw.get("stream")
    if isinstance(stream, dict) and stream.get("mode") == CAUSAL_MODE:
        return PhaseStream(runner, stream)
    return FrameStream(runner, card.frames)
