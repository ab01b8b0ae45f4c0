"""The TFLite runner and XNNPACK delegation stats, on tiny models converted in the test."""

from __future__ import annotations

import flatbuffers
import numpy as np
import pytest
import tflite_models as tm
from ai_edge_litert import schema_py_generated as schema

from edge_slr.errors import UserError
from edge_slr.runtime.gpu_check import partition_nodes
from edge_slr.runtime.runner import TFLiteRunner
from edge_slr.runtime.tflite_file import parse_model
from edge_slr.runtime.xnnpack import xnnpack_stats


@pytest.fixture
def write(tmp_path):
    def _write(data: bytes, name: str = "model.tflite"):
        path = tmp_path / name
        path.write_bytes(data)
        return path

    return _write


def _clip(shape, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 1, shape).astype(np.float32)


def test_float_model_matches_keras_with_and_without_xnnpack(write):
    path = write(tm.conv_model())
    x = _clip((1, 16, 16, 3))
    expected = tm.conv_keras()(x, training=False).numpy()
    for use_xnnpack in (True, False):
        with TFLiteRunner(path, num_threads=2, use_xnnpack=use_xnnpack) as runner:
            assert runner.default_signature == "serving_default" and not runner.stateful
            (spec,) = runner.input_specs()
            assert spec.shape == (1, 16, 16, 3) and spec.dtype == np.float32 and not spec.quantized
            (out,) = runner.run(x).values()
            np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
            # float64 input is accepted and cast; a mapping by name works the same way.
            (out64,) = runner.run({spec.name: x.astype(np.float64)}).values()
            np.testing.assert_array_equal(out64, out)


@pytest.mark.parametrize("bad,message", [
    (np.zeros((16, 16, 3), np.float32), r"expects shape \(1, 16, 16, 3\) float32, got \(16, 16, 3\) float32"),
    (np.zeros((1, 16, 16, 4), np.float32), r"got \(1, 16, 16, 4\)"),
    (np.zeros((1, 16, 16, 3), np.uint8), "got uint8 values; convert them first"),
    ({"nope": np.zeros((1, 16, 16, 3), np.float32)}, "missing"),
])
def test_wrong_inputs_are_one_line_user_errors(write, bad, message):
    with TFLiteRunner(write(tm.conv_model())) as runner:
        with pytest.raises(UserError, match=message) as info:
            runner.run(bad)
    assert "\n" not in str(info.value)


def test_int8_model_quantizes_inputs_and_dequantizes_outputs(write):
    x = _clip((1, 16, 16, 3), seed=3)
    with TFLiteRunner(write(tm.conv_model("int8"))) as runner:
        (in_spec,), (out_spec,) = runner.input_specs(), runner.output_specs()
        assert in_spec.quantized and in_spec.dtype == np.int8 and out_spec.quantized
        # Quantize/dequantize with the tensor's own scale and zero point: error at most half a step.
        q = in_spec.quantize(x)
        assert q.dtype == np.int8
        assert np.abs(in_spec.dequantize(q) - x).max() <= in_spec.scale / 2 + 1e-7
        assert in_spec.quantize(np.array([1e6, -1e6], np.float32)).tolist() == [127, -128]  # saturates
        (real,) = runner.run(x).values()
        (raw,) = runner.run(q, dequantize=False).values()
        assert real.dtype == np.float32 and raw.dtype == np.int8
        np.testing.assert_array_equal(real, out_spec.dequantize(raw))
    expected = tm.conv_keras()(x, training=False).numpy()
    # int8 stays close to float.
    assert np.abs(real - expected).max() < 0.05 * max(1.0, np.abs(expected).max())


def test_named_signatures_run_on_one_interpreter(write):
    data, w = tm.multi_signature_model()
    x = _clip((1, 4))
    a, b = _clip((1, 3), 1) - 0.5, _clip((1, 3), 2) - 0.5
    with TFLiteRunner(write(data)) as runner:
        assert set(runner.signatures) == {"encode", "combine"} and runner.default_signature is None
        np.testing.assert_allclose(runner.run(x, "encode")["y"], x @ w, rtol=1e-5)
        combined = runner.run({"a": a, "b": b}, "combine")["s"]
        np.testing.assert_allclose(combined, np.maximum(a + b, 0), rtol=1e-6)
        assert {s.name for s in runner.input_specs("combine")} == {"a", "b"}
        with pytest.raises(UserError, match="name the one to run"):
            runner.run(x)
        with pytest.raises(UserError, match="unknown signature 'encod'"):
            runner.run(x, "encod")
        with pytest.raises(UserError, match="pass a dict"):
            runner.run(a, "combine")
    with TFLiteRunner(write(data, "m2.tflite"), signature="combine") as runner:
        assert runner.run({"a": a, "b": b})["s"].shape == (1, 3)


