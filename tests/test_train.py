"""Tests of ``edge-slr train``: config checks, schedule, strategy config, run folder contract, a real tiny run."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from edge_slr.cli import build_parser
from edge_slr.data.prepare import PrepareConfig, prepare
from edge_slr.data.synth import SynthConfig, generate_dataset
from edge_slr.errors import UserError
from edge_slr.train.config import TrainConfig
from edge_slr.train.run_folder import claim_run_folder, load_run, write_run_header
from edge_slr.train.strategy import parse_tf_config
from edge_slr.utils.tf_env import import_tf

tf, keras = import_tf()

TINY = {"arch": "cnn_lstm", "frames": 4, "size": 32, "width": 0.25, "batch": 4}


def make_tiny_data(root: Path, classes: int = 3) -> Path:
    """3 classes x 3 clips x 2 signers of 48x48 synth video, prepared at 40 px: 9 train / 9 val clips."""
    generate_dataset(SynthConfig(out=root / "synth", classes=classes, clips_per_class=3, signers=2, width=48,
                                 height=48, seed=3))
    prepare(PrepareConfig(src=root / "synth", out=root / "data", store_frames=16, size=40, val=0.5, progress=False))
    return root / "data"


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    return make_tiny_data(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def tiny_run(tiny_data, tmp_path_factory):
    """One finished 3-epoch run; returns (run folder, TrainResult, printed lines)."""
    from edge_slr.train.trainer import train

    out = tmp_path_factory.mktemp("runs") / "tiny"
    lines: list[str] = []
    result = train(TrainConfig(data=tiny_data, out=out, epochs=3, lr=3e-3, **TINY), echo=lines.append)
    return out, result, lines


# -- configuration -------------------------------------------------------------------------


@pytest.mark.parametrize("change, message", [
    ({"epochs": 0}, "--epochs"), ({"lr": -1.0}, "--lr"), ({"label_smoothing": 1.0}, "--label-smoothing"),
    ({"warmup_epochs": 5.0, "epochs": 2}, "--warmup-epochs"), ({"strategy": "mirored"}, "Did you mean mirrored"),
    ({"augment": "colour"}, "Did you mean color"), ({"resume": True, "overwrite": True}, "--resume"),
])
def test_config_rejects_bad_values_with_one_line(change, message, tmp_path):
    with pytest.raises(UserError, match=message) as info:
        TrainConfig(arch="cnn_lstm", data=tmp_path, out=tmp_path / "run", **change)
    assert "\n" not in str(info.value)


def test_cli_arguments_build_the_config_with_dataclass_defaults(tmp_path):
    args = build_parser().parse_args(["train", "--arch", "r2plus1d_small", "--data", str(tmp_path), "--lr", "0.01",
                                      "--mixed-precision", "--strategy", "mirrored"])
    cfg = TrainConfig.from_args(args)
    assert cfg.out == Path("runs/r2plus1d_small") and cfg.lr == 0.01 and cfg.mixed_precision
    assert cfg.strategy == "mirrored" and cfg.data == tmp_path.resolve()
    assert (cfg.epochs, cfg.batch, cfg.augment, cfg.hflip) == (30, 8, "default", False)


def test_resume_compares_only_what_is_trained(tmp_path):
    cfg = TrainConfig(arch="cnn_lstm", data=tmp_path, out=tmp_path / "a")
    saved = cfg.to_json()
    moved = TrainConfig(arch="cnn_lstm", data=tmp_path, out=tmp_path / "b", resume=True, strategy="mirrored")
    assert moved.differences(saved) == []
    assert TrainConfig(arch="cnn_lstm", data=tmp_path, out=tmp_path / "a", lr=0.1).differences(saved) == ["lr"]


# -- learning-rate schedule ----------------------------------------------------------------


def test_schedule_warms_up_linearly_then_decays_by_cosine_to_near_zero():
    from edge_slr.train.schedule import WarmupCosine

    schedule = WarmupCosine(1e-3, total_steps=100, warmup_steps=10)
    lrs = np.array([float(schedule(step)) for step in range(100)])
    np.testing.assert_allclose(lrs[:10], 1e-3 * np.arange(1, 11) / 10, rtol=1e-6)
    assert np.all(np.diff(lrs[9:]) < 0) and 0 < lrs[-1] < 1e-5
    np.testing.assert_allclose(lrs[55], 0.5e-3, rtol=0.05)  # half way through the decay: half the peak
    assert WarmupCosine.from_config(schedule.get_config()).get_config() == schedule.get_config()
    assert float(WarmupCosine(1e-3, 10, 0)(0)) == pytest.approx(1e-3, rel=0.05)  # no warm-up: starts at the peak


# -- strategies ------------------------------------------------------------------------------


@pytest.mark.parametrize("text, message", [
    (None, "needs the TF_CONFIG"), ("{nope", "not valid JSON"), ('{"cluster": {}}', "cluster"),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "ps", "index": 0}}', "task"),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 1}}', "outside"),
])
def test_tf_config_errors_are_one_line(text, message):
    with pytest.raises(UserError, match=message):
        parse_tf_config(text)


def test_auto_strategy_on_one_device_is_the_default_strategy():
    from edge_slr.train.strategy import make_strategy

    if len(tf.config.list_physical_devices("GPU")) > 1:
        pytest.skip("several GPUs: auto picks MirroredStrategy")
    placement = make_strategy("auto")
    assert placement.kind == "default" and placement.replicas == 1 and placement.is_chief


def test_mirrored_strategy_runs_on_whatever_devices_there_are():
    from edge_slr.train.strategy import make_strategy

    placement = make_strategy("mirrored")
    assert placement.kind == "mirrored" and placement.replicas >= 1 and placement.is_chief
    assert "mirrored strategy" in placement.describe()


# -- colour augmentation -----------------------------------------------------------------------


def test_color_scramble_permutes_channels_or_turns_clips_gray():
    from edge_slr.train.trainer import color_scramble

    rng = np.random.default_rng(0)
    clips = tf.constant(rng.uniform(0, 255, (64, 2, 4, 4, 3)), tf.float32)
    out, labels = color_scramble(seed=1)(clips, tf.range(64), tf.constant(5, tf.int64))
    out, clips = out.numpy(), clips.numpy()
    gray = np.all(np.abs(out - out[..., :1]) < 1e-3, axis=(1, 2, 3, 4))
    assert 0 < gray.sum() < 64  # about a quarter turned gray
    orders = set()
    for clip, result in zip(clips[~gray], out[~gray], strict=True):
        order = tuple(int(np.argmin([np.abs(result[..., c] - clip[..., k]).max() for k in range(3)])) for c in range(3))
        np.testing.assert_allclose(result, clip[..., list(order)])
        orders.add(order)
    assert len(orders) > 3  # several channel orders drawn
    again, _ = color_scramble(seed=1)(tf.constant(clips), labels, tf.constant(5, tf.int64))
    np.testing.assert_array_equal(again.numpy(), out)  # same seeds, same draw


# -- run folder ------------------------------------------------------------------------------


def test_claim_run_folder_refuses_resumes_or_overwrites(tmp_path):
    folder = tmp_path / "run"
    assert claim_run_folder(folder, [], resume=False, overwrite=False) is False  # new
    write_run_header(folder, {"arch": "x", "num_classes": 2, "frames": 4, "size": 32, "width": 1.0}, ["a", "b"])
    with pytest.raises(UserError, match="--resume"):
        claim_run_folder(folder, [], resume=False, overwrite=False)
    with pytest.raises(UserError, match="differs in lr"):
        claim_run_folder(folder, ["lr"], resume=True, overwrite=False)
    assert claim_run_folder(folder, [], resume=True, overwrite=False) is True
    assert claim_run_folder(folder, ["lr"], resume=False, overwrite=True) is False and not folder.exists()
    other = tmp_path / "notes"
    other.mkdir()
    (other / "mine.txt").write_text("keep me")
    with pytest.raises(UserError, match="not a run folder"):
        claim_run_folder(other, [], resume=False, overwrite=True)
    assert (other / "mine.txt").exists()


def test_load_run_explains_what_is_missing(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_run(tmp_path / "nothing")
    with pytest.raises(UserError, match="no config.json"):
        load_run(tmp_path)
    write_run_header(tmp_path, {"arch": "x", "num_classes": 2, "frames": 4, "size": 32, "width": 1.0}, ["a", "b"])
    with pytest.raises(UserError, match="no best.keras yet"):
        load_run(tmp_path)
    (tmp_path / "labels.txt").write_text("a\n", encoding="utf-8")
    with pytest.raises(UserError, match="1 names but"):
        load_run(tmp_path)


def test_a_tiny_run_fills_the_run_folder_contract(tiny_run, tiny_data):
    from edge_slr.models.io import load_keras_model

    out, result, lines = tiny_run
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    for key, value in {"arch": "cnn_lstm", "num_classes": 3, "frames": 4, "size": 32, "width": 0.25,
                       "data": str(tiny_data.resolve()), "epochs": 3, "batch": 4, "lr": 3e-3}.items():
        assert config[key] == value, key
    assert "edge_slr_version" in config and "weight_decay" in config
    assert config["train_form"] == ("5d" if tf.config.list_physical_devices("GPU") else "4d")  # resolved
    labels = (out / "labels.txt").read_text(encoding="utf-8").splitlines()
    assert labels == json.loads((tiny_data / "dataset.json").read_text(encoding="utf-8"))["classes"]

    with (out / "history.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert {"loss", "top1", "val_loss", "val_top1", "lr", "clips_per_s", "seconds"} <= set(rows[0])
    assert "val_top5" not in rows[0]  # 3 classes: top-5 would always be 1
    assert all(float(r["clips_per_s"]) > 0 for r in rows)
    best = max(float(r["val_top1"]) for r in rows)
    assert result.best_val_top1 == pytest.approx(best, abs=1e-5) and result.epochs == 3
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["best_val_top1"] == pytest.approx(best, abs=1e-5) and metrics["train_seconds"] > 0
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (out / "backup").exists()  # emptied by Keras at the end, then removed
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left
    assert len([line for line in lines if line.startswith("epoch ")]) == 3 and "clips/s" in lines[1]

    for part in ("train", "validation"):  # TensorBoard event files with per-epoch scalars
        events = list((out / "tb" / part).glob("events.out.tfevents.*"))
        tags = {v.tag for e in events for ev in tf.compat.v1.train.summary_iterator(str(e)) for v in ev.summary.value}
        assert {"epoch_loss", "epoch_top1"} <= tags

    run = load_run(out)
    assert run.model_path == out.resolve() / "best.keras" and run.labels == labels and run.frames == 4
    assert load_run(out / "last.keras").model_path.name == "last.keras"
    model = load_keras_model(run.model_path)  # float32, no optimizer, loads with the zoo's layers only
    clip = np.random.default_rng(0).uniform(0, 255, (2, 4, 32, 32, 3)).astype(np.float32)
    logits = model(clip, training=False).numpy()
    assert logits.shape == (2, 3) and logits.dtype == np.float32 and np.isfinite(logits).all()
    assert model.optimizer is None


def test_resuming_a_finished_run_does_nothing(tiny_run, tiny_data):
    from edge_slr.train.trainer import train

    out, result, _ = tiny_run
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    lines: list[str] = []
    again = train(TrainConfig(data=tiny_data, out=out, epochs=3, lr=3e-3, resume=True, **TINY), echo=lines.append)
    assert (again.best_val_top1, again.best_epoch, again.epochs) == (result.best_val_top1, result.best_epoch, 3)
    assert lines == [f"{out.resolve()} already finished 3 epoch(s) (best val top-1 "
                                         f"{result.best_val_top1:.4f}); nothing to do"]
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before


def test_history_lr_follows_warm_up_then_cosine(tiny_run):
    """One warm-up epoch reaches the peak (3e-3) at its last step, then the rate decays towards 0."""
    out, _, _ = tiny_run
    with (out / "history.csv").open(newline="") as f:
        lrs = [float(r["lr"]) for r in csv.DictReader(f)]
    assert lrs[0] == pytest.approx(3e-3, rel=1e-4)
    assert lrs[0] > lrs[1] > lrs[2] > 0 and lrs[2] < 4e-4


def test_train_refuses_a_batch_larger_than_the_data(tiny_data, tmp_path):
    from edge_slr.train.trainer import train

    with pytest.raises(UserError, match="larger than the 9 training clips"):
        train(TrainConfig(data=tiny_data, out=tmp_path / "r", epochs=1, **{**TINY, "batch": 16}))
    with pytest.raises(UserError, match="unknown split"):
        train(TrainConfig(data=tiny_data, out=tmp_path / "r", epochs=1, val_split="test", **TINY))
    with pytest.raises(UserError, match="multi-worker validation runs whole batches only"):
        train(TrainConfig(data=tiny_data, out=tmp_path / "r", epochs=1, strategy="multiworker",
                          **{**TINY, "batch": 16}))
    assert not (tmp_path / "r").exists()  # nothing written before the checks pass


def test_cli_refuses_a_taken_run_folder_with_one_line(tiny_run, tiny_data, capsys):
    from edge_slr.cli import main

    out, _, _ = tiny_run
    code = main(["train", "--arch", "cnn_lstm", "--data", str(tiny_data), "--out", str(out), "--frames", "4",
                 "--size", "32", "--width", "0.25", "--batch", "4"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("edge-slr train: error:") and "--resume" in err and err.count("\n") == 1


def test_cli_train_parser_has_every_config_field():
    parser = build_parser()
    args = parser.parse_args(["train", "--arch", "cnn3d", "--data", "d"])
    assert set(TrainConfig.__dataclass_fields__) <= set(vars(args))


@pytest.mark.parametrize("arch, frames", [("cnn_lstm", 4), ("r2plus1d_small", 4)])
def test_4d_training_graph_computes_what_the_saved_5d_model_computes(arch, frames, tmp_path):
    from edge_slr.models import create_model
    from edge_slr.train.trainer import build_training_model

    cfg = TrainConfig(arch=arch, data=tmp_path, out=tmp_path / "r", frames=frames, size=32, width=0.25,
                      train_form="4d")
    trained = build_training_model(cfg, classes=5)
    saved = create_model(arch, 5, frames, 32, 0.25)  # the 5d twin that best.keras is written from
    saved.set_weights(trained.get_weights())
    clip = np.random.default_rng(1).uniform(0, 255, (2, frames, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(saved(clip, training=False).numpy(), trained(clip, training=False).numpy(),
                               atol=1e-4)
    assert [w.shape for w in trained.weights] == [w.shape for w in saved.weights]


def test_mixed_precision_without_a_gpu_warns_and_trains_in_float32(tmp_path):
    from edge_slr.train.trainer import _set_precision

    if tf.config.list_physical_devices("GPU"):
        pytest.skip("a GPU is present: mixed precision applies")
    with pytest.warns(UserWarning, match="needs a GPU"):
        _set_precision(TrainConfig(arch="cnn_lstm", data=tmp_path, out=tmp_path / "r", mixed_precision=True))
    assert keras.mixed_precision.global_policy().name == "float32"


def test_best_epoch_ties_on_top1_go_to_the_lower_validation_loss():
    from edge_slr.train.callbacks import _rank

    rows = [{"val_top1": 0.9, "val_loss": 0.5}, {"val_top1": 0.9, "val_loss": 0.4}, {"val_top1": 0.8, "val_loss": 0.1}]
    assert max(rows, key=_rank) is rows[1]
    assert _rank({"val_top1": 0.9, "val_loss": 0.4}) > _rank({"val_top1": 0.9, "val_loss": 0.5})
