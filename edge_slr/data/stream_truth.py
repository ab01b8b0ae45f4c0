"""Ground truth of a sign stream (``stream.json``): which sign is where, in frames.

Written by ``edge-slr synth --stream`` (and ``stitch``), read by the live pipeline (``--truth``) and
``bench --pipeline`` to score recognized signs. TensorFlow-free.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_slr.errors import UserError
from edge_slr.utils.atomic import write_json

FRAME_CONVENTION = ("0-based; a sign spans start_frame..end_frame inclusive, from leaving rest to being back at "
                    "rest")


@dataclass(frozen=True)
class TruthSign:
    """One sign of the stream: its label and inclusive frame span."""

    label: str
    class_index: int
    start_frame: int
    end_frame: int


@dataclass(frozen=True)
class StreamTruth:
    """A stream's ground truth: frame rate, length, label set and the signs in order."""

    fps: float
    frames: int
    classes: tuple[str, ...]
    signs: tuple[TruthSign, ...]
    video: str

    def to_json(self) -> dict[str, Any]:
        return {"video": self.video, "fps": self.fps, "frames": self.frames, "classes": list(self.classes),
                "frame_convention": FRAME_CONVENTION,
                "signs": [{"label": s.label, "class_index": s.class_index, "start_frame": s.start_frame,
                           "end_frame": s.end_frame} for s in self.signs]}


def load_stream_truth(path: str | os.PathLike[str]) -> StreamTruth:
    """Read a ``stream.json``; a one-line :class:`UserError` when it is missing or malformed."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"ground truth {path} does not exist; `edge-slr synth --stream` writes one as stream.json")
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
        signs = tuple(TruthSign(str(s["label"]), int(s["class_index"]), int(s["start_frame"]), int(s["end_frame"]))
                      for s in obj["signs"])
        truth = StreamTruth(float(obj["fps"]), int(obj["frames"]), tuple(obj["classes"]), signs,
                            str(obj.get("video", "")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(f"{path} is not a stream ground-truth file ({type(exc).__name__}: {exc}); expected the "
                        "stream.json format of `edge-slr synth --stream`") from None
    if truth.fps <= 0 or any(not 0 <= s.start_frame <= s.end_frame for s in signs):
        raise UserError(f"{path}: fps must be positive and every sign needs 0 <= start_frame <= end_frame")
    return truth


def write_stream_truth(path: str | os.PathLike[str], truth: StreamTruth, **extra: Any) -> None:
    """Write ``truth`` (plus ``extra`` keys such as the signer) atomically as ``stream.json``."""
    write_json(path, {**truth.to_json(), **extra})
