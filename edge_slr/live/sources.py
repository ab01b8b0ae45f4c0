"""Frame sources for the live pipeline: webcam, video file, stream URL, image folder, generated stream.

Every source runs one reader thread that it owns (started in the constructor, joined in :meth:`close`)
and hands frames to one consumer through a single slot guarded by a condition variable:

* **newest-frame mode** (cameras always; files and ``synth`` with ``realtime=True``, the default): the
  reader overwrites the slot, so a slow consumer gets the newest frame and never a queue of stale ones;
  overwritten frames are counted as dropped. Files and ``synth`` are paced at their fps, so a slow
  consumer drops frames exactly as it would with a camera.
* **every-frame mode** (``every_frame=True``, files and ``synth`` only): the reader waits until the
  consumer has taken the slot, so every frame is processed (offline analysis, recording).

The first frame is read in the constructor: a source that cannot deliver one fails at once with one
line. A camera or URL that stops delivering is reopened with back-off (``retries`` times) before the
source ends with :class:`SourceLost`. Errors in the reader thread reach the consumer's next ``read``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import cv2
import numpy as np

from edge_slr.data.stream_truth import StreamTruth, TruthSign
from edge_slr.data.video import frame_files, natural_key, quiet_ffmpeg
from edge_slr.errors import UserError

DEFAULT_FPS = 30.0  # what a camera or stream that reports no frame rate is assumed to deliver
SYNTH_TRAINING_SIGNERS = 12  # signers the demo model was trained on; a synth stream shows the next one
URL_SCHEMES = ("rtsp://", "rtmp://", "http://", "https://")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


class SourceLost(UserError):
    """A camera or stream stopped delivering frames and could not be reopened."""


@dataclass(frozen=True)
class Frame:
    """One captured frame.

    ``t_capture`` is ``time.monotonic()`` when the frame became available (for paced files: when it was
    due); ``t_media`` is its position in the stream in seconds (``index / fps`` for files and ``synth``,
    time since the first frame for cameras), which is what temporal sampling and ground truth use.
    """

    index: int
    rgb: np.ndarray  # (H, W, 3) uint8 RGB
    t_capture: float
    t_media: float


@dataclass(frozen=True)
class SourceStats:
    """Counters of a source: frames its reader produced and frames overwritten before the consumer took them."""

    produced: int
    dropped: int
    reopened: int


class FrameSource:
    """Base of every source: the reader thread, the newest-frame slot and the pacing.

    Subclasses implement :meth:`_grab` (next RGB frame, or None at the end) and may implement
    :meth:`_reopen` (cameras and URLs). ``read`` is for one consumer thread.
    """

    name = "source"
    live = False  # cameras and URLs: frames come at the device's pace, never paced or held by us

    def __init__(self, fps: float, *, realtime: bool = True, every_frame: bool = False, retries: int = 5,
                 retry_delay: float = 0.1):
        if every_frame and self.live:
            raise UserError(f"--every-frame needs a file, folder or synth source; {self.name} is a live camera "
                            "or stream that cannot wait for a slow consumer")
        self.fps = float(fps)
        self.realtime = realtime and not every_frame
        self.every_frame = every_frame
        self.retries = retries
        self.retry_delay = retry_delay
        self._cond = threading.Condition()
        self._slot: Frame | None = None
        self._taken = True  # whether the consumer has taken the slot's frame
        self._ended = False
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._produced = self._dropped = self._reopened = 0
        self._t0: float | None = None
        first = self._grab()
        if first is None:
            self._release()
            raise UserError(f"cannot read a first frame from {self.name}; check that it exists and plays "
                            "(for a camera: that no other program holds it)")
        self.height, self.width = first.shape[:2]
        self._publish(0, first)
        self._thread = threading.Thread(target=self._reader, name=f"source:{self.name}", daemon=True)
        self._thread.start()

    # -- consumer side -------------------------------------------------------------------------

    def read(self, timeout: float | None = None) -> Frame | None:
        """The next frame (newest-frame mode: the newest one); None at the end of the stream.

        Raises the reader thread's error (e.g. :class:`SourceLost`) and ``TimeoutError`` when no frame
        arrives within ``timeout`` seconds.
        """
        with self._cond:
            if not self._cond.wait_for(lambda: not self._taken or self._ended or self._error is not None,
                                       timeout=timeout):
                raise TimeoutError(f"no frame from {self.name} within {timeout:g} s")
            if not self._taken:
                self._taken = True
                self._cond.notify_all()
                return self._slot
            if self._error is not None:
                raise self._error
            return None

    @property
    def stats(self) -> SourceStats:
        with self._cond:
            return SourceStats(self._produced, self._dropped, self._reopened)

    @property
    def truth(self) -> StreamTruth | None:
        """Ground truth of the stream when the source knows it (``synth``), else None."""
        return None

    def close(self) -> None:
        """Stop the reader thread (joined, bounded by 2 s) and release the device. Safe to call twice."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)
        self._release()

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- reader side ---------------------------------------------------------------------------

    def _publish(self, index: int, rgb: np.ndarray) -> bool:
        """Put one frame in the slot; False when the source is stopping."""
        now = time.monotonic()
        if self._t0 is None:
            self._t0 = now
        t_media = (now - self._t0) if self.live else index / self.fps
        frame = Frame(index, rgb, now, t_media)
        with self._cond:
            if self.every_frame:
                self._cond.wait_for(lambda: self._taken or self._stop.is_set())
            if self._stop.is_set():
                return False
            if not self._taken:
                self._dropped += 1
            self._slot, self._taken = frame, False
            self._produced += 1
            self._cond.notify_all()
        return True

    def _reader(self) -> None:
        index = 0
        start = time.monotonic()
        try:
            while not self._stop.is_set():
                rgb = self._grab()
                if rgb is None and self.live:
                    rgb = self._recover()
                if rgb is None:
                    break
                index += 1
                if self.realtime and not self.live:
                    delay = start + index / self.fps - time.monotonic()
                    if delay > 0 and self._stop.wait(delay):
                        break
                if not self._publish(index, rgb):
                    break
        except BaseException as exc:  # reaches the consumer's next read()
            with self._cond:
                self._error = exc
        finally:
            with self._cond:
                self._ended = True
                self._cond.notify_all()

    def _recover(self) -> np.ndarray | None:
        """Reopen a live source with exponential back-off; raise :class:`SourceLost` when it stays gone."""
        delay = self.retry_delay
        for _ in range(self.retries):
            if self._stop.wait(delay):
                return None
            delay *= 2
            with self._cond:
                self._reopened += 1
            if self._reopen():
                rgb = self._grab()
                if rgb is not None:
                    return rgb
        raise SourceLost(f"{self.name} stopped delivering frames and did not come back after {self.retries} "
                         "reopen attempts; check the cable, the network or whether another program took it")

    def _grab(self) -> np.ndarray | None:
        raise NotImplementedError

    def _reopen(self) -> bool:
        return False

    def _release(self) -> None:
        """Release what the source holds; called once the reader has stopped."""


