"""MediaPipe Tasks ``HandLandmarker`` behind a small, typed, TensorFlow-free wrapper.

Why a wrapper: the live pipeline, ``prepare`` and the tests all need the same three things from
MediaPipe -- pixel landmarks, handedness and a score -- and the same care: VIDEO mode wants strictly
increasing timestamps and one owning thread, the C++ side prints LiteRT start-up chatter on stderr,
and ``import mediapipe`` pulls in TensorFlow whenever it is installed (only for its API-doc decorator).
"""

from __future__ import annotations

import os
import sys
import threading
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import cv2
import numpy as np

from edge_slr.hands.bundle import verify_hands_model
from edge_slr.utils.native_stderr import quietly

T = TypeVar("T")
_OPTIONAL_DEPS = "mediapipe.tasks.python.core.optional_dependencies"
# Frames with a shorter side are padded (edge pixels repeated) to this before detection. MediaPipe's palm
# detector misses hands that fill a small image: on 409 asl_digits photos (100x100) it found a hand in 86%
# as they are, 99.8% padded to 160 px by repeating the edge, 97% padded with black, 69% with a mirrored
# border (mirror-image hands) and 86% when simply enlarged. Webcam frames are far larger: no change there.
MIN_SIDE = 160


@dataclass(frozen=True)
class Hand:
    """One detected hand in the pixel coordinates of the frame given to :meth:`HandDetector.detect`."""

    landmarks: np.ndarray  # (21, 2) float32 pixel x, y (MediaPipe's 21 hand landmarks, 0 = wrist)
    handedness: str  # "Left" / "Right" as MediaPipe reports (the subject's hand on an unmirrored image)
    score: float  # handedness confidence, 0..1

    def box(self) -> tuple[float, float, float, float]:
        """Tight box around the landmarks: x0, y0, x1, y1 in pixels."""
        x0, y0 = self.landmarks.min(axis=0)
        x1, y1 = self.landmarks.max(axis=0)
        return float(x0), float(y0), float(x1), float(y1)

    def palm_length(self) -> float:
        """Wrist (0) to middle-finger knuckle (9) in pixels: a hand-size scale that finger curl does not change."""
        return float(np.linalg.norm(self.landmarks[9] - self.landmarks[0]))


def _import_mediapipe() -> tuple[Any, Any, Any, Any]:
    """Import the MediaPipe Tasks pieces we use without dragging TensorFlow in.

    MediaPipe's ``optional_dependencies`` imports ``tensorflow.tools.docs.doc_controls`` when TensorFlow
    is installed, only to tag API docs; without TensorFlow it falls back to a no-op decorator. On a
    device TensorFlow is absent anyway; on a development machine that import would cost ~4 s and
    hundreds of MB in every live/prepare process. We register MediaPipe's own no-op fallback first,
    unless TensorFlow is already loaded (then MediaPipe may as well use it).
    """
    if _OPTIONAL_DEPS not in sys.modules and "tensorflow" not in sys.modules:
        fallback = types.ModuleType(_OPTIONAL_DEPS)
        fallback.doc_controls = types.SimpleNamespace(do_not_generate_docs=lambda obj: obj)  # type: ignore[attr-defined]
        sys.modules[_OPTIONAL_DEPS] = fallback
    import mediapipe as mp
    from mediapipe.tasks.python.core import base_options
    from mediapipe.tasks.python.vision import hand_landmarker
    from mediapipe.tasks.python.vision.core import vision_task_running_mode

    return mp, base_options, hand_landmarker, vision_task_running_mode


