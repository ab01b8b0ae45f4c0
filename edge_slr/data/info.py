"""``dataset.json``: what ``prepare`` produced (classes, splits, clip spec, source, skipped files).

The one place that writes and reads this file. No TensorFlow, so tools that only need the class
list or the counts stay light.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edge_slr.errors import UserError, unknown_choice

DATASET_JSON = "dataset.json"
# What every dataset prepared before crops were recorded stored: the full centre square of each frame.
LEGACY_CROP: dict[str, Any] = {"square": "centre", "fraction_of_short_side": 1.0}
FORMAT = "edge-slr-clips"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class SplitInfo:
    """One split: its clip count, shard files (relative to the data folder) and clips per class."""

    clips: int
    shards: tuple[str, ...]
    per_class: dict[str, int]


@dataclass(frozen=True)
class SkippedClip:
    """A source clip that was not prepared, and why."""

    path: str
    reason: str


@dataclass(frozen=True)
class ClipSpec:
    """How clips are stored: up to ``stored_frames`` JPEG frames of ``size`` x ``size`` (centre square)."""

    stored_frames: int
    size: int
    min_frames: int
    jpeg_quality: int


@dataclass(frozen=True)
class DatasetInfo:
    """The parsed ``dataset.json`` of a prepared data folder."""

    data_dir: Path
    classes: tuple[str, ...]
    splits: dict[str, SplitInfo]
    clip_spec: ClipSpec
    source: str
    layout: str
    split: dict[str, Any]  # how the split was made: mode, val_fraction, seed, signers
    skipped: tuple[SkippedClip, ...] = field(default=())
    # How each stored frame was cut from its source frame (edge_slr.hands.CropSpec.to_card form); training's
    # evaluation then keeps the central EVAL_CROP_FRACTION of it, and the model card says the product.
    crop: dict[str, Any] = field(default_factory=lambda: dict(LEGACY_CROP))
    hands: dict[str, Any] | None = None  # hand-crop statistics of prepare: clips with a hand, jitter, time

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def shard_paths(self, split: str) -> list[Path]:
        """Absolute shard paths of ``split``; a :class:`UserError` naming the available splits otherwise."""
        if split not in self.splits:
            raise unknown_choice(f"split of {self.data_dir}", split, self.splits)
        return [self.data_dir / s for s in self.splits[split].shards]

    def to_json(self) -> dict[str, Any]:
        """The JSON object written to ``dataset.json``."""
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "classes": list(self.classes),
            "splits": {k: {"clips": v.clips, "shards": list(v.shards), "per_class": v.per_class}
                       for k, v in self.splits.items()},
            "clip_spec": asdict(self.clip_spec),
            "source": {"path": self.source, "layout": self.layout},
            "split": self.split,
            "skipped": [asdict(s) for s in self.skipped],
            "crop": self.crop,
            **({"hands": self.hands} if self.hands is not None else {}),
        }


def load_dataset_info(data_dir: str | Path) -> DatasetInfo:
    """Read ``data_dir/dataset.json`` written by ``edge-slr prepare``."""
    data_dir = Path(data_dir).expanduser().resolve()
    path = data_dir / DATASET_JSON
    if not path.is_file():
        raise UserError(f"no {DATASET_JSON} in {data_dir}; run `edge-slr prepare SRC {data_dir}` first")
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UserError(f"{path} is not valid JSON ({exc}); re-run `edge-slr prepare`") from exc
    if obj.get("format") != FORMAT or obj.get("version") != FORMAT_VERSION:
        raise UserError(f"{path} is not an {FORMAT} v{FORMAT_VERSION} file; re-run `edge-slr prepare`")
    return DatasetInfo(
        data_dir=data_dir,
        classes=tuple(obj["classes"]),
        splits={k: SplitInfo(v["clips"], tuple(v["shards"]), dict(v["per_class"]))
                for k, v in obj["splits"].items()},
        clip_spec=ClipSpec(**obj["clip_spec"]),
        source=obj["source"]["path"],
        layout=obj["source"]["layout"],
        split=obj["split"],
        skipped=tuple(SkippedClip(**s) for s in obj["skipped"]),
        crop=dict(obj.get("crop") or LEGACY_CROP),
        hands=obj.get("hands"),
    )
