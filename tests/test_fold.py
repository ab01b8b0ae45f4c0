"""Folding Normalize into the first convolution: same function, no MUL/ADD in front of the exported graph."""

from __future__ import annotations

import numpy as np
import pytest

from edge_slr.export.convert import convert_clip_model
from edge_slr.export.fold import fold_input_normalization
from edge_slr.models import create_model
from edge_slr.models.layers import Normalize
from edge_slr.runtime.tflite_file import parse_model


def _edge_with_trained_like_stats(arch: str, frames: int, size: int):
    """A 4d model whose BatchNorms have non-trivial statistics, as after training."""
    model = create_model(arch, 3, frames=frames, size=size, width=0.25, form="4d")
    rng = np.random.default_rng(0)
    weights = [w if w.ndim > 1 else rng.uniform(0.5, 1.5, w.shape).astype(np.float32) for w in model.get_weights()]
    model.set_weights(weights)
    return model


@pytest.mark.parametrize("arch,frames,size", [("cnn3d", 15, 40), ("cnn_lstm_basic", 4, 96)])
def test_fold_keeps_the_function_and_drops_the_input_affine(arch, frames, size):
    model = _edge_with_trained_like_stats(arch, frames, size)
    x = np.random.default_rng(1).uniform(0, 255, (frames, size, size, 3)).astype(np.float32)
    before = model(x, training=False).numpy()
    assert fold_input_normalization(model)
    after = model(x, training=False).numpy()
    np.testing.assert_allclose(after, before, rtol=1e-4, atol=1e-4 * np.abs(before).max())
    assert not fold_input_normalization(model), "folding twice would scale the kernel twice"
    ops = [op.name for op in parse_model(convert_clip_model(model, x.shape, "fp32"), arch).subgraphs[0].operators]
    head = ops[:ops.index("CONV_2D")]
    assert not {"MUL", "ADD"} & set(head), head


def test_padded_first_conv_is_left_alone():
    model = _edge_with_trained_like_stats("r2plus1d_small", 8, 32)
    kernel = [w.numpy().copy() for w in model.weights if "kernel" in w.name][0]
    assert not fold_input_normalization(model)
    assert not next(layer for layer in model.layers if isinstance(layer, Normalize)).folded
    np.testing.assert_array_equal([w.numpy() for w in model.weights if "kernel" in w.name][0], kernel)


def test_space_to_depth_stem_is_the_same_conv_and_only_for_integer_exports():
    """cnn_lstm_basic's 7x7 stride-2 stem: SPACE_TO_DEPTH + 4x4 conv when switched on, same outputs."""
    from edge_slr.export.fold import prefer_integer_kernels

    model = _edge_with_trained_like_stats("cnn_lstm_basic", 2, 96)
    x = np.random.default_rng(2).uniform(0, 255, (2, 96, 96, 3)).astype(np.float32)
    plain = model(x, training=False).numpy()
    assert "SPACE_TO_DEPTH" not in [op.name for op in parse_model(convert_clip_model(model, x.shape, "fp32"),
                                                                   "fp32").subgraphs[0].operators]
    assert prefer_integer_kernels(model) == 1
    np.testing.assert_allclose(model(x, training=False).numpy(), plain, rtol=1e-4, atol=1e-4 * np.abs(plain).max())
    graph = parse_model(convert_clip_model(model, x.shape, "fp32"), "s2d").subgraphs[0]
    ops = [op.name for op in graph.operators]
    assert "SPACE_TO_DEPTH" in ops, ops
    stem = next(op for op in graph.operators if op.name == "CONV_2D")
    assert graph.tensors[stem.inputs[1]].shape[1:] == (4, 4, 12), graph.tensors[stem.inputs[1]].shape
