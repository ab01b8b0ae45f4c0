"""The model side of the live pipeline: one TFLite runner plus what its model card says about time.

A model was trained on clips of ``frames`` frames that each spanned about ``clip_seconds`` of video
(the card's ``clip_seconds``; older cards: ``frames / fps``). Live, the window is the last
``clip_seconds`` of the stream sampled at ``frames`` evenly spread times, whatever the camera's rate.
A full-clip model classifies such a window; a streaming model encodes one frame per sample time and
classifies its cached features (:mod:`edge_slr.runtime.streaming`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from edge_slr.errors import UserError
from edge_slr.runtime.delegates import load_external_delegate
from edge_slr.runtime.model_card import BACKGROUND_LABELS, ModelCard, read_model_card
from edge_slr.runtime.runner import TFLiteRunner
from edge_slr.runtime.streaming import open_frame_stream


@dataclass(frozen=True)
class Timing:
    """How the model samples time: ``frames`` samples over the last ``clip_seconds``."""

    frames: int
    clip_seconds: float

    @property
    def sample_interval(self) -> float:
        return self.clip_seconds / max(1, self.frames - 1)


class LiveModel:
    """A .tflite export with its card, run by the one :class:`TFLiteRunner`; owned by the inference worker."""

    def __init__(self, path: str | os.PathLike[str], *, num_threads: int | None = None, use_xnnpack: bool = True,
                 clip_seconds: float | None = None, delegate: str | None = None,
                 warn: Callable[[str], None] = lambda line: print(line, file=sys.stderr)):
        delegates = []
        if delegate:
            try:
                delegates = [load_external_delegate(delegate)]
            except UserError as exc:  # live keeps running: the CPU path always works
                warn(f"live: {exc}; falling back to the CPU (XNNPACK)")
        self.delegate = delegate if delegates else None
        self.runner = TFLiteRunner(path, num_threads=num_threads, use_xnnpack=use_xnnpack, delegates=delegates)
        try:
            self.card: ModelCard = read_model_card(self.runner.model)
            self._check_card()
        except UserError:
            self.runner.close()
            raise
        span = clip_seconds or float(self.card.raw.get("clip_seconds") or self.card.frames / self.card.fps)
        if span <= 0:
            raise UserError(f"clip seconds must be positive, got {span:g}")
        self.timing = Timing(self.card.frames, span)
        self.stream = open_frame_stream(self.runner, self.card) if self.card.streaming else None

    def _check_card(self) -> None:
        card = self.card
        if card.streaming:
            return  # FrameStream checks the signatures
        spec = self.runner.input_specs()
        expected = (card.frames, card.size, card.size, 3)
        if len(spec) != 1 or tuple(spec[0].shape) != expected:
            shapes = ", ".join(str(tuple(s.shape)) for s in spec)
            raise UserError(f"{self.runner.path.name}: its model card describes {expected} clips but the graph "
                            f"takes {shapes}; re-export it with `edge-slr export-tflite`")

    @property
    def labels(self) -> tuple[str, ...]:
        return self.card.labels

    @property
    def size(self) -> int:
        return self.card.size

    @property
    def streaming(self) -> bool:
        return self.card.streaming

    @property
    def background(self) -> str | None:
        """The card's no-sign label (``background_label``), else a conventionally named one, else None."""
        named = self.card.raw.get("background_label")
        if named:
            return str(named)
        return next((label for label in self.labels if label in BACKGROUND_LABELS), None)

    def classify_clip(self, clip: np.ndarray) -> np.ndarray:
        """Logits of a full-clip model for ``(frames, size, size, 3)`` uint8 frames."""
        out = self.runner.run(clip.astype(np.float32))
        return next(iter(out.values())).reshape(-1)

    def close(self) -> None:
        self.runner.close()