def test_model_without_signatures_runs_by_tensor_name(write):
    model_t = schema.ModelT.InitFromPackedBuf(tm.conv_model(), 0)
    model_t.signatureDefs = []
    builder = flatbuffers.Builder(0)
    builder.Finish(model_t.Pack(builder), file_identifier=b"TFL3")
    x = _clip((1, 16, 16, 3))
    with TFLiteRunner(write(bytes(builder.Output()))) as runner:
        assert runner.signatures == () and runner.default_signature is None
        (out,) = runner.run(x).values()
    np.testing.assert_allclose(out, tm.conv_keras()(x, training=False).numpy(), rtol=1e-5, atol=1e-5)


def test_fused_lstm_state_is_reset_before_each_run_by_default(write):
    path = write(tm.lstm_model())
    x = _clip((1, 6, 8))
    expected = tm.lstm_keras()(x, training=False).numpy()
    with TFLiteRunner(path) as runner:
        assert runner.stateful
        outs = [next(iter(runner.run(x).values())) for _ in range(2)]
        np.testing.assert_array_equal(outs[0], outs[1])
        np.testing.assert_allclose(outs[0], expected, rtol=1e-4, atol=1e-5)
    # The trap this default avoids: the fused op carries h/c from one invoke into the next.
    with TFLiteRunner(path, reset_variables=False) as runner:
        outs = [next(iter(runner.run(x).values())) for _ in range(2)]
        assert np.abs(outs[0] - outs[1]).max() > 1e-4
        runner.reset_state()
        np.testing.assert_array_equal(next(iter(runner.run(x).values())), outs[0])


def test_close_and_bad_construction(write):
    runner = TFLiteRunner(write(tm.conv_model()))
    runner.close()
    runner.close()
    with pytest.raises(RuntimeError, match="closed"):
        runner.run(_clip((1, 16, 16, 3)))
    with pytest.raises(UserError, match="num_threads"):
        TFLiteRunner(write(tm.conv_model()), num_threads=0)
    with pytest.raises(UserError, match="unknown signature 'main'"):
        TFLiteRunner(write(tm.conv_model()), signature="main")
    with pytest.raises(UserError, match="not a TFLite model"):
        TFLiteRunner(write(b"hello, this is text", "text.tflite"))


def test_xnnpack_stats_plain_conv_is_fully_delegated(write):
    (stats,) = xnnpack_stats(write(tm.conv_model()), num_threads=2)
    assert (stats.total_ops, stats.delegated_ops, stats.partitions, stats.cpu_ops) == (3, 3, 1, ())
    assert stats.partition_ops == ((0, 1, 2),)
    assert stats.fully_delegated and "100%" in stats.summary()
    (stats,) = xnnpack_stats(tm.conv_model("int8"))
    assert stats.fully_delegated


def test_xnnpack_stats_leave_the_fused_lstm_and_conv3d_on_tflite_kernels(write):
    (lstm,) = xnnpack_stats(write(tm.lstm_model()))
    assert not lstm.fully_delegated and lstm.fraction < 1.0
    assert (0, "UNIDIRECTIONAL_SEQUENCE_LSTM") in lstm.cpu_ops
    (conv3d,) = xnnpack_stats(tm.conv3d_model())
    assert [name for _, name in conv3d.cpu_ops] == ["CONV_3D"]
    assert conv3d.delegated_ops == conv3d.total_ops - 1 and conv3d.partitions == 1


def test_xnnpack_stats_cover_every_signature():
    stats = xnnpack_stats(tm.multi_signature_model()[0])
    assert sorted(s.signatures for s in stats) == [("combine",), ("encode",)]
    assert all(s.fully_delegated and s.partitions == 1 for s in stats)


def test_xnnpack_partitions_match_our_partitioning_of_the_same_ops():
    """TFLite's greedy partitioning, observed through XNNPACK, equals gpu_check's simulation of it.

    The ops are reordered (RELU, SLICE, MUL, ADD, ...) so that the greedy rule matters: RELU and
    MUL share a partition although a CPU-only slice runs between them.
    """
    model_t = schema.ModelT.InitFromPackedBuf(tm.strided_slice_model(), 0)
    ops = model_t.subgraphs[0].operators
    names = [parse_model(tm.strided_slice_model()).subgraphs[0].operators[i].op for i in range(len(ops))]
    assert names == ["RELU", "MUL", "STRIDED_SLICE", "ADD", "TANH", "STRIDED_SLICE", "SUB"]
    model_t.subgraphs[0].operators = [ops[i] for i in (0, 2, 1, 3, 4, 5, 6)]
    builder = flatbuffers.Builder(0)
    builder.Finish(model_t.Pack(builder), file_identifier=b"TFL3")
    data = bytes(builder.Output())
    (stats,) = xnnpack_stats(data)
    assert [name for _, name in stats.cpu_ops] == ["STRIDED_SLICE", "STRIDED_SLICE"]
    assert sorted(stats.partition_ops) == [(0, 2), (3, 4), (6,)]
    supported = {i for p in stats.partition_ops for i in p}
    subsets = partition_nodes(parse_model(data).subgraphs[0], supported)
    simulated = [tuple(nodes) for delegated, nodes in subsets if delegated]
    assert sorted(simulated) == sorted(stats.partition_ops)
