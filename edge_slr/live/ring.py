"""The ring buffer between the capture thread and the inference worker.

A preallocated array of the last ``capacity`` preprocessed frames (model input size, uint8) with their
timestamps. The capture thread writes one slot per frame and never waits for the reader; the reader
copies out only the frames it asks for (a window of ``T`` frames, not the whole ring), under the same
lock, so a frame can never be overwritten while it is being copied. A frame that leaves the ring before
the reader has looked past it is counted as overwritten (the reader fell more than a ring behind).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Window:
    """Frames copied out of the ring, oldest first, with their sequence numbers and timestamps."""

    frames: np.ndarray  # (n, S, S, 3) uint8
    seqs: np.ndarray  # (n,) int64, 0-based count of frames pushed
    t_capture: np.ndarray  # (n,) float64 monotonic seconds
    t_media: np.ndarray  # (n,) float64 stream seconds
    hands: np.ndarray  # (n,) bool: whether hands were seen in the frame (True when not detected at all)

    @property
    def newest_seq(self) -> int:
        return int(self.seqs[-1])


class FrameRing:
    """Last ``capacity`` frames of shape ``frame_shape``; one writer thread, any number of readers."""

    def __init__(self, capacity: int, frame_shape: tuple[int, ...], reserve: int = 0):
        if capacity < 1 or not 0 <= reserve < capacity:
            raise ValueError(f"need capacity >= 1 and 0 <= reserve < capacity, got {capacity} and {reserve}")
        self.capacity = capacity
        self.reserve = reserve  # frames before the newest read one that a blocking push keeps (the next window's)
        self._frames = np.zeros((capacity, *frame_shape), np.uint8)
        self._seq = np.full(capacity, -1, np.int64)
        self._t_capture = np.zeros(capacity)
        self._t_media = np.zeros(capacity)
        self._hands = np.zeros(capacity, bool)
        self._count = 0  # frames pushed so far; the newest has seq _count - 1
        self._read_upto = -1  # newest seq any reader has taken a window up to
        self._overwritten = 0
        self._closed = False
        self._cond = threading.Condition()

    # -- writer ---------------------------------------------------------------------------------

    def push(self, frame: np.ndarray, t_capture: float, t_media: float, hands: bool = True, *,
             block: bool = False, stop: threading.Event | None = None) -> int:
        """Copy one preprocessed frame into the next slot; return its sequence number (-1: stopped).

        ``block=True`` (offline every-frame analysis only) waits while the slot holds a frame not yet read, the
        newest read one, or one of the ``reserve`` frames before it, so nothing is overwritten before every
        window reaching it was taken; live capture never blocks.
        """
        with self._cond:
            evicts = self._count - self.capacity  # seq of the frame this push overwrites (< 0: none)
            while block and evicts >= 0 and evicts >= self._read_upto - self.reserve and not self._closed:
                if stop is not None and stop.is_set():
                    return -1
                self._cond.wait(timeout=0.1)
            seq = self._count
            slot = seq % self.capacity
            evicted = int(self._seq[slot])
            if evicted >= 0 and evicted > self._read_upto:
                self._overwritten += 1
            self._frames[slot] = frame
            self._seq[slot], self._t_capture[slot], self._t_media[slot] = seq, t_capture, t_media
            self._hands[slot] = hands
            self._count += 1
            self._cond.notify_all()
            return seq

    def close(self) -> None:
        """Wake every waiting reader: no more frames will come."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    # -- readers --------------------------------------------------------------------------------

    @property
    def pushed(self) -> int:
        with self._cond:
            return self._count

    @property
    def overwritten(self) -> int:
        """Frames that left the ring before any reader took a window reaching them."""
        with self._cond:
            return self._overwritten

    def wait_newer(self, seq: int, timeout: float) -> int:
        """Block until a frame newer than ``seq`` exists (or timeout / close); return the newest seq (-1: none)."""
        with self._cond:
            self._cond.wait_for(lambda: self._count - 1 > seq or self._closed, timeout=timeout)
            return self._count - 1

    @property
    def closed(self) -> bool:
        with self._cond:
            return self._closed

    def _valid(self, upto: int | None = None) -> np.ndarray:
        """Slots holding frames up to seq ``upto`` (default: the newest), oldest first (call with the lock held)."""
        end = self._count if upto is None else min(self._count, upto + 1)
        first = max(0, self._count - self.capacity)
        return np.arange(first, max(first, end)) % self.capacity

    def _take(self, slots: np.ndarray) -> Window:
        window = Window(self._frames[slots].copy(), self._seq[slots].copy(), self._t_capture[slots].copy(),
                        self._t_media[slots].copy(), self._hands[slots].copy())
        self._read_upto = max(self._read_upto, window.newest_seq)
        self._cond.notify_all()  # a blocked writer may go on
        return window

    def latest(self, count: int) -> Window | None:
        """The newest ``count`` frames, or None while fewer have been pushed."""
        with self._cond:
            if self._count < count or count > self.capacity:
                return None
            return self._take(self._valid()[-count:])

    def since(self, seq: int) -> Window | None:
        """Every frame newer than ``seq`` still in the ring (None when there is none)."""
        with self._cond:
            slots = self._valid()
            slots = slots[self._seq[slots] > seq]
            return self._take(slots) if len(slots) else None

    def sample(self, span: float, count: int, upto: int | None = None) -> Window | None:
        """``count`` frames spread evenly over the last ``span`` seconds of stream time, newest last.

        Each target time ``t_newest - span * (count - 1 - i) / (count - 1)`` takes the frame nearest to it, so
        dropped frames and uneven camera timing do not stretch the window. None until the ring covers
        ``span`` (allowing half a target step of slack). ``upto`` ignores frames newer than that seq.
        """
        with self._cond:
            slots = self._valid(upto)
            if len(slots) == 0:
                return None
            times = self._t_media[slots]
            step = span / max(1, count - 1)
            if len(times) == 1:
                return None if span > 0 else self._take(slots)
            if times[-1] - times[0] < span - step / 2:
                return None
            targets = times[-1] - span + step * np.arange(count)
            pos = np.clip(np.searchsorted(times, targets), 1, len(times) - 1)
            nearer_left = (targets - times[pos - 1]) <= (times[pos] - targets)
            pick = np.where(nearer_left, pos - 1, pos)
            return self._take(slots[pick])

    def at_time(self, t_media: float, upto: int | None = None) -> Window | None:
        """The one frame nearest to stream time ``t_media`` (None when the ring is empty)."""
        with self._cond:
            slots = self._valid(upto)
            if len(slots) == 0:
                return None
            times = self._t_media[slots]
            return self._take(slots[[int(np.argmin(np.abs(times - t_media)))]])
