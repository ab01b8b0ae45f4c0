"""How a recording session talks to the signer: a window over the camera image, or lines on stderr.

The window (:class:`WindowPrompter`) shows the live image with the prompt on top, a large countdown
number before each clip, and a red ``REC`` with the clip's progress while recording; ``q`` or Esc stops
the session. Headless (:class:`LinePrompter`) prints one line per prompt and countdown step, so a
session can be followed in a terminal or a log.
"""

from __future__ import annotations

import sys
from typing import IO

import cv2
import numpy as np

from edge_slr.live.sinks import MIN_DISPLAY_HEIGHT, Window
from edge_slr.record.session import SavedClip, Status

WINDOW_TITLE = "edge-slr record"
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_WHITE, _DARK, _RED, _YELLOW = (255, 255, 255), (30, 30, 30), (40, 40, 230), (0, 210, 255)  # BGR


def draw(rgb: np.ndarray, status: Status) -> np.ndarray:
    """The frame as BGR for the window: prompt panel, countdown number or REC with progress bar."""
    frame = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    scale = max(1.0, MIN_DISPLAY_HEIGHT / frame.shape[0])
    if scale > 1.0:
        frame = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    h, w = frame.shape[:2]
    prompt = status.prompt
    panel = frame.copy()
    cv2.rectangle(panel, (0, 0), (w, 84), _DARK, -1)
    frame[:] = cv2.addWeighted(panel, 0.65, frame, 0.35, 0)
    cv2.putText(frame, prompt.text(), (10, 36), _FONT, 1.0, _WHITE, 2, cv2.LINE_AA)
    cv2.putText(frame, f"clip {prompt.number} of {prompt.total}   {status.seconds:g} s each   q: stop",
                (10, 68), _FONT, 0.5, _WHITE, 1, cv2.LINE_AA)
    if status.phase == "countdown":
        text = str(status.countdown)
        (tw, th), _ = cv2.getTextSize(text, _FONT, 4.0, 8)
        origin = ((w - tw) // 2, (h + th) // 2)
        cv2.putText(frame, text, origin, _FONT, 4.0, _DARK, 14, cv2.LINE_AA)  # outline: readable on any scene
        cv2.putText(frame, text, origin, _FONT, 4.0, _YELLOW, 8, cv2.LINE_AA)
    else:
        cv2.circle(frame, (w - 86, 32), 10, _RED, -1, cv2.LINE_AA)
        cv2.putText(frame, "REC", (w - 68, 42), _FONT, 0.9, _RED, 2, cv2.LINE_AA)
        cv2.rectangle(frame, (0, h - 10), (int(w * min(1.0, status.progress)), h), _RED, -1)
        cv2.rectangle(frame, (0, 0), (w - 1, h - 1), _RED, 3)
    return frame


def saved_line(clip: SavedClip) -> str:
    return f"record: saved {clip.row.path} ({clip.frames} frames, {clip.frames / clip.fps:.2f} s)"


class WindowPrompter:
    """Prompts in an OpenCV window over the live image; :meth:`show` is False after ``q``/Esc or a close."""

    def __init__(self, out: IO[str] = sys.stderr):
        self._window = Window(WINDOW_TITLE)
        self._out = out

    def show(self, rgb: np.ndarray, status: Status) -> bool:
        return self._window.show(draw(rgb, status))

    def saved(self, clip: SavedClip) -> None:
        print(saved_line(clip), file=self._out, flush=True)

    def close(self) -> None:
        self._window.close()


class LinePrompter:
    """Headless prompts: one line per prompt and countdown step, ``REC`` when a clip starts, one per saved clip."""

    def __init__(self, out: IO[str] = sys.stderr):
        self._out = out
        self._last: tuple | None = None

    def show(self, rgb: np.ndarray, status: Status) -> bool:
        step = (status.prompt.number, status.phase, status.countdown)
        if step != self._last:
            self._last = step
            p = status.prompt
            what = f"in {status.countdown}" if status.phase == "countdown" else f"REC {status.seconds:g} s"
            print(f"record: clip {p.number}/{p.total}: {p.text()} {what}", file=self._out, flush=True)
        return True

    def saved(self, clip: SavedClip) -> None:
        print(saved_line(clip), file=self._out, flush=True)

    def close(self) -> None:
        """Nothing to release (the same interface as the window)."""