class CaptureSource(FrameSource):
    """OpenCV ``VideoCapture``: webcams, video files and network streams.

    A camera's driver buffer is set to one frame so ``grab`` returns a fresh frame, not a queued one.
    ``opener`` builds the capture (``cv2.VideoCapture`` by default); it is called again to reopen.
    """

    def __init__(self, target: int | str, name: str, *, live: bool, opener: Callable[[], cv2.VideoCapture],
                 fps: float | None = None, **kwargs):
        self.name, self.live = name, live
        self._opener = opener
        self._capture = self._open()
        if not self._capture.isOpened():
            self._capture.release()
            hint = ("check the index (`ls /dev/video*`) and that no other program holds it" if isinstance(target, int)
                    else "check the path or URL and that OpenCV's FFmpeg can decode it")
            raise UserError(f"cannot open {name}; {hint}")
        reported = self._capture.get(cv2.CAP_PROP_FPS)
        super().__init__(fps or (reported if 1 <= reported <= 240 else DEFAULT_FPS), **kwargs)

    def _open(self) -> cv2.VideoCapture:
        capture = self._opener()
        if self.live and capture.isOpened():
            capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        return capture

    def _grab(self) -> np.ndarray | None:
        ok, bgr = self._capture.read()
        if not ok or bgr is None:
            return None
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def _reopen(self) -> bool:
        self._capture.release()
        self._capture = self._open()
        return self._capture.isOpened()

    def _release(self) -> None:
        self._capture.release()


