"""The run folder contract: which files ``edge-slr train`` writes, and :func:`load_run` to read them.

``runs/NAME/`` holds, in the order they appear:

- ``config.json``  every :class:`~edge_slr.train.config.TrainConfig` field, plus ``num_classes`` and
  ``edge_slr_version``; written before training starts;
- ``labels.txt``   class names in class-index order, one per line (UTF-8);
- ``backup/``      Keras BackupAndRestore state (model, optimizer, epoch) for ``--resume``; deleted by
  Keras when training finishes;
- ``tb/``          TensorBoard logs;
- ``history.csv``  one row per completed epoch;
- ``best.keras``   the model with the best validation top-1 so far (5d form, float32, no optimizer);
- ``last.keras``   the model at the end of the last completed epoch (same form);
- ``curves.png``   loss and accuracy per epoch;
- ``metrics.json`` best validation top-1 and its epoch, wall time, throughput; written when training ends.

Every file is written atomically. No TensorFlow here: the exporter and the evaluator call
:func:`load_run` and load the ``.keras`` file themselves.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_slr import __version__
from edge_slr.errors import UserError
from edge_slr.utils.atomic import write_json, write_text

CONFIG_JSON = "config.json"
LABELS_TXT = "labels.txt"
BEST_MODEL = "best.keras"
LAST_MODEL = "last.keras"
BACKUP_DIR = "backup"
HISTORY_CSV = "history.csv"
TENSORBOARD_DIR = "tb"
CURVES_PNG = "curves.png"
METRICS_JSON = "metrics.json"
_MODEL_KEYS = ("arch", "num_classes", "frames", "size", "width")


@dataclass(frozen=True)
class RunInfo:
    """A run folder as the exporter and the evaluator need it."""

    path: Path  # the run folder
    config: dict[str, Any]  # config.json
    labels: list[str]  # labels.txt, in class-index order
    model_path: Path  # best.keras, or the .keras file that was asked for

    @property
    def arch(self) -> str:
        return self.config["arch"]

    @property
    def num_classes(self) -> int:
        return int(self.config["num_classes"])

    @property
    def frames(self) -> int:
        return int(self.config["frames"])

    @property
    def size(self) -> int:
        return int(self.config["size"])

    @property
    def width(self) -> float:
        return float(self.config["width"])


def write_run_header(folder: Path, config: dict[str, Any], labels: list[str] | tuple[str, ...]) -> None:
    """Write ``config.json`` (with ``edge_slr_version``) and ``labels.txt``: the first files of a run."""
    if any("\n" in name or "\r" in name for name in labels):
        raise UserError("a class name contains a line break; labels.txt holds one name per line")
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / CONFIG_JSON, {**config, "edge_slr_version": __version__})
    write_text(folder / LABELS_TXT, "".join(f"{name}\n" for name in labels))


def read_config(folder: Path) -> dict[str, Any]:
    """``config.json`` of a run folder; a :class:`UserError` when missing or unreadable."""
    path = folder / CONFIG_JSON
    if not path.is_file():
        raise UserError(f"{folder} is not a run folder: it has no {CONFIG_JSON} (train one with `edge-slr train`)")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path} is not valid JSON ({exc}); the run folder is damaged") from exc
    missing = [k for k in _MODEL_KEYS if k not in config]
    if missing:
        raise UserError(f"{path} lacks {', '.join(missing)}; it was not written by `edge-slr train`")
    return config


def read_labels(folder: Path) -> list[str]:
    """``labels.txt`` of a run folder, one class name per line."""
    path = folder / LABELS_TXT
    if not path.is_file():
        raise UserError(f"{folder} has no {LABELS_TXT}; the run folder is incomplete")
    return path.read_text(encoding="utf-8").splitlines()


def load_run(path: str | Path) -> RunInfo:
    """Read a run folder, given the folder itself or a ``.keras`` file inside it."""
    path = Path(path).expanduser().resolve()
    if not path.exists():
        raise UserError(f"{path} does not exist; give a run folder (runs/NAME) or a .keras file inside one")
    if path.is_file():
        if path.suffix != ".keras":
            raise UserError(f"{path} is not a run folder or a .keras file")
        folder, model_path = path.parent, path
    else:
        folder, model_path = path, path / BEST_MODEL
    config, labels = read_config(folder), read_labels(folder)
    if len(labels) != int(config["num_classes"]):
        raise UserError(f"{folder / LABELS_TXT} has {len(labels)} names but {CONFIG_JSON} says "
                        f"num_classes={config['num_classes']}; the run folder is damaged")
    if not model_path.is_file():
        raise UserError(f"{folder} has no {BEST_MODEL} yet: no epoch has finished; "
                        "resume the training with `edge-slr train ... --resume`")
    return RunInfo(folder, config, labels, model_path)


def existing_run_error(folder: Path) -> UserError:
    """The refusal for a new run pointed at a folder that already holds one."""
    return UserError(f"{folder} already holds a run; add --resume to continue it, --overwrite to start it "
                     "again, or choose another --out")


def claim_run_folder(folder: Path, differences: list[str], resume: bool, overwrite: bool) -> bool:
    """Decide what an existing ``folder`` means for a new run; return True when the run resumes.

    An empty or missing folder starts a new run. A folder with a run in it is resumed with
    ``resume`` (only if ``differences``, the changed config fields, is empty), deleted and
    restarted with ``overwrite``, and refused otherwise, so a repeated command never silently
    destroys or mixes runs.
    """
    if not folder.exists() or not any(folder.iterdir()):
        return False
    has_run = (folder / CONFIG_JSON).is_file()
    if overwrite:
        if not has_run:
            raise UserError(f"{folder} is not empty and is not a run folder; refusing to delete it, "
                            "choose another --out")
        shutil.rmtree(folder)
        return False
    if not has_run:
        raise UserError(f"{folder} is not empty and is not a run folder; choose another --out")
    if not resume:
        raise existing_run_error(folder)
    if differences:
        raise UserError(f"cannot resume {folder}: its config.json differs in {', '.join(differences)}; "
                        "repeat the original command with --resume, or choose another --out")
    return True
