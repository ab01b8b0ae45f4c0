"""Per-epoch outputs of a run: timing and throughput, history.csv, best/last models, curves, one printed line.

Callbacks, run in this order before Keras' BackupAndRestore saves its state:

- :class:`EpochTimer` adds ``lr``, ``clips_per_s`` (training clips over training time, validation
  excluded) and ``seconds`` (the whole epoch) to the epoch's logs;
- :class:`RunRecorder` writes everything a completed epoch produces, each file atomically;
- :class:`TensorBoardScalars` logs the same numbers for TensorBoard.

Writing our files *before* the backup means a kill can only leave the run folder one epoch ahead
of the backup, never behind it; on resume :class:`RunRecorder` drops history rows of epochs that
will be trained again, so ``history.csv`` never holds a duplicated or a missing epoch.
"""

from __future__ import annotations

import csv
import io
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from edge_slr.train.run_folder import BEST_MODEL, CURVES_PNG, HISTORY_CSV, LAST_MODEL
from edge_slr.utils.atomic import atomic_path, write_text
from edge_slr.utils.tf_env import import_tf

tf, keras = import_tf()


def _rank(row: dict[str, float]) -> tuple[float, float]:
    """How good an epoch is: validation top-1 first; among ties, the lower validation loss wins."""
    return row.get("val_top1", -math.inf), -row.get("val_loss", math.inf)


class EpochTimer(keras.callbacks.Callback):
    """Adds ``lr``, ``clips_per_s`` and ``seconds`` to each epoch's logs."""

    def __init__(self, clips_per_epoch: int, lr_at: Callable[[int], float]) -> None:
        super().__init__()
        self.clips_per_epoch = clips_per_epoch
        self.lr_at = lr_at  # learning rate of a 0-based optimizer step
        self._start = 0.0
        self._train_end = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._start = time.perf_counter()
        self._train_end = 0.0

    def on_test_begin(self, logs: dict[str, Any] | None = None) -> None:
        if not self._train_end:  # fit's validation starts: training of this epoch is done
            self._train_end = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is None:
            return
        end = time.perf_counter()
        train_seconds = (self._train_end or end) - self._start
        logs["lr"] = float(self.lr_at(max(int(self.model.optimizer.iterations.numpy()) - 1, 0)))
        logs["clips_per_s"] = self.clips_per_epoch / max(train_seconds, 1e-9)
        logs["seconds"] = end - self._start


class TensorBoardScalars(keras.callbacks.Callback):
    """Per-epoch scalars for TensorBoard (``tb/train`` and ``tb/validation``, tags ``epoch_<metric>``).

    Keras' own TensorBoard callback needs the ``tensorboard`` package just to *write* logs;
    ``tf.summary.write`` with the scalars plugin's metadata writes the same event files with
    TensorFlow alone. Viewing them needs ``pip install tensorboard``.
    """

    def __init__(self, log_dir: Path) -> None:
        super().__init__()
        self.log_dir = log_dir
        self._writers: dict[str, Any] = {}
        self._metadata = tf.compat.v1.SummaryMetadata(
            plugin_data=tf.compat.v1.SummaryMetadata.PluginData(plugin_name="scalars"))

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        for key, value in (logs or {}).items():
            part, name = ("validation", key[4:]) if key.startswith("val_") else ("train", key)
            if part not in self._writers:
                self._writers[part] = tf.summary.create_file_writer(str(self.log_dir / part))
            with self._writers[part].as_default():
                tf.summary.write(f"epoch_{name}", tf.constant(float(value), tf.float32), step=epoch,
                                 metadata=self._metadata)
        for writer in self._writers.values():
            writer.flush()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()


def read_history(path: Path) -> list[dict[str, float]]:
    """Rows of ``history.csv`` as numbers (``epoch`` is the 1-based count of completed epochs)."""
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as f:
        return [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(f)]


