"""Classify whole clips with an exported .tflite model (full-clip or streaming), TensorFlow-free.

Used by evaluation and the export report, so accuracy of a .tflite file is measured by the same
code a device runs.
"""

from __future__ import annotations

import os

import numpy as np

from edge_slr.errors import UserError
from edge_slr.runtime.model_card import ModelCard, read_model_card
from edge_slr.runtime.runner import TFLiteRunner
from edge_slr.runtime.streaming import open_frame_stream


class ClipClassifier:
    """Logits for one clip of raw RGB frames ``(T, H, W, 3)`` in [0, 255].

    A full-clip model takes the clip as one ``(T, H, W, 3)`` tensor (time in the batch axis). A
    streaming model encodes frame by frame (``encode_frame``) and classifies the feature window
    (``classify``), exactly as the live pipeline does.
    """

    def __init__(self, model_path: str | os.PathLike[str], num_threads: int | None = None,
                 use_xnnpack: bool = True):
        self.runner = TFLiteRunner(model_path, num_threads=num_threads, use_xnnpack=use_xnnpack)
        self.card: ModelCard = read_model_card(self.runner.model)

    @property
    def labels(self) -> tuple[str, ...]:
        return self.card.labels

    def _check(self, clip: np.ndarray) -> np.ndarray:
        expected = (self.card.frames, self.card.size, self.card.size, 3)
        if clip.shape != expected:
            raise UserError(f"clip shape {clip.shape} does not match the model's input {expected} (T, H, W, RGB)")
        # Float in, so the runner quantizes with the input tensor's own scale and zero point.
        return clip.astype(np.float32, copy=False)

    def predict(self, clip: np.ndarray) -> np.ndarray:
        """Float logits ``(num_classes,)`` for one clip."""
        clip = self._check(np.asarray(clip))
        if not self.card.streaming:
            out = self.runner.run(clip)
            return next(iter(out.values())).reshape(-1)
        stream = open_frame_stream(self.runner, self.card)
        for frame in clip:
            stream.push(frame)
        return stream.logits()

    def predict_file(self, path: str | os.PathLike[str],
                     hands_model: str | os.PathLike[str] | None = None) -> np.ndarray:
        """Float logits for a raw video, frame folder or photo, cut with exactly the card's ``input.crop``.

        Hand-based crops (``signer``, ``hand``) need the MediaPipe bundle; without it: a one-line error.
        """
        from edge_slr.data.hand_crops import model_input_clip
        from edge_slr.hands import CropSpec, resolve_hands_model

        crop = CropSpec.from_card(self.card.raw["input"].get("crop"))
        bundle = resolve_hands_model(hands_model) if crop.needs_hands else None
        return self.predict(model_input_clip(path, crop, self.card.frames, self.card.size, bundle))

    def close(self) -> None:
        self.runner.close()

    def __enter__(self) -> ClipClassifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
