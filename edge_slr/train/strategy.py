"""Pick the tf.distribute strategy of a run: ``auto``, ``mirrored`` or ``multiworker``.

- ``auto``: MirroredStrategy over every visible GPU when there are two or more; otherwise the default
  strategy (one GPU, or the CPU), which has no all-reduce overhead.
- ``mirrored``: MirroredStrategy on this machine, whatever the GPU count (useful to test it).
- ``multiworker``: MultiWorkerMirroredStrategy, configured by the ``TF_CONFIG`` environment variable
  (same command on every worker, each with its own ``task.index``). Worker 0 (or the ``chief`` task)
  is the chief: only it writes the run folder.

The batch size of a run is global; Keras splits each batch across replicas (and workers).
TensorFlow is imported only when a strategy is made, so ``TF_CONFIG`` is checked before that import.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from edge_slr.errors import UserError, unknown_choice
from edge_slr.train.config import STRATEGIES
from edge_slr.utils.tf_env import import_tf


@dataclass(frozen=True)
class StrategyInfo:
    """The strategy and where this process stands in it."""

    strategy: Any  # tf.distribute.Strategy
    kind: str  # "default", "mirrored" or "multiworker"
    workers: int
    is_chief: bool

    @property
    def replicas(self) -> int:
        return int(self.strategy.num_replicas_in_sync)

    def describe(self) -> str:
        tf, _ = import_tf()
        devices = ", ".join(gpu.name.split("physical_device:")[-1] for gpu in tf.config.list_physical_devices("GPU"))
        where = f"GPU {devices}" if devices else "CPU"
        return f"{self.kind} strategy, {self.replicas} replica(s), {self.workers} worker(s), {where}"


def parse_tf_config(text: str | None) -> dict[str, Any]:
    """Check ``TF_CONFIG`` before TensorFlow reads it, so a typo is one clear line, not a hang or a crash."""
    if not text:
        raise UserError("--strategy multiworker needs the TF_CONFIG environment variable "
                        '(e.g. {"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                        '"task": {"type": "worker", "index": 0}}); see the README')
    try:
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"TF_CONFIG is not valid JSON ({exc})") from exc
    if not isinstance(config, dict):
        raise UserError("TF_CONFIG must be a JSON object with \"cluster\" and \"task\"")
    cluster, task = config.get("cluster"), config.get("task")
    if not isinstance(cluster, dict) or not cluster or not all(isinstance(v, list) and v for v in cluster.values()):
        raise UserError('TF_CONFIG needs "cluster": {"worker": ["host:port", ...]}')
    if not isinstance(task, dict) or task.get("type") not in cluster or not isinstance(task.get("index"), int):
        raise UserError(f'TF_CONFIG needs "task": {{"type": one of {sorted(cluster)}, "index": N}}, got {task}')
    if not 0 <= task["index"] < len(cluster[task["type"]]):
        raise UserError(f"TF_CONFIG task index {task['index']} is outside its cluster list "
                        f"of {len(cluster[task['type']])} {task['type']} address(es)")
    return config


def make_strategy(name: str) -> StrategyInfo:
    """Create the strategy ``name``; call this before building models or datasets."""
    tf, _ = import_tf()
    if name not in STRATEGIES:
        raise unknown_choice("strategy", name, STRATEGIES)
    if name == "multiworker":
        config = parse_tf_config(os.environ.get("TF_CONFIG"))
        task = config["task"]
        is_chief = task["type"] == "chief" or (task["type"] == "worker" and task["index"] == 0
                                                and "chief" not in config["cluster"])
        workers = sum(len(v) for k, v in config["cluster"].items() if k in ("chief", "worker"))
        # RING works everywhere (NCCL only on GPUs); AUTO picks NCCL on GPUs.
        implementation = (tf.distribute.experimental.CommunicationImplementation.AUTO
                          if tf.config.list_physical_devices("GPU")
                          else tf.distribute.experimental.CommunicationImplementation.RING)
        options = tf.distribute.experimental.CommunicationOptions(implementation=implementation)
        strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
        return StrategyInfo(strategy, "multiworker", workers, is_chief)
    gpus = tf.config.list_physical_devices("GPU")
    if name == "mirrored" or len(gpus) > 1:
        return StrategyInfo(tf.distribute.MirroredStrategy(), "mirrored", 1, True)
    return StrategyInfo(tf.distribute.get_strategy(), "default", 1, True)
