"""Where a live run's results go: the annotated window, an annotated video, JSON lines, periodic stats.

The window and the video writer run in the caller's thread (``cv2.imshow`` must stay on one thread);
event sinks are called from the inference worker and only append to a file or print a line.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path
from typing import IO

import cv2
import numpy as np

from edge_slr.errors import UserError
from edge_slr.live.pipeline import View
from edge_slr.live.smoothing import SignEvent
from edge_slr.utils.atomic import atomic_path

WINDOW = "edge-slr live"
MIN_DISPLAY_HEIGHT = 480
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_GREEN, _YELLOW, _WHITE, _GREY, _DARK = (80, 220, 80), (0, 210, 255), (255, 255, 255), (160, 160, 160), (30, 30, 30)


def display_available() -> bool:
    """Whether an OpenCV window can open here (an X display or a non-Linux desktop)."""
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) or sys.platform in ("win32", "darwin")


def annotate(view: View) -> np.ndarray:
    """The frame as BGR for display/recording: hand and crop boxes, label, confidence bar, top-3, FPS, latency."""
    frame = cv2.cvtColor(view.rgb, cv2.COLOR_RGB2BGR)
    scale = max(1.0, MIN_DISPLAY_HEIGHT / frame.shape[0])
    if scale > 1.0:
        frame = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    for hand in view.hands:
        x0, y0, x1, y1 = (int(v * scale) for v in hand.box())
        cv2.rectangle(frame, (x0, y0), (x1, y1), _GREEN, 2)
        cv2.putText(frame, hand.handedness, (x0, max(12, y0 - 4)), _FONT, 0.45, _GREEN, 1, cv2.LINE_AA)
    if view.crop is not None:
        x, y, side = (v * scale for v in view.crop)
        cv2.rectangle(frame, (int(x), int(y)), (int(x + side), int(y + side)), _YELLOW, 1)
    h, w = frame.shape[:2]
    panel = frame.copy()
    cv2.rectangle(panel, (0, 0), (w, 92), _DARK, -1)
    frame[:] = cv2.addWeighted(panel, 0.65, frame, 0.35, 0)
    headline = view.active or ("(paused: no hands)" if view.gated else "(no sign)")
    cv2.putText(frame, headline, (10, 32), _FONT, 0.9, _WHITE, 2, cv2.LINE_AA)
    # The bar is the best sign's probability (not the no-sign label's) with a tick where an event fires.
    sign, conf = view.best_sign or ("", 0.0)
    span = w - 20
    cv2.rectangle(frame, (10, 42), (w - 10, 54), _GREY, 1)
    cv2.rectangle(frame, (10, 42), (10 + int(span * min(1.0, conf)), 54), _GREEN if view.active else _YELLOW, -1)
    tick = 10 + int(span * view.on_threshold)
    cv2.line(frame, (tick, 38), (tick, 58), _WHITE, 1)
    if sign and not view.active:
        cv2.putText(frame, sign, (14, 52), _FONT, 0.35, _DARK, 1, cv2.LINE_AA)
    top3 = "   ".join(f"{name} {p:.2f}" for name, p in view.top3)
    cv2.putText(frame, top3, (10, 74), _FONT, 0.45, _WHITE, 1, cv2.LINE_AA)
    stats = f"{view.fps:.0f} fps  {view.latency_ms:.0f} ms  frame {view.index}"
    cv2.putText(frame, stats, (10, h - 12), _FONT, 0.5, _WHITE, 1, cv2.LINE_AA)
    if view.last_event is not None:
        text = f"last: {view.last_event.label} ({view.last_event.confidence:.2f})"
        (tw, _), _ = cv2.getTextSize(text, _FONT, 0.5, 1)
        cv2.putText(frame, text, (w - tw - 10, h - 12), _FONT, 0.5, _GREEN, 1, cv2.LINE_AA)
    return frame


class Window:
    """The OpenCV window; ``show`` returns False when the user pressed ``q`` or Esc or closed it."""

    def __init__(self, title: str = WINDOW) -> None:
        self.title = title
        cv2.namedWindow(title, cv2.WINDOW_NORMAL | cv2.WINDOW_GUI_NORMAL)  # no Qt toolbar over the video
        self._shown = False

    def show(self, image: np.ndarray) -> bool:
        cv2.imshow(self.title, image)
        if not self._shown:
            cv2.resizeWindow(self.title, image.shape[1], image.shape[0])
            self._shown = True
        key = cv2.waitKey(1) & 0xFF
        if key in (ord("q"), 27):
            return False
        return cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) >= 1

    def close(self) -> None:
        cv2.destroyWindow(self.title)
        cv2.waitKey(1)


class VideoRecorder:
    """The annotated frames as an mp4 (written to a temporary file, renamed when complete)."""

    def __init__(self, path: Path, fps: float):
        self.path, self.fps = Path(path), fps
        if not self.path.parent.is_dir():
            raise UserError(f"cannot record to {path}: folder {self.path.parent} does not exist")
        self._ctx = atomic_path(self.path)
        self._tmp = self._ctx.__enter__()
        self._writer: cv2.VideoWriter | None = None
        self.frames = 0

    def write(self, image: np.ndarray) -> None:
        if self._writer is None:
            self._writer = cv2.VideoWriter(str(self._tmp), cv2.VideoWriter_fourcc(*"mp4v"), self.fps,
                                           (image.shape[1], image.shape[0]))
            if not self._writer.isOpened():
                raise UserError(f"OpenCV cannot write mp4v video to {self.path}")
        self._writer.write(image)
        self.frames += 1

    def close(self, keep: bool = True) -> None:
        if self._writer is not None:
            self._writer.release()
        if keep and self.frames:
            self._ctx.__exit__(None, None, None)
        else:
            self._ctx.__exit__(RuntimeError, RuntimeError("discarded"), None)


class EventPrinter:
    """One JSON line per event to a stream (``--headless``: stdout) and/or an ``--events`` file, thread-safe.

    The file is written under a temporary name and renamed by :meth:`close`, which the commands call
    however the run ends (end of stream, Ctrl-C, error), so the events seen so far are kept.
    """

    def __init__(self, stream: IO[str] | None, path: Path | None):
        self._stream = stream
        self._ctx = atomic_path(path) if path else None
        self._file = open(self._ctx.__enter__(), "w", encoding="utf-8") if self._ctx else None  # noqa: SIM115
        self._lock = threading.Lock()

    def __call__(self, event: SignEvent) -> None:
        line = json.dumps(event.to_json())
        with self._lock:
            for out in (self._stream, self._file):
                if out is not None:
                    out.write(line + "\n")
                    out.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._ctx.__exit__(None, None, None)
                self._file = None
