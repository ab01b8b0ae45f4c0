"""``edge-slr evaluate MODEL --data DIR``: top-1, top-5, per-class accuracy and a confusion matrix.

``MODEL`` is a run folder (its ``best.keras``), a ``.keras`` file inside a run folder, or a ``.tflite``
file written by ``export-tflite``. Each kind is wrapped in a predictor with one interface
(labels, frames, size, ``predict(clips) -> scores``), so a Keras model and its TFLite exports give
reports of the same form and their accuracy can be compared directly.

Clips come from the deterministic evaluation pipeline (centre frames of equal segments, centre
crop), in a fixed order. Outputs, next to the model unless ``--out`` is given:
``eval-<model>-<split>.json`` and ``eval-<model>-<split>-confusion.png``.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from edge_slr import __version__
from edge_slr.data.info import LEGACY_CROP, load_dataset_info
from edge_slr.data.pipeline import make_dataset
from edge_slr.errors import UserError
from edge_slr.hands.crops import CropSpec, model_crop
from edge_slr.train.run_folder import load_run
from edge_slr.utils.atomic import atomic_path, write_json

_TOP_K = 5


class Predictor(Protocol):
    """A model that scores whole clips: float32 RGB in [0, 255], (B, frames, size, size, 3) -> (B, classes)."""

    path: Path
    kind: str
    labels: list[str]
    frames: int
    size: int
    crop: CropSpec  # the crop the model expects on raw frames (its card's input.crop)

    def predict(self, clips: np.ndarray) -> np.ndarray: ...


class KerasPredictor:
    """A ``.keras`` model of a run folder (5d form: one call per batch)."""

    kind = "keras"

    def __init__(self, path: str | Path) -> None:
        from edge_slr.models.io import load_keras_model

        run = load_run(path)
        self.path, self.labels, self.frames, self.size = run.model_path, run.labels, run.frames, run.size
        self.data: Path | None = Path(run.config["data"])
        self.crop = model_crop(run.config.get("crop") or LEGACY_CROP)
        self._model = load_keras_model(run.model_path)

    def predict(self, clips: np.ndarray) -> np.ndarray:
        return np.asarray(self._model(clips, training=False), dtype=np.float32)


class TFLitePredictor:
    """A ``.tflite`` export, run clip by clip by the runtime's own :class:`ClipClassifier` (what a device runs).

    Labels, frames and size come from the model card that ``export-tflite`` embeds.
    """

    kind = "tflite"

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        from edge_slr.runtime.clip_classifier import ClipClassifier

        self.path = Path(path).expanduser().resolve()
        self._classifier = ClipClassifier(self.path, num_threads=threads)
        card = self._classifier.card
        self.labels, self.frames, self.size = list(card.labels), card.frames, card.size
        self.crop = CropSpec.from_card(card.raw["input"].get("crop"))
        self.data: Path | None = None  # a device file does not record training data: --data is needed

    def predict(self, clips: np.ndarray) -> np.ndarray:
        return np.stack([np.asarray(self._classifier.predict(clip), dtype=np.float32) for clip in clips])

    def close(self) -> None:
        self._classifier.close()


def open_predictor(path: str | Path, threads: int | None = None) -> KerasPredictor | TFLitePredictor:
    """The predictor for a run folder, a ``.keras`` file or a ``.tflite`` file."""
    p = Path(path).expanduser()
    return TFLitePredictor(p, threads) if p.suffix == ".tflite" else KerasPredictor(p)


@dataclass(frozen=True)
class EvalConfig:
    """Arguments of ``edge-slr evaluate``."""

    model: Path
    data: Path | None = None  # default: the data folder the run was trained on
    split: str = "val"
    batch: int = 8
    out: Path | None = None  # report folder; default: the model's folder
    threads: int | None = None  # TFLite interpreter threads (default: every core)

    def __post_init__(self) -> None:
        if self.batch <= 0:
            raise UserError(f"--batch must be a positive integer, got {self.batch}")
        if self.threads is not None and self.threads <= 0:
            raise UserError(f"--threads must be a positive integer, got {self.threads}")


@dataclass(frozen=True)
class EvalReport:
    """The result of one evaluation (``to_json`` is the report file)."""

    model: Path
    kind: str
    data: Path
    split: str
    labels: list[str]
    confusion: np.ndarray  # (classes, classes) counts, rows = true class, columns = predicted
    top1: float
    top5: float | None  # None with 5 classes or fewer (it would always be 1)
    seconds: float
    frames: int
    size: int

    @property
    def clips(self) -> int:
        return int(self.confusion.sum())

    def per_class(self) -> list[dict[str, Any]]:
        totals, correct = self.confusion.sum(axis=1), np.diag(self.confusion)
        return [{"label": name, "clips": int(n), "correct": int(c), "accuracy": (float(c / n) if n else None)}
                for name, n, c in zip(self.labels, totals, correct, strict=True)]

    @property
    def mean_class_accuracy(self) -> float:
        values = [r["accuracy"] for r in self.per_class() if r["accuracy"] is not None]
        return float(np.mean(values)) if values else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "model": str(self.model), "format": self.kind, "data": str(self.data), "split": self.split,
            "clips": self.clips, "input": {"frames": self.frames, "size": self.size},
            "top1": self.top1, "top5": self.top5, "mean_class_accuracy": self.mean_class_accuracy,
            "per_class": self.per_class(), "labels": self.labels, "confusion": self.confusion.tolist(),
            "seconds": round(self.seconds, 3), "clips_per_s": round(self.clips / max(self.seconds, 1e-9), 3),
            "edge_slr_version": __version__,
        }


def _close(a: CropSpec, b: CropSpec) -> bool:
    return a.kind == b.kind and abs(a.fraction - b.fraction) < 1e-6 and abs(a.fallback - b.fallback) < 1e-6


def _describe(crop: CropSpec) -> str:
    return f"{crop.kind} {crop.fraction:g}"


def score(predictor: Predictor, data: Path, split: str, batch: int) -> EvalReport:
    """Run ``predictor`` over every clip of ``split`` and count top-1/top-5 hits and the confusion matrix."""
    info = load_dataset_info(data)
    if list(info.classes) != list(predictor.labels):
        raise UserError(f"the model's {len(predictor.labels)} labels differ from the {info.num_classes} classes of "
                        f"{info.data_dir} (names or order); evaluate on the data it was trained for")
    data_crop = model_crop(info.crop)
    if predictor.crop.to_card() != data_crop.to_card() and not _close(predictor.crop, data_crop):
        raise UserError(f"the model expects the {_describe(predictor.crop)} crop but {info.data_dir} was prepared "
                        f"with the {_describe(data_crop)} crop; prepare the data with the model's --crop")
    classes = len(predictor.labels)
    confusion = np.zeros((classes, classes), dtype=np.int64)
    top5_hits = 0
    start = time.perf_counter()
    dataset = make_dataset(info, split, frames=predictor.frames, size=predictor.size, batch=batch, training=False)
    for clips, labels in dataset.as_numpy_iterator():
        scores = predictor.predict(clips)
        np.add.at(confusion, (labels, scores.argmax(axis=1)), 1)
        top = np.argsort(-scores, axis=1, kind="stable")[:, :_TOP_K]
        top5_hits += int((top == labels[:, None]).any(axis=1).sum())
    seconds = time.perf_counter() - start
    total = int(confusion.sum())
    return EvalReport(predictor.path, predictor.kind, info.data_dir, split, list(predictor.labels), confusion,
                      float(np.trace(confusion) / total), float(top5_hits / total) if classes > _TOP_K else None,
                      seconds, predictor.frames, predictor.size)


def plot_confusion(report: EvalReport, path: Path) -> None:
    """Row-normalized confusion matrix with class names on both axes, written atomically as a PNG."""
    from matplotlib.figure import Figure  # no pyplot: no global figure state, no GUI backend

    n = len(report.labels)
    totals = report.confusion.sum(axis=1, keepdims=True)
    rates = np.divide(report.confusion, totals, out=np.zeros(report.confusion.shape), where=totals > 0)
    side = min(max(4.0, 0.45 * n + 2.5), 40.0)
    fig = Figure(figsize=(side + 1.0, side), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(rates, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, label="share of the true class")
    ax.set_xticks(range(n), report.labels, rotation=90)
    ax.set_yticks(range(n), report.labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if n <= 30:
        for i in range(n):
            for j in range(n):
                if report.confusion[i, j]:
                    ax.text(j, i, str(report.confusion[i, j]), ha="center", va="center", fontsize=8,
                            color="white" if rates[i, j] > 0.5 else "black")
    top5 = f", top-5 {report.top5:.3f}" if report.top5 is not None else ""
    ax.set_title(f"{report.model.name} on {report.split} ({report.clips} clips): top-1 {report.top1:.3f}{top5}")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100)


def format_table(report: EvalReport) -> str:
    """The printed report: one row per class, then the totals."""
    rows = report.per_class()
    width = max(len("class"), *(len(r["label"]) for r in rows))
    lines = [f"{'class':<{width}}  {'clips':>5}  {'correct':>7}  {'accuracy':>8}", "-" * (width + 26)]
    for r in rows:
        acc = f"{r['accuracy']:.3f}" if r["accuracy"] is not None else "-"
        lines.append(f"{r['label']:<{width}}  {r['clips']:>5}  {r['correct']:>7}  {acc:>8}")
    lines.append("-" * (width + 26))
    top5 = f"  top-5 {report.top5:.4f}" if report.top5 is not None else ""
    lines.append(f"{report.kind} {report.model} on {report.split} of {report.data}: {report.clips} clips  "
                 f"top-1 {report.top1:.4f}{top5}  mean class accuracy {report.mean_class_accuracy:.4f}  "
                 f"({report.clips / max(report.seconds, 1e-9):.1f} clips/s)")
    return "\n".join(lines)


def report_paths(report: EvalReport, out: Path | None) -> tuple[Path, Path]:
    """(JSON report, confusion PNG) paths for ``report``."""
    folder = out if out is not None else report.model.parent
    stem = f"eval-{report.model.stem}-{report.split}"
    return folder / f"{stem}.json", folder / f"{stem}-confusion.png"


def evaluate(cfg: EvalConfig) -> tuple[EvalReport, Path, Path]:
    """Evaluate ``cfg.model`` and write its report files; returns the report and the two paths."""
    predictor = open_predictor(cfg.model, cfg.threads)
    data = cfg.data if cfg.data is not None else predictor.data
    if data is None:
        raise UserError(f"{cfg.model} does not say which data it was trained on; pass --data DIR")
    try:
        report = score(predictor, Path(data), cfg.split, cfg.batch)
    finally:
        if isinstance(predictor, TFLitePredictor):
            predictor.close()
    json_path, png_path = report_paths(report, cfg.out)
    write_json(json_path, report.to_json())
    plot_confusion(report, png_path)
    return report, json_path, png_path


def evaluate_cmd(args: argparse.Namespace) -> int:
    """CLI target of ``edge-slr evaluate``."""
    cfg = EvalConfig(model=Path(args.model), data=Path(args.data) if args.data else None, split=args.split,
                     batch=args.batch, out=Path(args.out) if args.out else None, threads=args.threads)
    report, json_path, png_path = evaluate(cfg)
    if args.json:
        print(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
    else:
        print(format_table(report))
        print(f"report: {json_path}\nconfusion matrix: {png_path}")
    return 0