class HandDetector:
    """MediaPipe Tasks HandLandmarker in VIDEO running mode (or IMAGE mode with ``still=True``).

    VIDEO mode tracks hands from frame to frame (cheaper and steadier than detecting anew) and is
    synchronous, so the thread that creates a detector must be the only one that uses it; calls from
    another thread raise instead of corrupting the graph. Timestamps must strictly increase: a
    non-increasing one (a source that repeats or rewinds its clock) is bumped by 1 ms rather than
    crashing the stream. ``still=True`` uses IMAGE mode: every call detects from scratch, as separate
    photos need (tracking would carry one photo's hand into the next). Close it explicitly, or use
    it as a context manager; there is no ``__del__``.
    """

    def __init__(self, model_path: os.PathLike[str] | str, max_hands: int = 2, min_confidence: float = 0.5,
                 *, still: bool = False, min_side: int = MIN_SIDE):
        if max_hands < 1:
            raise ValueError(f"max_hands must be >= 1, got {max_hands}")
        if not 0.0 <= min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be in [0, 1], got {min_confidence}")
        path = verify_hands_model(Path(model_path))
        self._mp, base_options, hand_landmarker, running_mode = _import_mediapipe()
        modes = running_mode.VisionTaskRunningMode
        options = hand_landmarker.HandLandmarkerOptions(
            base_options=base_options.BaseOptions(model_asset_path=str(path)),
            running_mode=modes.IMAGE if still else modes.VIDEO,
            num_hands=max_hands,
            min_hand_detection_confidence=min_confidence,
            min_hand_presence_confidence=min_confidence,
            min_tracking_confidence=min_confidence,
        )
        self._landmarker = quietly(lambda: hand_landmarker.HandLandmarker.create_from_options(options))
        self.still = still
        self.max_hands = max_hands
        self.min_side = min_side
        self._owner = threading.get_ident()
        self._last_ts: int | None = None
        self._first = True
        self._closed = False

    def detect(self, rgb: np.ndarray, timestamp_ms: int = 0) -> list[Hand]:
        """Hands in one uint8 RGB frame (H, W, 3); an empty list when none (never None).

        ``timestamp_ms`` is the frame's media time (VIDEO mode; ignored with ``still=True``).
        """
        if self._closed:
            raise RuntimeError("HandDetector.detect() after close()")
        if threading.get_ident() != self._owner:
            raise RuntimeError("HandDetector is owned by the thread that created it (MediaPipe VIDEO mode "
                               "is synchronous); create one per thread")
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"detect() wants uint8 RGB (H, W, 3), got {rgb.dtype} {rgb.shape}")
        h, w = rgb.shape[:2]
        pad_y, pad_x = max(0, self.min_side - h), max(0, self.min_side - w)
        if pad_y or pad_x:
            rgb = cv2.copyMakeBorder(rgb, pad_y // 2, pad_y - pad_y // 2, pad_x // 2, pad_x - pad_x // 2,
                                     cv2.BORDER_REPLICATE)
        image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))
        if self.still:
            call = lambda: self._landmarker.detect(image)  # noqa: E731
        else:
            ts = int(timestamp_ms)
            if self._last_ts is not None and ts <= self._last_ts:
                ts = self._last_ts + 1
            self._last_ts = ts
            call = lambda: self._landmarker.detect_for_video(image, ts)  # noqa: E731
        if self._first:  # the first run prints one more line of logging set-up
            self._first = False
            result = quietly(call)
        else:
            result = call()
        ph, pw = rgb.shape[:2]
        shift = np.float32([pad_x // 2, pad_y // 2])
        hands = []
        for marks, categories in zip(result.hand_landmarks, result.handedness, strict=False):
            xy = np.array([(m.x * pw, m.y * ph) for m in marks], dtype=np.float32) - shift
            best = max(categories, key=lambda c: c.score) if categories else None
            hands.append(Hand(landmarks=xy, handedness=(best.category_name if best else "") or "",
                              score=float(best.score) if best else 0.0))
        return hands

    def close(self) -> None:
        """Release the MediaPipe graph; safe to call twice."""
        if not self._closed:
            self._closed = True
            quietly(self._landmarker.close)

    def __enter__(self) -> HandDetector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
