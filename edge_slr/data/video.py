"""Read sign clips (video files or folders of frame images) into RGB uint8 arrays with OpenCV.

No TensorFlow here: the live runtime reads videos with this module too. Every way a clip can be
unusable (missing, empty, not decodable, no frames) raises :class:`UnreadableClip` whose message
is the reason, so ``prepare`` can skip the file and list why, and a single-file command can show
it as a one-line user error.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge_slr.data.preprocess import uniform_indices
from edge_slr.errors import UserError

VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp", ".ogv", ".ts"}
)
FRAME_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp"})

FrameTransform = Callable[[np.ndarray], np.ndarray]


class UnreadableClip(UserError):
    """A video or frame folder that cannot be used: ``path`` and ``reason``; the message joins them."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


@dataclass(frozen=True)
class Clip:
    """Frames kept from one source clip."""

    frames: np.ndarray  # (N, H, W, 3) uint8 RGB (H, W after the optional transform)
    indices: np.ndarray  # source frame index of each kept frame, int64
    source_frames: int  # decodable frames in the source
    fps: float  # frames per second of the source; 0.0 when unknown (frame folders)


def natural_key(text: str) -> tuple[object, ...]:
    """Sort key that orders ``frame2`` before ``frame10`` (and class ``2`` before ``10``)."""
    return tuple(int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text))


def quiet_ffmpeg() -> None:
    """Silence FFmpeg's own stderr messages ("moov atom not found" ...) for this process.

    Batch readers report a reason per bad file themselves; FFmpeg reads this variable when
    OpenCV first initializes it, so call this before the first VideoCapture. An explicit
    user setting wins.
    """
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET


def read_clip(path: str | os.PathLike[str], max_frames: int | None = None,
              transform: FrameTransform | None = None) -> Clip:
    """Read a video file or a folder of frame images.

    ``max_frames`` keeps at most that many frames, evenly spread over the clip (all frames when
    the clip is shorter). ``transform`` (e.g. a crop/resize) is applied to each kept frame as it is
    decoded, so long high-resolution sources never sit in memory at full size.
    """
    p = Path(path)
    if p.is_dir():
        return read_frame_folder(p, max_frames, transform)
    if is_still(p):
        return read_still(p, transform)
    return read_video(p, max_frames, transform)


