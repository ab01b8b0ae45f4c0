"""The model zoo: every registered architecture builds, runs, and has an equivalent 4-D edge form."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from edge_slr.errors import UserError
from edge_slr.models import create_model, get_model_info, list_models
from edge_slr.utils.tf_env import import_tf

tf, keras = import_tf()

NAMES = [info.name for info in list_models()]
# Per-architecture graph checks skip r2plus1d_18_causal: it is r2plus1d_18's layers with r2plus1d_small_causal's
# causal padding and pooling head, both checked on their own (keeps the suite under its time budget).
CHECKED = [name for name in NAMES if name != "r2plus1d_18_causal"]
EXPECTED = {"cnn3d", "r3d_18", "r3d_small", "r2plus1d_18", "r2plus1d_small", "r3d_r2plus1d",
            "cnn_lstm", "cnn_lstm_basic", "resnet18_lstm", "r2plus1d_small_causal", "r2plus1d_18_causal"}


def small_args(name: str) -> dict:
    """The smallest sensible instance of an architecture, so the whole registry is tested quickly."""
    info = get_model_info(name)
    return {"frames": max(info.min_frames, 8 if info.family == "lstm" else info.min_frames),
            "size": max(info.min_size, 48), "width": 0.25}


def randomize_batchnorm(model, seed: int = 0) -> None:
    """Give BN layers non-trivial statistics so form-equivalence checks cannot pass by BN being identity."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape), rng.normal(0, 0.1, beta.shape),
                               rng.normal(0, 0.1, mean.shape), rng.uniform(0.5, 1.5, var.shape)])


def test_registry_has_every_architecture():
    assert set(NAMES) == EXPECTED


def _convert(model, input_shape) -> bytes:
    fn = tf.function(lambda x: model(x, training=False)).get_concrete_function(tf.TensorSpec(input_shape, tf.float32))
    return tf.lite.TFLiteConverter.from_concrete_functions([fn], model).convert()


@pytest.mark.parametrize("name", CHECKED)
def test_forms_agree_and_edge_form_is_4d_only_tflite(name):
    """Forward shape, 5d/4d equivalence with shared weights, and a 4-D-only TFLite graph, per architecture."""
    from ai_edge_litert.interpreter import Interpreter

    args = small_args(name)
    ref = create_model(name, num_classes=5, **args)
    randomize_batchnorm(ref)
    edge = create_model(name, num_classes=5, form="4d", **args)
    edge.set_weights(ref.get_weights())
    x = np.random.default_rng(1).uniform(0, 255, (2, args["frames"], args["size"], args["size"], 3)).astype("float32")
    y_ref = ref(x, training=False).numpy()
    y_edge = edge(x.reshape(-1, *x.shape[2:]), training=False).numpy()
    assert y_ref.shape == (2, 5)
    assert np.isfinite(y_ref).all()
    assert np.abs(y_ref[0] - y_ref[1]).max() > 1e-6, "different clips should give different logits"
    np.testing.assert_allclose(y_edge, y_ref, atol=1e-4, rtol=1e-4)

    interpreter = Interpreter(model_content=_convert(edge, (args["frames"], args["size"], args["size"], 3)))
    ranks = {t["name"]: len(t["shape"]) for t in interpreter.get_tensor_details()}
    ops = {op["op_name"] for op in interpreter._get_ops_details()}
    assert max(ranks.values()) <= 4, {k: v for k, v in ranks.items() if v > 4}
    assert not ops & {"CONV_3D", "UNIDIRECTIONAL_SEQUENCE_LSTM", "WHILE"}, ops


@pytest.mark.parametrize("kernel,strides,padding", [
    ((3, 3, 3), (2, 2, 2), (1, 1, 1)), ((3, 1, 1), (2, 1, 1), (1, 0, 0)), ((1, 3, 3), (1, 2, 2), (0, 1, 1)),
    ((3, 5, 5), (2, 2, 2), (0, 0, 0)), ((1, 1, 1), (2, 2, 2), (0, 0, 0)),
    ((5, 3, 3), (2, 1, 1), (2, 1, 1)), ((3, 3, 3), (3, 1, 1), (0, 1, 1)), ((2, 3, 3), (2, 1, 1), (1, 1, 1)),
])
def test_spatiotemporal_conv_forms_match_conv3d(kernel, strides, padding):
    from edge_slr.models.layers import SpatioTemporalConv

    frames = 7
    x = np.random.default_rng(2).normal(size=(2, frames, 11, 11, 4)).astype("float32")
    ref = SpatioTemporalConv(6, kernel, strides, padding, form="5d")
    edge = SpatioTemporalConv(6, kernel, strides, padding, form="4d", frames=frames)
    y_ref = ref(x).numpy()
    edge.build((None, 11, 11, 4))
    edge.set_weights(ref.get_weights())
    y_edge = edge(x.reshape(-1, 11, 11, 4)).numpy()
    expect = tf.nn.conv3d(tf.pad(x, [[0, 0]] + [[p, p] for p in padding] + [[0, 0]]), ref.kernel,
                          (1, *strides, 1), "VALID").numpy()
    np.testing.assert_allclose(y_ref, expect, atol=1e-5)
    np.testing.assert_allclose(y_edge, y_ref.reshape(y_edge.shape), atol=1e-4)