def plot_curves(rows: Sequence[dict[str, float]], path: Path, title: str) -> None:
    """Loss and accuracy per epoch, train and validation, written atomically as a PNG."""
    from matplotlib.figure import Figure  # no pyplot: no global figure state, no GUI backend
    from matplotlib.ticker import MaxNLocator

    epochs = [int(r["epoch"]) for r in rows]
    fig = Figure(figsize=(10, 4), layout="constrained")
    loss_ax, acc_ax = fig.subplots(1, 2)
    for ax, keys, ylabel in ((loss_ax, ("loss", "val_loss"), "loss"),
                             (acc_ax, ("top1", "val_top1", "top5", "val_top5"), "accuracy")):
        for key in keys:
            values = [r.get(key, math.nan) for r in rows]
            if any(not math.isnan(v) for v in values):
                ax.plot(epochs, values, marker="o", markersize=3, label=key,
                        linestyle="--" if key.startswith("val_") else "-")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend()
    acc_ax.set_ylim(0, 1.02)
    fig.suptitle(title)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100)


def _format_line(row: dict[str, float], epochs: int, improved: bool) -> str:
    parts = [f"epoch {int(row['epoch'])}/{epochs}"]
    for key in ("loss", "top1", "val_loss", "val_top1", "val_top5"):
        if key in row:
            parts.append(f"{key} {row[key]:.4f}")
    parts.append(f"lr {row['lr']:.2e}")
    parts.append(f"{row['clips_per_s']:.1f} clips/s")
    parts.append(f"{row['seconds']:.1f} s")
    return "  ".join(parts) + ("  *best" if improved else "")


class RunRecorder(keras.callbacks.Callback):
    """Records each completed epoch in the run folder: history.csv, last/best .keras, curves.png, a printed line.

    ``twin`` is an uncompiled float32 copy of the architecture (built outside any distribution
    strategy): the trained weights are copied into it before saving, so the saved models carry no
    optimizer state, no mixed-precision policy and no distribution wrappers, and load anywhere with
    ``import edge_slr.models``.
    """

    def __init__(self, folder: Path, twin: Any, columns: Sequence[str], epochs: int, title: str,
                 echo: Callable[[str], None] | None = print) -> None:
        super().__init__()
        self.folder = folder
        self.twin = twin
        self.columns = ["epoch", *columns]
        self.epochs = epochs
        self.title = title
        self.echo = echo
        self.rows: list[dict[str, float]] = []
        self.best: tuple[float, float] = (-math.inf, -math.inf)  # see _rank
        self.best_epoch = 0
        self._started = False

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self._started:
            return
        # The first epoch of this session tells where BackupAndRestore resumed: keep only earlier rows.
        self._started = True
        recorded = read_history(self.folder / HISTORY_CSV)
        # best.keras is saved before its history row, so the best over every recorded row, including
        # an epoch that is trained again now, is the model that best.keras holds.
        for row in recorded:
            if _rank(row) > self.best:
                self.best, self.best_epoch = _rank(row), int(row["epoch"])
        self.rows = [r for r in recorded if r["epoch"] <= epoch]
        if [int(r["epoch"]) for r in self.rows] != list(range(1, epoch + 1)):
            raise RuntimeError(f"{self.folder / HISTORY_CSV} does not hold epochs 1..{epoch} that the backup "
                               "restored; the run folder was edited, start a new run")
        self._write_history()
        if epoch and self.echo:
            self.echo(f"resumed after epoch {epoch} (restored from the backup; best val top-1 so far "
                      f"{self.best[0]:.4f} at epoch {self.best_epoch})")

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        row = {"epoch": float(epoch + 1), **{k: float(logs[k]) for k in self.columns[1:] if k in logs}}
        self.rows.append(row)
        self.twin.set_weights(self.model.get_weights())
        self._save(LAST_MODEL)
        improved = _rank(row) > self.best
        if improved:
            self.best, self.best_epoch = _rank(row), epoch + 1
            self._save(BEST_MODEL)
        self._write_history()
        plot_curves(self.rows, self.folder / CURVES_PNG, self.title)
        if self.echo:
            self.echo(_format_line(row, self.epochs, improved))

    def _save(self, name: str) -> None:
        with atomic_path(self.folder / name) as tmp:
            self.twin.save(tmp)

    def _write_history(self) -> None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=self.columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in self.rows:
            writer.writerow({k: (int(v) if k == "epoch" else f"{v:.6g}") for k, v in row.items()})
        write_text(self.folder / HISTORY_CSV, buffer.getvalue())
