"""CLI target of ``edge-slr train``: the checks that need no TensorFlow come first.

Importing TensorFlow takes 10-20 s on a small machine; a typo in ``--data`` or a run folder that is
already taken should fail at once, with one line, before that.
"""

from __future__ import annotations

import argparse
import os

from edge_slr.data.info import DatasetInfo, load_dataset_info
from edge_slr.errors import UserError
from edge_slr.models import validate_model_args
from edge_slr.train.config import TrainConfig
from edge_slr.train.run_folder import CONFIG_JSON, existing_run_error
from edge_slr.train.strategy import parse_tf_config


def check_data(cfg: TrainConfig, info: DatasetInfo) -> None:
    """Both splits exist and hold clips, the batch fits the training split, the model fits the data."""
    for split in (cfg.train_split, cfg.val_split):
        info.shard_paths(split)  # UserError naming the available splits
        if info.splits[split].clips == 0:
            raise UserError(f"split '{split}' of {info.data_dir} has no clips")
    if info.splits[cfg.train_split].clips < cfg.batch:
        raise UserError(f"--batch {cfg.batch} is larger than the {info.splits[cfg.train_split].clips} training "
                        "clips; use a smaller --batch")
    validate_model_args(cfg.arch, info.num_classes, cfg.frames, cfg.size, cfg.width, "5d")


def train_cmd(args: argparse.Namespace) -> int:
    """Check the arguments, the data and the run folder, then train."""
    cfg = TrainConfig.from_args(args)
    check_data(cfg, load_dataset_info(cfg.data))
    if cfg.strategy == "multiworker":
        parse_tf_config(os.environ.get("TF_CONFIG"))
    # Multi-worker runs share --out: only the chief decides about the folder, after the strategy exists.
    if cfg.strategy != "multiworker" and not (cfg.resume or cfg.overwrite) and (cfg.out / CONFIG_JSON).is_file():
        raise existing_run_error(cfg.out.resolve())
    from edge_slr.train.trainer import train

    train(cfg)
    return 0
