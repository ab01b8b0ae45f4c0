"""``edge-slr train``: fit a registered architecture on prepared data and fill a run folder.

Order of work: check the config and the data (no TensorFlow work yet) -> create the distribution
strategy (MultiWorkerMirroredStrategy must exist before other TensorFlow state) -> claim the run
folder and write ``config.json`` + ``labels.txt`` -> build datasets and the model -> ``fit`` with
BackupAndRestore -> ``metrics.json``.

Optimization: AdamW (no decay on biases and normalization parameters), linear warm-up then cosine
decay, cross-entropy with label smoothing on one-hot labels; metrics top-1 and (over 5 classes)
top-5. Training steps per epoch are fixed (``train clips // batch``, over a repeated dataset), so
the schedule and the epoch count are the same whatever the replica count.
"""

from __future__ import annotations

import itertools
import json
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from edge_slr.data.info import DatasetInfo, load_dataset_info
from edge_slr.data.pipeline import AugmentConfig, make_dataset
from edge_slr.models import create_model
from edge_slr.models.registry import LOGITS_LAYER
from edge_slr.train.callbacks import EpochTimer, RunRecorder, TensorBoardScalars, read_history
from edge_slr.train.config import TrainConfig, check_data
from edge_slr.train.finetune import (
    BackboneScaledAdamW,
    StageFreezer,
    frozen_layers,
    load_init,
    weighted_layers,
)
from edge_slr.train.run_folder import (
    BACKUP_DIR,
    CONFIG_JSON,
    HISTORY_CSV,
    METRICS_JSON,
    TENSORBOARD_DIR,
    claim_run_folder,
    write_run_header,
)
from edge_slr.train.schedule import WarmupCosine
from edge_slr.train.strategy import StrategyInfo, make_strategy
from edge_slr.utils.atomic import write_json
from edge_slr.utils.tf_env import import_tf

tf, keras = import_tf()

# Preset name -> spatial augmentation of the data pipeline (see TrainConfig.augment).
_SPATIAL = {
    "none": AugmentConfig(crop_scale=(1.0, 1.0), max_rotation_deg=0.0, brightness=0.0, contrast=0.0),
    "default": AugmentConfig(),
    "color": AugmentConfig(),
}
GRAYSCALE_PROBABILITY = 0.25  # "color" preset: share of clips turned to gray (after the channel shuffle)
_CHANNEL_ORDERS = tuple(itertools.permutations(range(3)))


@dataclass(frozen=True)
class TrainResult:
    """What a finished run reports (also written to ``metrics.json``)."""

    folder: Path
    best_val_top1: float
    best_epoch: int
    epochs: int
    train_seconds: float  # sum of epoch times over all sessions of the run
    clips_per_s: float  # median training throughput of the run's epochs

    def to_json(self) -> dict[str, Any]:
        return {"best_val_top1": self.best_val_top1, "best_epoch": self.best_epoch, "epochs": self.epochs,
                "train_seconds": round(self.train_seconds, 3), "clips_per_s": round(self.clips_per_s, 3)}


def color_scramble(seed: int):
    """Per-clip colour scrambling of a batch: a random channel order, then gray with some probability.

    Makes the model blind to absolute colour (background, clothing), leaving shape, motion and
    brightness; used by the ``color`` preset against colour confounds such as hzj_colors' sessions.
    """
    orders = tf.constant(_CHANNEL_ORDERS, tf.int32)
    luma = tf.constant([0.299, 0.587, 0.114], tf.float32)

    def apply(clips: Any, labels: Any, rand: Any) -> tuple[Any, Any]:
        seeds = tf.random.experimental.stateless_split(tf.stack([rand, tf.constant(seed, tf.int64)]), num=2)
        batch = tf.shape(clips)[0]
        choice = tf.random.stateless_uniform([batch], seeds[0], 0, len(_CHANNEL_ORDERS), dtype=tf.int32)
        clips = tf.gather(clips, tf.gather(orders, choice), axis=4, batch_dims=1)
        gray = tf.random.stateless_uniform([batch], seeds[1]) < GRAYSCALE_PROBABILITY
        mono = tf.repeat(tf.reduce_sum(clips * luma, axis=-1, keepdims=True), 3, axis=-1)
        return tf.where(gray[:, None, None, None, None], mono, clips), labels

    return apply


