"""``edge-slr train --init``: start weights, frozen early stages, a slower backbone (no PyTorch needed here)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge_slr.errors import UserError
from edge_slr.models import create_model
from edge_slr.train.config import TrainConfig
from edge_slr.utils.tf_env import import_tf

tf, keras = import_tf()

SMALL = {"arch": "r2plus1d_small", "frames": 4, "size": 32, "width": 0.25}


def _weights(path: Path) -> dict[str, list[np.ndarray]]:
    from edge_slr.models.io import load_keras_model
    from edge_slr.train.finetune import weighted_layers

    return {layer.name: layer.get_weights() for layer in weighted_layers(load_keras_model(path))}


def _same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


@pytest.fixture(scope="module")
def init_model(tmp_path_factory) -> Path:
    """An 'earlier' r2plus1d_small with 5 classes and BatchNorm statistics far from a fresh model's."""
    keras.utils.set_random_seed(7)
    model = create_model(SMALL["arch"], 5, SMALL["frames"], SMALL["size"], SMALL["width"])
    rng = np.random.default_rng(7)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape), rng.uniform(-0.3, 0.3, beta.shape),
                               rng.uniform(-0.3, 0.3, mean.shape), rng.uniform(0.5, 2.0, var.shape)])
    path = tmp_path_factory.mktemp("init") / "earlier.keras"
    model.save(path)
    return path


def _train(data: Path, out: Path, init: Path, **kw) -> list[str]:
    from edge_slr.train.trainer import train

    lines: list[str] = []
    train(TrainConfig(**{**SMALL, "data": data, "out": out, "init": init, "batch": 2, "augment": "none", **kw}),
          echo=lines.append)
    return lines


def test_backbone_scaled_adamw_scales_every_backbone_step_and_leaves_the_head_alone():
    """One step with weight decay: the backbone's change is exactly S x AdamW's; the head's is AdamW's."""
    from edge_slr.train.finetune import BackboneScaledAdamW

    start = np.linspace(-1.0, 1.0, 6, dtype=np.float32)
    grad = tf.constant(np.linspace(0.3, -0.2, 6, dtype=np.float32))
    plain_var, head, backbone = (tf.Variable(start) for _ in range(3))
    plain = keras.optimizers.AdamW(learning_rate=0.01, weight_decay=0.05)
    scaled = BackboneScaledAdamW([head], 0.1, learning_rate=0.01, weight_decay=0.05)
    plain.apply_gradients([(grad, plain_var)])
    scaled.apply_gradients([(grad, head), (grad, backbone)])
    np.testing.assert_allclose(head.numpy(), plain_var.numpy(), rtol=0, atol=1e-7)
    np.testing.assert_allclose(backbone.numpy() - start, 0.1 * (plain_var.numpy() - start), rtol=0,
                               atol=2e-7)  # float32 rounding of values near 1
    assert not np.allclose(backbone.numpy(), plain_var.numpy())


def test_scale_one_is_exactly_adamw_over_several_steps():
    from edge_slr.train.finetune import BackboneScaledAdamW

    rng = np.random.default_rng(0)
    start = rng.normal(size=(3, 4)).astype(np.float32)
    a, b = tf.Variable(start), tf.Variable(start)
    plain = keras.optimizers.AdamW(learning_rate=0.02, weight_decay=0.1)
    scaled = BackboneScaledAdamW([], 1.0, learning_rate=0.02, weight_decay=0.1)
    for _ in range(4):
        grad = tf.constant(rng.normal(size=(3, 4)).astype(np.float32))
        plain.apply_gradients([(grad, a)])
        scaled.apply_gradients([(grad, b)])
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=0, atol=1e-7)


def test_init_refuses_another_width_and_names_the_layers(init_model):
    from edge_slr.train.finetune import load_init

    wider = create_model(SMALL["arch"], 3, SMALL["frames"], SMALL["size"], 0.5)
    with pytest.raises(UserError, match=r"does not fit this run's model: \d+ layer\(s\) differ \(stem_s ") as info:
        load_init(wider, init_model)
    assert "\n" not in str(info.value) and "--width" in str(info.value)


def test_init_loads_another_clip_shape_and_skips_a_head_of_another_class_count(init_model):
    from edge_slr.train.finetune import load_init

    target = create_model(SMALL["arch"], 3, 8, 48, SMALL["width"])  # other frames, size and classes
    report = load_init(target, init_model)
    saved = _weights(init_model)
    assert report.head_skipped and "5 classes, this run 3" in report.head_skipped and report.unused == []
    for layer in target.layers:
        if layer.weights and layer.name != "logits":
            assert _same(layer.get_weights(), saved[layer.name]), layer.name


@pytest.mark.parametrize("change, message", [
    ({"freeze_stages": 1}, "needs --init"),
    ({"freeze_epochs": 1, "init": "m.keras"}, "--freeze-epochs needs --freeze-stages"),
    ({"freeze_stages": 1, "freeze_epochs": 9, "epochs": 3, "init": "m.keras"}, "more than --epochs 3"),
    ({"backbone_lr_scale": 0.0}, "--backbone-lr-scale"),
    ({"init": "runs/a"}, "--init takes a .keras model"),
])
def test_config_refuses_impossible_fine_tuning(change, message, tmp_path):
    with pytest.raises(UserError, match=message) as info:
        TrainConfig(arch="r2plus1d_small", data=tmp_path, out=tmp_path / "run", **change)
    assert "\n" not in str(info.value)


