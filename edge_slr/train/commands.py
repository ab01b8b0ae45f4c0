"""CLI target of ``edge-slr train``: the checks that need no TensorFlow come first.

Importing TensorFlow takes 10-20 s on a small machine; a typo in ``--data`` or a run folder that is
already taken should fail at once, with one line, before that.
"""

from __future__ import annotations

import argparse
import os

from edge_slr.data.info import load_dataset_info
from edge_slr.errors import UserError
from edge_slr.train.config import TrainConfig, check_data
from edge_slr.train.run_folder import CONFIG_JSON, existing_run_error
from edge_slr.train.strategy import parse_tf_config


def train_cmd(args: argparse.Namespace) -> int:
    """Check the arguments, the data and the run folder, then train."""
    cfg = TrainConfig.from_args(args)
    check_data(cfg, load_dataset_info(cfg.data))
    if cfg.init is not None and not cfg.init.is_file():
        raise UserError(f"--init {cfg.init} does not exist; give a .keras model from `edge-slr import-weights` "
                        "or a run's best.keras")
    if cfg.strategy == "multiworker":
        parse_tf_config(os.environ.get("TF_CONFIG"))
    # Multi-worker runs share --out: only the chief decides about the folder, after the strategy exists.
    if cfg.strategy != "multiworker" and not (cfg.resume or cfg.overwrite) and (cfg.out / CONFIG_JSON).is_file():
        raise existing_run_error(cfg.out.resolve())
    from edge_slr.train.trainer import train

    train(cfg)
    return 0