class ImageFolderSource(FrameSource):
    """A folder of images in natural order (``frame_2`` before ``frame_10``), played at ``fps``."""

    def __init__(self, folder: Path, fps: float, **kwargs):
        self.name = f"image folder {folder}"
        self._files = [p for p in frame_files(folder) if p.suffix.lower() in IMAGE_SUFFIXES]
        if not self._files:
            raise UserError(f"{folder} holds no images ({', '.join(IMAGE_SUFFIXES)})")
        self._files.sort(key=lambda p: natural_key(p.name))
        self._next = 0
        self._size: tuple[int, int] | None = None
        super().__init__(fps, **kwargs)

    def _grab(self) -> np.ndarray | None:
        while self._next < len(self._files):
            path = self._files[self._next]
            self._next += 1
            bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if bgr is None:
                continue  # unreadable image: skip it, as prepare does
            if self._size is None:
                self._size = (bgr.shape[1], bgr.shape[0])
            elif (bgr.shape[1], bgr.shape[0]) != self._size:
                bgr = cv2.resize(bgr, self._size, interpolation=cv2.INTER_AREA)
            return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        return None


class SynthSource(FrameSource):
    """A sign stream rendered on the fly by ``edge-slr synth`` (signer unseen in training), with its truth."""

    def __init__(self, config, **kwargs):
        from edge_slr.data.synth import plan_stream

        self.name = f"synth stream (seed {config.seed}, {config.signs} signs)"
        self._plan = plan_stream(config)
        self._next = 0
        super().__init__(config.fps, **kwargs)

    @property
    def truth(self) -> StreamTruth:
        return plan_truth(self._plan, self.fps)

    def _grab(self) -> np.ndarray | None:
        if self._next >= self._plan.frames:
            return None
        self._next += 1
        return self._plan.frame(self._next - 1)


def plan_truth(plan, fps: float) -> StreamTruth:
    """The ground truth of a planned synth stream (``edge_slr.data.synth.StreamPlan``)."""
    return StreamTruth(fps=fps, frames=plan.frames, classes=tuple(plan.names), video="synth",
                       signs=tuple(TruthSign(s["label"], int(s["class_index"]), int(s["start_frame"]),
                                             int(s["end_frame"])) for s in plan.truth))


def parse_synth_spec(spec: str):
    """``synth``, ``synth:SEED`` or ``synth:SEED:SIGNS`` -> a stream ``SynthConfig``.

    The stream shows the 10 classes of the demo model at its training resolution (112 x 112, 25 fps) by
    signer ``s12``, one past the 12 signers of its training data (``export/recipe.sh``), so the stream's
    signer was never seen in training or validation.
    """
    from edge_slr.data.synth import SynthConfig

    parts = spec.split(":")
    try:
        seed = int(parts[1]) if len(parts) > 1 and parts[1] else 0
        signs = int(parts[2]) if len(parts) > 2 and parts[2] else 20
    except ValueError:
        raise UserError(f"bad synth source '{spec}'; use synth, synth:SEED or synth:SEED:SIGNS") from None
    return SynthConfig(classes=10, signers=SYNTH_TRAINING_SIGNERS, seed=seed, stream=True, signs=signs, width=112,
                       height=112)


def open_source(spec: str, *, realtime: bool = True, every_frame: bool = False, fps: float | None = None,
                opener: Callable[[], cv2.VideoCapture] | None = None,
                retries: int = 5, retry_delay: float = 0.1) -> FrameSource:
    """Open ``spec``: a webcam index (``0``), a video file, an RTSP/HTTP URL, a folder of images, or ``synth``.

    ``fps`` sets the pace of an image folder (default 25) and overrides what a file reports.
    ``opener`` replaces ``cv2.VideoCapture(target)`` for captures (the tests reopen a real capture this way).
    """
    quiet_ffmpeg()
    common = dict(realtime=realtime, every_frame=every_frame, retries=retries, retry_delay=retry_delay)
    if spec == "synth" or spec.startswith("synth:"):
        return SynthSource(parse_synth_spec(spec), **common)
    if spec.isdigit():
        index = int(spec)
        return CaptureSource(index, f"camera {index}", live=True,
                             opener=opener or (lambda: cv2.VideoCapture(index)), **common)
    if spec.lower().startswith(URL_SCHEMES):
        return CaptureSource(spec, f"stream {spec}", live=True, opener=opener or (lambda: cv2.VideoCapture(spec)),
                             **common)
    path = Path(spec).expanduser()
    if path.is_dir():
        return ImageFolderSource(path, fps or 25.0, **common)
    if not path.is_file():
        raise UserError(f"source {spec} is neither a camera index, a URL, a folder nor an existing file")
    if os.path.getsize(path) == 0:
        raise UserError(f"{path} is empty; it is not a video")
    return CaptureSource(str(path), f"video {path.name}", live=False, fps=fps,
                         opener=opener or (lambda: cv2.VideoCapture(str(path))), **common)