def test_a_run_from_before_fine_tuning_options_still_resumes(tmp_path):
    cfg = TrainConfig(arch="cnn_lstm", data=tmp_path, out=tmp_path / "a", resume=True)
    saved = {k: v for k, v in cfg.to_json().items()
             if k not in ("init", "freeze_stages", "freeze_epochs", "backbone_lr_scale")}
    assert cfg.differences(saved) == []
    changed = TrainConfig(arch="cnn_lstm", data=tmp_path, out=tmp_path / "a", backbone_lr_scale=0.1)
    assert changed.differences(saved) == ["backbone_lr_scale"]


def test_cli_refuses_a_missing_init_file_in_one_line(tiny_dataset, tmp_path, capsys):
    from edge_slr.cli import main

    code = main(["train", "--arch", "r2plus1d_small", "--data", str(tiny_dataset), "--out", str(tmp_path / "r"),
                 "--batch", "2", "--init", str(tmp_path / "none.keras")])
    err = capsys.readouterr().err
    assert code == 2 and "none.keras does not exist" in err and err.count("\n") == 1
    assert not (tmp_path / "r").exists()


def test_frozen_stages_keep_their_weights_and_statistics(tiny_dataset, init_model, tmp_path):
    """Frozen for the whole run: stem and stage 1 (BatchNorm statistics too) stay the init's; the rest trains."""
    lines = _train(tiny_dataset, tmp_path / "frozen", init_model, epochs=1, freeze_stages=1,
                   backbone_lr_scale=0.5, lr=0.01)
    assert any("head not loaded" in line for line in lines)
    assert "fine-tune: stem and stages 1-1 frozen for the whole run" in lines
    before, after = _weights(init_model), _weights(tmp_path / "frozen" / "last.keras")
    frozen = [n for n in after if n.startswith(("stem", "layer1_"))]
    trained = [n for n in after if n.startswith(("layer2_", "layer3_"))]
    assert frozen and trained
    assert all(_same(after[n], before[n]) for n in frozen)
    assert all(not _same(after[n], before[n]) for n in trained)


def test_frozen_stages_train_after_the_freeze_epochs(tiny_dataset, init_model, tmp_path):
    lines = _train(tiny_dataset, tmp_path / "thawed", init_model, epochs=2, freeze_stages=2, freeze_epochs=1,
                   lr=0.01)
    assert any(line.startswith("epoch 2: the stem and early stages are unfrozen") for line in lines)
    before, after = _weights(init_model), _weights(tmp_path / "thawed" / "last.keras")
    assert not _same(after["stem_s"], before["stem_s"]) and not _same(after["layer1_0_conv1_s"],
                                                                       before["layer1_0_conv1_s"])


def test_a_resumed_run_starts_frozen_or_not_from_the_epoch_it_resumes_at():
    """BackupAndRestore hands fit the resumed epoch: the freezer decides from it, not from how it started."""
    from edge_slr.train.finetune import StageFreezer, frozen_layers

    model = create_model(SMALL["arch"], 3, SMALL["frames"], SMALL["size"], SMALL["width"])
    model.compile(optimizer="adam", loss="mse")
    layers = frozen_layers(model, 1)
    lines: list[str] = []
    freezer = StageFreezer(layers, epochs=2, echo=lines.append)
    freezer.set_model(model)
    freezer.on_epoch_begin(3)  # resumed after the freeze epochs
    assert all(layer.trainable for layer in layers) and lines == ["epoch 4: the stem and early stages are "
                                                                  f"unfrozen ({len(layers)} layers)"]
    fresh = StageFreezer(layers, epochs=2)
    fresh.set_model(model)
    fresh.on_epoch_begin(1)  # resumed inside them
    assert not any(layer.trainable for layer in layers)
    fresh.on_epoch_begin(2)
    assert all(layer.trainable for layer in layers)


def test_the_mixed_precision_wrapper_keeps_the_backbone_scale():
    """Under --mixed-precision Keras wraps the optimizer in a LossScaleOptimizer (GPU only); it must pass through."""
    from edge_slr.train.finetune import BackboneScaledAdamW

    start = np.linspace(-1.0, 1.0, 6, dtype=np.float32)
    grad = tf.constant(np.full(6, 0.5, np.float32))
    head, backbone = tf.Variable(start), tf.Variable(start)
    wrapped = keras.mixed_precision.LossScaleOptimizer(BackboneScaledAdamW([head], 0.25, learning_rate=0.01,
                                                                           weight_decay=0.0))
    wrapped.apply_gradients([(grad, head), (grad, backbone)])
    np.testing.assert_allclose(backbone.numpy() - start, 0.25 * (head.numpy() - start), rtol=0, atol=2e-7)
    assert np.abs(head.numpy() - start).min() > 1e-3



def test_a_refused_fine_tuning_run_writes_nothing(tiny_dataset, init_model, tmp_path):
    with pytest.raises(UserError, match="does not fit this run's model"):
        _train(tiny_dataset, tmp_path / "wide", init_model, epochs=1, width=0.5)
    with pytest.raises(UserError, match="--freeze-stages 4 is more than the 3 residual stages of r2plus1d_small"):
        _train(tiny_dataset, tmp_path / "deep", init_model, epochs=1, freeze_stages=4)
    assert not (tmp_path / "wide").exists() and not (tmp_path / "deep").exists()