def is_still(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a single image: a still sign (a held handshape), one clip of one frame."""
    return Path(path).suffix.lower() in FRAME_EXTENSIONS


def read_still(path: str | os.PathLike[str], transform: FrameTransform | None = None) -> Clip:
    """Read one photo as a one-frame clip; samplers repeat it for every frame a model wants.

    Stored once rather than repeated: the training pipeline adds small per-frame jitter to
    one-frame clips so a model does not learn a frozen frame.
    """
    p = Path(path)
    _check_file(p)
    bgr = _imread(p)
    if bgr is None:
        raise UnreadableClip(p, "cannot decode the image (corrupt or unknown format)")
    frame = cv2.cvtColor(transform(bgr) if transform else bgr, cv2.COLOR_BGR2RGB)
    return Clip(frame[None], np.zeros(1, np.int64), 1, 0.0)


def _open(path: Path) -> cv2.VideoCapture:
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise UnreadableClip(path, "cannot open: not a video OpenCV can decode (corrupt or unknown format)")
    return cap


def _check_file(path: Path) -> None:
    if not path.exists():
        raise UnreadableClip(path, "missing file")
    if not path.is_file():
        raise UnreadableClip(path, "not a file")
    if path.stat().st_size == 0:
        raise UnreadableClip(path, "empty file (0 bytes)")


def _decode_pass(path: Path, wanted: np.ndarray | None, transform: FrameTransform | None
                 ) -> tuple[list[np.ndarray], list[int], int, float]:
    """Decode every frame, convert only ``wanted`` ones (all if None): kept, their indices, count, fps."""
    cap = _open(path)
    try:
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        wanted_set = None if wanted is None else set(int(i) for i in wanted)
        kept: list[np.ndarray] = []
        kept_idx: list[int] = []
        n = 0
        while cap.grab():  # grab() decodes; retrieve() only converts the frames we keep
            if wanted_set is None or n in wanted_set:
                ok, bgr = cap.retrieve()
                if not ok or bgr is None:
                    break  # a frame that cannot be converted ends the usable stream
                if transform is not None:
                    bgr = transform(bgr)
                kept.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
                kept_idx.append(n)
            n += 1
        return kept, kept_idx, n, fps
    finally:
        cap.release()


def read_video(path: str | os.PathLike[str], max_frames: int | None = None,
               transform: FrameTransform | None = None) -> Clip:
    """Read a video file into RGB frames; see :func:`read_clip`.

    The container's frame count is only a hint (often wrong for AVI/WebM or truncated files):
    frames are chosen from it, and when the decoded count differs, a second pass chooses again
    from the true count.
    """
    p = Path(path)
    _check_file(p)
    hint = 0
    if max_frames is not None:
        cap = _open(p)
        hint = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        cap.release()
    wanted = uniform_indices(hint, min(hint, max_frames)) if max_frames is not None and hint > 0 else None
    kept, kept_idx, n, fps = _decode_pass(p, wanted, transform)
    if n == 0:
        raise UnreadableClip(p, "no decodable frames")
    if max_frames is not None:
        target = uniform_indices(n, min(n, max_frames))
        if kept_idx != target.tolist():
            if set(target.tolist()) <= set(kept_idx):  # kept every frame (hint was missing): select now
                pos = {i: k for k, i in enumerate(kept_idx)}
                kept = [kept[pos[i]] for i in target.tolist()]
                kept_idx = target.tolist()
            else:
                kept, kept_idx, n2, fps = _decode_pass(p, target, transform)
                if n2 != n or not kept:
                    raise UnreadableClip(p, f"decoding is not repeatable ({n} then {n2} frames)")
    return Clip(np.stack(kept), np.asarray(kept_idx, dtype=np.int64), n, fps)


def _imread(path: Path) -> np.ndarray | None:
    """cv2.imread that copes with non-ASCII paths on every OS (reads the bytes, then decodes)."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError:
        return None
    if data.size == 0:
        return None
    return cv2.imdecode(data, cv2.IMREAD_COLOR)


def frame_files(folder: Path) -> list[Path]:
    """The frame images of a frame folder, in natural order."""
    files = [f for f in folder.iterdir() if f.suffix.lower() in FRAME_EXTENSIONS and f.is_file()]
    return sorted(files, key=lambda f: natural_key(f.name))


def read_frame_folder(path: str | os.PathLike[str], max_frames: int | None = None,
                      transform: FrameTransform | None = None) -> Clip:
    """Read a folder of frame images (e.g. ``000000.jpg`` ...) as one clip; see :func:`read_clip`.

    Unreadable images are dropped and the frames are chosen again from the readable ones.
    """
    p = Path(path)
    if not p.exists():
        raise UnreadableClip(p, "missing folder")
    files = frame_files(p)
    if not files:
        raise UnreadableClip(p, f"no frame images ({', '.join(sorted(FRAME_EXTENSIONS))}) in folder")
    while files:
        n = len(files)
        idx = uniform_indices(n, min(n, max_frames)) if max_frames is not None else np.arange(n)
        kept: list[np.ndarray] = []
        bad: Path | None = None
        for i in idx.tolist():
            bgr = _imread(files[i])
            if bgr is None:
                bad = files[i]
                break
            kept.append(cv2.cvtColor(transform(bgr) if transform else bgr, cv2.COLOR_BGR2RGB))
        if bad is None:
            return Clip(np.stack(kept), idx.astype(np.int64), n, 0.0)
        files.remove(bad)
    raise UnreadableClip(p, "no decodable frame images")