def test_reference_form_has_conv3d_for_contrast():
    """The check above can fail: the 5d form of a 3-D model does contain CONV_3D and rank-5 tensors."""
    from ai_edge_litert.interpreter import Interpreter

    model = create_model("r3d_small", num_classes=5, frames=4, size=32, width=0.25)
    interpreter = Interpreter(model_content=_convert(model, (1, 4, 32, 32, 3)))
    assert "CONV_3D" in {op["op_name"] for op in interpreter._get_ops_details()}
    assert max(len(t["shape"]) for t in interpreter.get_tensor_details()) == 5


@pytest.mark.parametrize("kwargs,message", [
    ({"name": "r2plus1d"}, "unknown architecture 'r2plus1d'"),
    ({"name": "r2plus1d_18", "frames": 1}, "frames=1 is too few for r2plus1d_18"),
    ({"name": "cnn3d", "size": 20}, "size=20 is too small for cnn3d"),
    ({"name": "cnn_lstm", "width": 0}, "width=0 is out of range"),
    ({"name": "cnn_lstm", "num_classes": 1}, "num_classes must be at least 2"),
    ({"name": "cnn_lstm", "form": "3d"}, "unknown form '3d'"),
])
def test_bad_arguments_are_user_errors(kwargs, message):
    kwargs = {"num_classes": 10, **kwargs}
    with pytest.raises(UserError, match=message.replace("(", r"\(")):
        create_model(kwargs.pop("name"), **kwargs)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge_slr.cli", *args], capture_output=True, text=True, timeout=300)


def test_cli_models_lists_every_name():
    out = _cli("models")
    assert out.returncode == 0, out.stderr
    listed = {line.split()[0] for line in out.stdout.splitlines() if line.strip()}
    assert listed == EXPECTED


def test_cli_summary_json_and_table(capsys):
    from edge_slr.cli import main

    # In-process (the CLI's own entry point; `models` and the bad-input tests run it as a subprocess).
    assert main(["summary", "r2plus1d_small", "--classes", "10", "--frames", "8", "--size", "64", "--width", "0.5",
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["arch"] == "r2plus1d_small"
    assert report["input_shape"] == [1, 8, 64, 64, 3]
    model = create_model("r2plus1d_small", 10, frames=8, size=64, width=0.5)
    assert report["params"] == sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert report["non_trainable_params"] == sum(int(np.prod(w.shape)) for w in model.non_trainable_weights)
    assert report["flops"] >= report["conv_matmul_flops"] > 0
    assert main(["summary", "cnn_lstm", "--classes", "10", "--frames", "4", "--size", "64"]) == 0
    table = capsys.readouterr().out
    assert "lstm1" in table and "FLOPs per clip" in table and "trainable params" in table


def test_r2plus1d_18_matches_torchvision_params_and_flops():
    """torchvision's r2plus1d_18: 31,505,325 parameters and 40.52 GFLOPS (really multiply-adds) at 16x112x112."""
    from edge_slr.models.summary import summarize

    report = summarize("r2plus1d_18", classes=400, frames=16, size=112)
    assert report.params == 31_505_325
    assert report.non_trainable_params == 25_350  # BN running mean/var: buffers in torchvision
    assert abs(report.conv_matmul_flops / 2e9 - 40.52) < 0.05


@pytest.mark.parametrize("args,message", [
    (["summary", "r2plus1d"], "Did you mean"),
    (["summary", "r2plus1d_18", "--frames", "1"], "needs at least 8"),
    (["summary", "cnn3d", "--size", "0"], "must be a positive integer"),
])
def test_cli_bad_input_is_one_line(args, message):
    out = _cli(*args)
    assert out.returncode == 2
    assert message in out.stderr
    assert "Traceback" not in out.stderr
    assert len([line for line in out.stderr.splitlines() if "error" in line]) == 1
