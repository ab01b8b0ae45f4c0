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
