"""Tiny real video files and frame folders for the data tests, written with OpenCV.

Each clip is a coloured rectangle moving over a grey background; the frame index is encoded in
the rectangle's position, so tests can tell which frames a reader kept.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

W, H = 64, 48


def frame(i: int, n: int, colour: tuple[int, int, int] = (0, 0, 255), size: tuple[int, int] = (W, H)) -> np.ndarray:
    """BGR frame ``i`` of ``n``: a rectangle whose x position grows with i."""
    w, h = size
    img = np.full((h, w, 3), 128, np.uint8)
    x = int(round(i * (w - 12) / max(n - 1, 1)))
    img[h // 4 : 3 * h // 4, x : x + 12] = colour
    return img


def write_frames_video(path: Path, frames: list[np.ndarray], fps: float = 25.0) -> Path:
    """An MPEG-4 (mp4v) video of the given BGR frames."""
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    assert writer.isOpened(), f"OpenCV cannot write {path}"
    for f in frames:
        writer.write(f)
    writer.release()
    return path


def write_video(path: Path, n: int, colour: tuple[int, int, int] = (0, 0, 255), fps: float = 25.0,
                size: tuple[int, int] = (W, H)) -> Path:
    """A video of ``n`` frames of a moving rectangle."""
    return write_frames_video(path, [frame(i, n, colour, size) for i in range(n)], fps)


def write_frames(folder: Path, n: int, colour: tuple[int, int, int] = (0, 0, 255)) -> Path:
    """A CSL-style frame folder: ``000000.jpg`` ... of ``n`` frames."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        assert cv2.imwrite(str(folder / f"{i:06d}.jpg"), frame(i, n, colour))
    return folder


def write_bytes(path: Path, data: bytes) -> Path:
    """A file with the given content (corrupt or empty "videos")."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
