"""The configuration of one training run: built from the CLI, written first to ``config.json``.

No TensorFlow here: the run folder, the exporter and the evaluator read the config without it.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from edge_slr.data.info import DatasetInfo
from edge_slr.errors import UserError, unknown_choice
from edge_slr.models import validate_model_args

STRATEGIES = ("auto", "mirrored", "multiworker")
# Training augmentation presets (see edge_slr.data.pipeline.AugmentConfig for the spatial part):
#   none    - temporal sampling jitter only;
#   default - random resized crop, small rotation, brightness/contrast;
#   color   - default plus per-clip colour scrambling (random channel order, random grayscale), for data
#             whose background or clothing colour is confounded with the class.
AUGMENTS = ("none", "default", "color")
# Which graph of the architecture is trained (the saved models are always the 5d form, same weights):
#   5d   - the Conv3D reference form;
#   4d   - the Conv2D-only edge form fed through a frame fold; same outputs, and on the CPU here it
#          trained 1.5x (cnn_lstm) to 6x (r2plus1d_small) faster than the 5d form;
#   auto - 4d without a GPU, 5d with one (cuDNN has fast Conv3D kernels).
TRAIN_FORMS = ("auto", "5d", "4d")
# Fields that may differ when a run is resumed: they say how to run, not what is trained.
RESUME_FREE_FIELDS = frozenset({"out", "resume", "overwrite", "strategy", "verbose"})


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run. Defaults suit small data on one GPU or a CPU."""

    arch: str
    data: Path  # prepared data folder (dataset.json + shards); stored absolute
    out: Path  # run folder, e.g. runs/NAME
    epochs: int = 30
    batch: int = 8  # global batch size: split across replicas and workers
    lr: float = 1e-3  # peak learning rate, reached at the end of warm-up
    weight_decay: float = 0.05  # AdamW decoupled decay; not applied to biases and normalization parameters
    warmup_epochs: float = 1.0  # linear warm-up from 0, then cosine decay to 0 at the last step
    label_smoothing: float = 0.1
    frames: int = 16
    size: int = 112
    width: float = 1.0
    train_form: str = "auto"  # resolved to 5d or 4d when training starts; config.json holds the resolved form
    augment: str = "default"
    hflip: bool = False  # off by default: mirroring swaps the dominant hand (GUIDE.md)
    train_split: str = "train"
    val_split: str = "val"
    seed: int = 0
    mixed_precision: bool = False
    strategy: str = "auto"
    resume: bool = False
    overwrite: bool = False
    verbose: bool = False  # also show Keras' per-batch progress bar
    # Fine-tuning (see edge_slr.train.finetune): start weights, early stages frozen for a while, slower backbone.
    init: Path | None = None  # a .keras model (import-weights output or an earlier run's); stored absolute
    freeze_stages: int = 0  # the stem and residual stages 1..K are frozen ...
    freeze_epochs: int | None = None  # ... for the first E epochs (None: the whole run)
    backbone_lr_scale: float = 1.0  # learning rate of everything but the head, relative to --lr

    def __post_init__(self) -> None:
        object.__setattr__(self, "data", Path(self.data).expanduser().resolve())
        object.__setattr__(self, "out", Path(self.out).expanduser())
        if self.init is not None:
            object.__setattr__(self, "init", Path(self.init).expanduser().resolve())
        self.validate()

    def validate(self) -> None:
        """Reject impossible values with one line each, before any data or TensorFlow is touched."""
        for name in ("epochs", "batch", "frames", "size"):
            if getattr(self, name) <= 0:
                raise UserError(f"--{name} must be a positive integer, got {getattr(self, name)}")
        if self.lr <= 0:
            raise UserError(f"--lr must be positive, got {self.lr}")
        if self.weight_decay < 0:
            raise UserError(f"--weight-decay must be 0 or more, got {self.weight_decay}")
        if not 0 <= self.warmup_epochs <= self.epochs:
            raise UserError(f"--warmup-epochs must be between 0 and --epochs ({self.epochs}), got {self.warmup_epochs}")
        if not 0 <= self.label_smoothing < 1:
            raise UserError(f"--label-smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.strategy not in STRATEGIES:
            raise unknown_choice("strategy", self.strategy, STRATEGIES)
        if self.train_form not in TRAIN_FORMS:
            raise unknown_choice("training form", self.train_form, TRAIN_FORMS)
        if self.augment not in AUGMENTS:
            raise unknown_choice("augment preset", self.augment, AUGMENTS)
        if self.freeze_stages < 0 or (self.freeze_epochs is not None and self.freeze_epochs < 0):
            raise UserError("--freeze-stages and --freeze-epochs must be 0 or more")
        if self.freeze_epochs is not None and self.freeze_stages == 0:
            raise UserError("--freeze-epochs needs --freeze-stages K (how many stages to freeze)")
        if self.freeze_epochs is not None and self.freeze_epochs > self.epochs:
            raise UserError(f"--freeze-epochs {self.freeze_epochs} is more than --epochs {self.epochs}")
        if self.freeze_stages and self.init is None:
            raise UserError("--freeze-stages keeps pretrained stages fixed: it needs --init MODEL.keras")
        if self.backbone_lr_scale <= 0:
            raise UserError(f"--backbone-lr-scale must be positive, got {self.backbone_lr_scale}")
        if self.init is not None and self.init.suffix != ".keras":
            raise UserError(f"--init takes a .keras model (from `edge-slr import-weights` or a run), got {self.init}")
        if self.resume and self.overwrite:
            raise UserError("--resume continues a run and --overwrite deletes it: use one of them")

    def to_json(self) -> dict[str, Any]:
        """JSON-ready fields (paths as strings)."""
        out = asdict(self)
        out["data"], out["out"] = str(self.data), str(self.out)
        out["init"] = None if self.init is None else str(self.init)
        return out

    def differences(self, saved: dict[str, Any]) -> list[str]:
        """Fields (other than :data:`RESUME_FREE_FIELDS`) whose saved value differs from this config.

        A field missing from ``saved`` (a run from before the field existed) counts as its default.
        """
        mine = self.to_json()
        return [f.name for f in fields(self) if f.name not in RESUME_FREE_FIELDS
                and saved.get(f.name, f.default) != mine[f.name]]

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> TrainConfig:
        """Build the config from ``edge-slr train`` arguments (argparse names are the field names)."""
        values = {f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)}
        if values.get("out") is None:
            values["out"] = Path("runs") / values["arch"]
        return cls(**values)


def check_data(cfg: TrainConfig, info: DatasetInfo) -> None:
    """Both splits exist and hold clips, the batch fits the training split, the model fits the data."""
    for split in (cfg.train_split, cfg.val_split):
        info.shard_paths(split)  # UserError naming the available splits
        if info.splits[split].clips == 0:
            raise UserError(f"split '{split}' of {info.data_dir} has no clips")
    if cfg.strategy == "multiworker" and info.splits[cfg.val_split].clips < cfg.batch:
        raise UserError(f"multi-worker validation runs whole batches only, and --batch {cfg.batch} is larger than "
                        f"the {info.splits[cfg.val_split].clips} validation clips; use a smaller --batch")
    if info.splits[cfg.train_split].clips < cfg.batch:
        raise UserError(f"--batch {cfg.batch} is larger than the {info.splits[cfg.train_split].clips} training "
                        "clips; use a smaller --batch")
    validate_model_args(cfg.arch, info.num_classes, cfg.frames, cfg.size, cfg.width, "5d")
