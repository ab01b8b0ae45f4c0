"""Load a trained model and rebuild it in the 4-D edge form with the same weights."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_slr.errors import UserError


@dataclass
class LoadedModel:
    """A trained model, its edge twin and everything the exporter needs to describe them."""

    arch: str
    num_classes: int
    frames: int
    size: int
    width: float
    labels: list[str]
    reference: Any  # the trained 5d Keras model
    edge: Any  # the 4d Keras model with the same weights
    run_dir: Path
    model_path: Path
    config: dict[str, Any]

    @property
    def family(self) -> str:
        from edge_slr.models import get_model_info

        return get_model_info(self.arch).family


def load_trained(source: str | Path) -> LoadedModel:
    """Load ``source`` (a run folder or a ``.keras`` file inside one) and build its 4-D edge form."""
    from edge_slr.models import create_model
    from edge_slr.models.io import load_keras_model
    from edge_slr.train.run_folder import load_run

    run = load_run(source)
    cfg = run.config
    try:
        arch, classes, frames, size = cfg["arch"], int(cfg["num_classes"]), int(cfg["frames"]), int(cfg["size"])
        width = float(cfg.get("width", 1.0))
    except KeyError as exc:
        raise UserError(f"{run.path / 'config.json'} lacks {exc}; it was not written by `edge-slr train`") from None
    reference = load_keras_model(run.model_path)
    edge = create_model(arch, classes, frames=frames, size=size, width=width, form="4d")
    ref_weights = reference.get_weights()
    if [w.shape for w in ref_weights] != [w.shape for w in edge.get_weights()]:
        raise UserError(f"{run.model_path} does not match {arch} (classes={classes}, width={width:g}) from "
                        "config.json; was the model file replaced?")
    edge.set_weights(ref_weights)
    return LoadedModel(arch, classes, frames, size, width, list(run.labels), reference, edge, run.path,
                       run.model_path, cfg)