def build_datasets(cfg: TrainConfig, info: DatasetInfo, distributed: bool) -> tuple[Any, Any, int]:
    """(repeated training dataset, validation dataset, training steps per epoch); labels one-hot."""
    classes = info.num_classes
    steps = info.splits[cfg.train_split].clips // cfg.batch
    augment = _SPATIAL[cfg.augment]
    if cfg.hflip:
        augment = AugmentConfig(**{**augment.__dict__, "hflip": True})
    train = make_dataset(info, cfg.train_split, frames=cfg.frames, size=cfg.size, batch=cfg.batch, training=True,
                         augment=augment, seed=cfg.seed, drop_remainder=True, deterministic=False).repeat()
    if cfg.augment == "color":
        train = tf.data.Dataset.zip(train, tf.data.Dataset.random(seed=cfg.seed + 1))
        scramble = color_scramble(cfg.seed)
        train = train.map(lambda pair, rand: scramble(*pair, rand), num_parallel_calls=tf.data.AUTOTUNE)
    # Across workers, a last partial validation batch leaves some worker an empty batch, and oneDNN's fused
    # convolutions fail on empty inputs ("input depth must be evenly divisible by filter depth"); distributed
    # validation therefore drops that remainder (fewer than one batch of clips).
    val = make_dataset(info, cfg.val_split, frames=cfg.frames, size=cfg.size, batch=cfg.batch, training=False,
                       drop_remainder=distributed and info.splits[cfg.val_split].clips >= cfg.batch)

    def one_hot(clips: Any, labels: Any) -> tuple[Any, Any]:
        return clips, tf.one_hot(labels, classes)

    train, val = (ds.map(one_hot).prefetch(tf.data.AUTOTUNE) for ds in (train, val))
    if distributed:
        # Every worker reads the same seeded stream and keeps its share of the batches: works for
        # any shard count, including fewer shards than workers (file sharding would fail there).
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        train, val = train.with_options(options), val.with_options(options)
    return train, val, steps


def resolve_train_form(form: str) -> str:
    """``auto`` -> ``5d`` with a GPU, ``4d`` without (see TRAIN_FORMS in edge_slr.train.config)."""
    if form != "auto":
        return form
    return "5d" if tf.config.list_physical_devices("GPU") else "4d"


def build_training_model(cfg: TrainConfig, classes: int) -> Any:
    """The model that ``fit`` trains: takes (B, T, H, W, 3) clips in both forms, weights in the 5d form's order."""
    if cfg.train_form == "5d":
        return create_model(cfg.arch, classes, cfg.frames, cfg.size, cfg.width, form="5d")
    from edge_slr.models.layers import FoldFrames

    edge = create_model(cfg.arch, classes, cfg.frames, cfg.size, cfg.width, form="4d")
    clips = keras.Input((cfg.frames, cfg.size, cfg.size, 3), name="clips")
    return keras.Model(clips, edge(FoldFrames()(clips)), name=f"{cfg.arch}_4d_training")


def _compile(model: Any, cfg: TrainConfig, schedule: WarmupCosine, classes: int) -> None:
    head = [w for layer in weighted_layers(model) if layer.name == LOGITS_LAYER for w in layer.trainable_weights]
    optimizer = BackboneScaledAdamW(head, cfg.backbone_lr_scale, learning_rate=schedule,
                                    weight_decay=cfg.weight_decay)
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    # Slots for every variable now: layers frozen for the first epochs join the update later (finetune.py).
    optimizer.build(model.trainable_variables)
    metrics = [keras.metrics.CategoricalAccuracy(name="top1")]
    if classes > 5:
        metrics.append(keras.metrics.TopKCategoricalAccuracy(k=5, name="top5"))
    loss = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=cfg.label_smoothing)
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics)


