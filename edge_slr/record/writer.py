"""One clip being recorded: frames go to a hidden temporary mp4 that becomes a clip only when complete.

The temporary file lives in the clip's class folder under a name starting with ``.``, which ``prepare``
never lists, and it is deleted whenever the clip does not finish (Ctrl-C, ``q``, a lost camera, an error),
so an interrupted session leaves only whole clips behind.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

import cv2
import numpy as np

from edge_slr.errors import UserError
from edge_slr.utils.atomic import temp_file


class ClipWriter:
    """Write RGB frames of one size (others are resized to it) as mp4v to a temporary file in ``folder``.

    Use as a context manager: leaving the block with an exception, or without :meth:`finish`, deletes the file.
    """

    def __init__(self, folder: Path, fps: float, prefix: str):
        self.path = temp_file(folder, f".{prefix}.", ".mp4")  # OpenCV picks the container by the suffix
        self.fps = fps
        self.frames = 0
        self._size: tuple[int, int] | None = None
        self._writer: cv2.VideoWriter | None = None
        self._done = False

    def write(self, rgb: np.ndarray) -> None:
        if self._writer is None:
            self._size = (rgb.shape[1], rgb.shape[0])
            self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, self._size)
            if not self._writer.isOpened():
                raise UserError(f"OpenCV cannot write mp4v video into {self.path.parent}; it needs an OpenCV build "
                                "with FFmpeg and a writable folder")
        if (rgb.shape[1], rgb.shape[0]) != self._size:  # a camera reopened at another resolution
            rgb = cv2.resize(rgb, self._size, interpolation=cv2.INTER_AREA)
        self._writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        self.frames += 1

    def finish(self) -> Path:
        """Close the file and check that it decodes to every frame written; return the temporary path."""
        if self._writer is None:
            raise RuntimeError("finish() before any frame was written")
        self._writer.release()
        capture = cv2.VideoCapture(str(self.path))
        decoded = 0
        while capture.grab():
            decoded += 1
        capture.release()
        if decoded != self.frames:
            raise UserError(f"the clip written to {self.path.parent} decodes to {decoded} of {self.frames} frames; "
                            "check the free disk space")
        self._done = True
        return self.path

    def __enter__(self) -> ClipWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._writer is not None and not self._done:
            self._writer.release()
        if not self._done or exc_type is not None:
            self.path.unlink(missing_ok=True)
