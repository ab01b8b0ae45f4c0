"""A recording session: prompt, count down, record a clip of a set length, save it; repeat.

Time is the source's media time (``Frame.t_media``): seconds since the first frame for a camera, frame
index over fps for a file or ``synth``. A clip of ``seconds`` is therefore ``round(seconds * fps)`` frames
at the source's fps whatever the camera really delivers: each output frame slot gets the newest frame
captured by then (a camera slower than it reports repeats frames, a faster one drops some), so a clip
always plays at real speed. With ``every_frame`` a file or ``synth`` is read frame by frame as fast as it
decodes, and the clips are exact runs of its frames.

Prompts go round the signs (``a b c a b c``) rather than repeating one sign ``clips`` times in a row, so
slow drifts in light, position or fatigue are spread over every class instead of marking one.

Stopping (``stop`` set by Ctrl-C, or the prompter's ``q``) takes effect at the next frame: a clip being
recorded is discarded, every finished clip and its manifest row stay.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from edge_slr.errors import UserError
from edge_slr.live.sources import Frame, FrameSource
from edge_slr.record.dataset import ManifestRow, RecordFolder
from edge_slr.record.writer import ClipWriter

MIN_CLIP_FRAMES = 8  # prepare skips clips with fewer frames (its default --min-frames)
NO_FRAME_SECONDS = 10.0  # a source silent this long (no frame, no error) ends the session with one line
_POLL = 0.2  # seconds between checks of the stop flag while waiting for a frame


@dataclass(frozen=True)
class Prompt:
    """One clip to record: which sign, which repetition of it, and where it is in the session."""

    sign: str
    repetition: int  # 1-based, of `repetitions`
    repetitions: int
    number: int  # 1-based position in the session, of `total`
    total: int

    def text(self) -> str:
        return f"sign '{self.sign}' ({self.repetition}/{self.repetitions})"


@dataclass(frozen=True)
class Status:
    """What the prompter shows with a frame: the prompt, the phase and how far it is."""

    prompt: Prompt
    phase: str  # "countdown" or "recording"
    countdown: int = 0  # whole seconds left before recording starts (countdown phase)
    progress: float = 0.0  # share of the clip recorded (recording phase)
    seconds: float = 0.0  # clip length


@dataclass(frozen=True)
class SavedClip:
    """A finished clip: its manifest row, absolute path and frame count."""

    row: ManifestRow
    path: Path
    frames: int
    fps: float


class Prompter(Protocol):
    """Shows the prompts: a window over the camera image, or lines on stderr."""

    def show(self, rgb: np.ndarray, status: Status) -> bool:
        """Present one frame with its status; False when the user asked to stop (``q``, Esc, window closed)."""

    def saved(self, clip: SavedClip) -> None:
        """Report a finished clip."""


@dataclass
class SessionResult:
    """How a session ended: clips saved, and why it stopped before the last prompt if it did."""

    saved: list[SavedClip] = field(default_factory=list)
    planned: int = 0
    stopped: str | None = None  # "interrupt" (stop flag), "quit" (prompter), "ended" (source ran out)


class _Stopped(Exception):
    """Internal: leave the session (its reason is on the result)."""


def plan_prompts(signs: Sequence[str], clips: int) -> list[Prompt]:
    """``clips`` rounds over ``signs``: ``a b c a b c ...``."""
    total = len(signs) * clips
    return [Prompt(sign, rep + 1, clips, rep * len(signs) + i + 1, total)
            for rep in range(clips) for i, sign in enumerate(signs)]


class Session:
    """Runs the prompts of one signer against one open source, writing into one :class:`RecordFolder`."""

    def __init__(self, source: FrameSource, folder: RecordFolder, prompter: Prompter, *, seconds: float,
                 countdown: float, stop: threading.Event | None = None):
        self.source, self.folder, self.prompter = source, folder, prompter
        self.fps = source.fps
        self.clip_frames = round(seconds * self.fps)
        if self.clip_frames < MIN_CLIP_FRAMES:
            raise UserError(f"--seconds {seconds:g} gives {self.clip_frames} frames at {self.fps:g} fps; prepare "
                            f"skips clips under {MIN_CLIP_FRAMES} frames, so record at least "
                            f"{MIN_CLIP_FRAMES / self.fps:.2f} s")
        if countdown < 0:
            raise UserError(f"--countdown {countdown:g} is negative; give the seconds before each clip (0: none)")
        self.seconds, self.countdown = seconds, countdown
        self.stop = stop or threading.Event()
        self._eps = 0.25 / self.fps  # media times within a quarter frame are the same instant
        self._pending: Frame | None = None  # the frame that ended a clip starts the next countdown
        self._result = SessionResult()

    def run(self, prompts: Sequence[Prompt]) -> SessionResult:
        """Record every prompt, or as many as before a stop; errors of the source keep the finished clips."""
        self._result = SessionResult(planned=len(prompts))
        try:
            for prompt in prompts:
                first = self._count_down(prompt)
                self._result.saved.append(self._record(prompt, first))
        except _Stopped:
            pass
        except UserError as exc:  # the camera went away, or the file could not be written
            kept = len(self._result.saved)
            raise UserError(f"{exc}; the {kept} finished clip(s) of this session are kept in {self.folder.root}"
                            ) from exc
        return self._result

    def _next(self) -> Frame:
        """The next frame, or leave the session (stop flag, end of the source, a silent source)."""
        if self._pending is not None:
            frame, self._pending = self._pending, None
            return frame
        waited_since = time.monotonic()
        while True:
            if self.stop.is_set():
                self._result.stopped = "interrupt"
                raise _Stopped
            try:
                frame = self.source.read(timeout=_POLL)
            except TimeoutError:
                if time.monotonic() - waited_since > NO_FRAME_SECONDS:
                    raise UserError(f"no frame from {self.source.name} for {NO_FRAME_SECONDS:g} s; check that it "
                                    "is connected and that no other program holds it") from None
                continue
            if frame is None:
                self._result.stopped = "ended"
                raise _Stopped
            return frame

    def _show(self, frame: Frame, status: Status) -> None:
        if not self.prompter.show(frame.rgb, status):
            self._result.stopped = "quit"
            raise _Stopped

    def _count_down(self, prompt: Prompt) -> Frame:
        """Show the prompt and the countdown; return the frame at which recording starts."""
        frame = self._next()
        start = frame.t_media
        while (left := self.countdown - (frame.t_media - start)) > self._eps:
            self._show(frame, Status(prompt, "countdown", countdown=math.ceil(left - self._eps),
                                     seconds=self.seconds))
            frame = self._next()
        return frame

    def _record(self, prompt: Prompt, first: Frame) -> SavedClip:
        """Record ``clip_frames`` frame slots from ``first`` on, then give the clip its name and manifest row."""
        folder = self.folder.clip_folder(prompt.sign)
        with ClipWriter(folder, self.fps, f"{self.folder.signer}_recording") as clip:
            start, last, frame = first.t_media, first, first
            while True:
                self._show(frame, Status(prompt, "recording", progress=clip.frames / self.clip_frames,
                                         seconds=self.seconds))
                frame = self._next()
                # Every slot before this frame's time shows the newest frame captured by then: `last`.
                while clip.frames < self.clip_frames and \
                        start + clip.frames / self.fps < frame.t_media - self._eps:
                    clip.write(last.rgb)
                last = frame
                if clip.frames == self.clip_frames:
                    break
            path = self.folder.publish(clip.finish(), prompt.sign)
        self._pending = frame
        saved = SavedClip(self.folder.add_row(path, prompt.sign), path, clip.frames, self.fps)
        self.prompter.saved(saved)
        return saved