def _set_precision(cfg: TrainConfig) -> None:
    if cfg.mixed_precision and tf.config.list_physical_devices("GPU"):
        keras.mixed_precision.set_global_policy("mixed_float16")
        return
    if cfg.mixed_precision:
        warnings.warn("--mixed-precision needs a GPU; training in float32 on the CPU", stacklevel=2)
    keras.mixed_precision.set_global_policy("float32")


def _saved_config(folder: Path) -> dict[str, Any]:
    path = folder / CONFIG_JSON
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _run_config(cfg: TrainConfig, info: DatasetInfo) -> dict[str, Any]:
    # The data's crop travels with the run: export writes it into the model card, evaluate checks it.
    return {**cfg.to_json(), "out": str(cfg.out.resolve()), "num_classes": info.num_classes, "crop": info.crop}


def _finished(folder: Path) -> TrainResult | None:
    """The result of a run that already completed, or None."""
    path = folder / METRICS_JSON
    if not path.is_file():
        return None
    m = json.loads(path.read_text(encoding="utf-8"))
    return TrainResult(folder, m["best_val_top1"], m["best_epoch"], m["epochs"], m["train_seconds"],
                       m["clips_per_s"])


def train(cfg: TrainConfig, echo: Callable[[str], None] | None = print) -> TrainResult:
    """Train ``cfg.arch`` on ``cfg.data`` into the run folder ``cfg.out``; see the module docstring.

    ``echo`` receives the progress lines (one per epoch); None keeps training quiet.
    """
    session_start = time.perf_counter()
    info = load_dataset_info(cfg.data)
    check_data(cfg, info)
    keras.backend.clear_session()
    placement: StrategyInfo = make_strategy(cfg.strategy)
    cfg = replace(cfg, train_form=resolve_train_form(cfg.train_form))
    say = echo if placement.is_chief else None
    run_dir = cfg.out.resolve()
    if placement.is_chief:
        saved = _saved_config(run_dir)
        resume = claim_run_folder(run_dir, cfg.differences(saved) if saved else [], cfg.resume, cfg.overwrite)
        if resume and (done := _finished(run_dir)) is not None:
            if say:
                say(f"{run_dir} already finished {done.epochs} epoch(s) (best val top-1 {done.best_val_top1:.4f}); "
                    "nothing to do")
            return done
        folder = run_dir
    else:
        # Non-chief workers write the same files into a scratch folder (TensorFlow's recommendation:
        # every worker saves, only the chief's copy is kept).
        folder = Path(tempfile.mkdtemp(prefix="edge-slr-worker-"))
    try:
        return _fit(cfg, info, placement, folder, run_dir, say, session_start)
    finally:
        keras.mixed_precision.set_global_policy("float32")
        if not placement.is_chief:
            shutil.rmtree(folder, ignore_errors=True)


