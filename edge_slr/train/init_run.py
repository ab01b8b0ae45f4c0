"""A run folder holding a freshly initialised model, in the layout ``edge-slr train`` writes.

Exports and benchmarks of an architecture's *graph* (op coverage, delegation, latency) do not
depend on trained weights; this lets them run on any architecture without a training run.
"""

from __future__ import annotations

from pathlib import Path

from edge_slr.data.info import load_dataset_info
from edge_slr.models import create_model, get_model_info
from edge_slr.train.run_folder import BEST_MODEL, write_run_header
from edge_slr.utils.tf_env import import_tf


def init_run(folder: Path, arch: str, data: Path, frames: int = 8, size: int = 48, width: float = 0.25,
             seed: int = 0) -> Path:
    """Write ``config.json``, ``labels.txt`` and an untrained ``best.keras`` for ``arch`` on ``data``'s classes.

    ``frames`` and ``size`` are raised to the architecture's minimum when smaller.
    """
    tf, _ = import_tf()
    tf.random.set_seed(seed)
    info = load_dataset_info(data)
    frames = max(frames, get_model_info(arch).min_frames)
    size = max(size, get_model_info(arch).min_size)
    model = create_model(arch, info.num_classes, frames=frames, size=size, width=width)
    write_run_header(folder, {"arch": arch, "num_classes": info.num_classes, "frames": frames, "size": size,
                              "width": width, "data": str(Path(data).resolve())}, info.classes)
    model.save(folder / BEST_MODEL)
    return folder