def _fit(cfg: TrainConfig, info: DatasetInfo, placement: StrategyInfo, folder: Path, run_dir: Path,
         say: Callable[[str], None] | None, session_start: float) -> TrainResult:
    keras.utils.set_random_seed(cfg.seed)
    classes = info.num_classes
    keras.mixed_precision.set_global_policy("float32")
    twin = create_model(cfg.arch, classes, cfg.frames, cfg.size, cfg.width)  # float32, outside the strategy
    # Fine-tuning checks refuse before the run folder is written (a refused run leaves nothing behind).
    init = load_init(twin, cfg.init) if cfg.init is not None else None
    frozen = {layer.name for layer in frozen_layers(twin, cfg.freeze_stages)} if cfg.freeze_stages else set()
    write_run_header(folder, _run_config(cfg, info), info.classes)
    train_ds, val_ds, steps = build_datasets(cfg, info, distributed=placement.kind != "default")
    total = steps * cfg.epochs
    schedule = WarmupCosine(cfg.lr, total, min(int(round(cfg.warmup_epochs * steps)), total))

    _set_precision(cfg)
    with placement.strategy.scope():
        model = build_training_model(cfg, classes)
        if init is not None:
            model.set_weights(twin.get_weights())  # same weights in the same order in both forms
        _compile(model, cfg, schedule, classes)

    columns = ["loss", "top1", *(["top5"] if classes > 5 else []), "val_loss", "val_top1",
               *(["val_top5"] if classes > 5 else []), "lr", "clips_per_s", "seconds"]
    title = f"{cfg.arch} on {info.data_dir.name} ({cfg.frames}x{cfg.size}x{cfg.size}, width {cfg.width:g})"
    recorder = RunRecorder(folder, twin, columns, cfg.epochs, title, echo=say)
    callbacks = [
        *([StageFreezer([layer for layer in weighted_layers(model) if layer.name in frozen],
                        cfg.epochs if cfg.freeze_epochs is None else cfg.freeze_epochs, say)] if frozen else []),
        EpochTimer(steps * cfg.batch, lambda step: float(schedule(step))),
        recorder,
        TensorBoardScalars(folder / TENSORBOARD_DIR),
        # Last, so our files are never behind the backup (see edge_slr.train.callbacks).
        keras.callbacks.BackupAndRestore(str(run_dir / BACKUP_DIR)),
    ]
    if say:
        say(f"train {cfg.arch} ({classes} classes, {cfg.frames}x{cfg.size}x{cfg.size}, width {cfg.width:g}, "
            f"{cfg.train_form} graph) on "
            f"{info.data_dir}: {info.splits[cfg.train_split].clips} train / {info.splits[cfg.val_split].clips} val "
            f"clips, batch {cfg.batch}, {steps} steps/epoch, {cfg.epochs} epochs; {placement.describe()}; "
            f"run folder {run_dir}")
        if init is not None:
            for line in init.lines(cfg.init):
                say(line)
        if frozen:
            until = "the whole run" if cfg.freeze_epochs is None else f"the first {cfg.freeze_epochs} epoch(s)"
            say(f"fine-tune: stem and stages 1-{cfg.freeze_stages} frozen for {until}")
        if cfg.backbone_lr_scale != 1.0:
            say(f"fine-tune: backbone learning rate {cfg.backbone_lr_scale:g} x --lr (head: --lr)")
    model.fit(train_ds, validation_data=val_ds, epochs=cfg.epochs, steps_per_epoch=steps, callbacks=callbacks,
              verbose=1 if cfg.verbose else 0)

    backup = run_dir / BACKUP_DIR
    if placement.is_chief and backup.is_dir() and not any(p.is_file() for p in backup.rglob("*")):
        # Keras empties it once training has finished: nothing is left to resume. Another worker may
        # still be removing its own empty scratch folder in it, hence ignore_errors.
        shutil.rmtree(backup, ignore_errors=True)
    rows = read_history(folder / HISTORY_CSV)
    # Median epoch throughput: the first epoch of each session also pays for graph tracing.
    result = TrainResult(run_dir, recorder.best[0], recorder.best_epoch, len(rows), sum(r["seconds"] for r in rows),
                         float(np.median([r["clips_per_s"] for r in rows])))
    session = round(time.perf_counter() - session_start, 3)
    write_json(folder / METRICS_JSON, {**result.to_json(), "session_seconds": session, "arch": cfg.arch,
                                       "data": str(info.data_dir)})
    if say:
        say(f"done: best val top-1 {result.best_val_top1:.4f} at epoch {result.best_epoch}, "
            f"{result.train_seconds:.1f} s training, {result.clips_per_s:.1f} clips/s; {run_dir}")
    return result
