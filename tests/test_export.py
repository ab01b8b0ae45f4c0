"""export-tflite: every architecture exports to a 4-D graph that the GPU delegate and XNNPACK take whole."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from edge_slr.data.info import load_dataset_info
from edge_slr.export.exporter import ExportConfig, export
from edge_slr.models import create_model, list_models
from edge_slr.runtime.gpu_check import check_file
from edge_slr.runtime.model_card import METADATA_NAME
from edge_slr.runtime.runner import TFLiteRunner
from edge_slr.runtime.streaming import init_state
from edge_slr.runtime.tflite_file import load_model
from edge_slr.train.init_run import init_run
from edge_slr.train.run_folder import BEST_MODEL

FORBIDDEN_OPS = {"CONV_3D", "UNIDIRECTIONAL_SEQUENCE_LSTM", "WHILE"}


def assert_edge_graph(path: str) -> None:
    model = load_model(path)
    ops = set(model.op_counts())
    assert not ops & FORBIDDEN_OPS, ops
    ranks = [len(t.shape) for sg in model.subgraphs for t in sg.tensors]
    assert max(ranks) <= 4
    assert check_file(path).fully_delegable


@pytest.mark.slow
@pytest.mark.parametrize("arch", [m.name for m in list_models() if m.name != "r2plus1d_18_causal"])
def test_every_architecture_exports_fp32_and_int8_to_delegable_graphs(arch, tiny_dataset, tmp_path):
    run = init_run(tmp_path / arch, arch, tiny_dataset)
    # The 18-layer nets repeat their small siblings' ops: int8, the stricter format, is enough for them here
    # (tools/export_matrix.py runs every format on every architecture); the causal twins differ only in padding
    # and head (their streaming exports are checked in test_streaming_causal.py), so r2plus1d_18_causal is left
    # to r2plus1d_18 and r2plus1d_small_causal here.
    for quant in ("int8",) if arch.endswith(("_18", "_small_causal")) else ("fp32", "int8"):
        report = export(ExportConfig(source=run, quant=quant, calib=2, val_clips=2))
        assert_edge_graph(report.path)
        assert report.gpu_compatible
        assert all(x["delegated_ops"] == x["total_ops"] and x["partitions"] == 1 for x in report.xnnpack), \
            report.xnnpack
        assert report.parity is not None and report.parity.clips == 2
        if quant == "fp32":
            assert report.parity.max_abs_logit_diff < 1e-3


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["cnn3d", "cnn_lstm"])
def test_fp16_and_dynamic_exports(arch, tiny_dataset, tmp_path):
    run = init_run(tmp_path / arch, arch, tiny_dataset)
    sizes = {}
    for quant in ("fp32", "fp16", "dynamic"):
        report = export(ExportConfig(source=run, quant=quant, val_clips=2))
        assert_edge_graph(report.path)
        assert all(x["delegated_ops"] == x["total_ops"] for x in report.xnnpack), report.xnnpack
        sizes[quant] = report.size_bytes
        assert report.parity.top1_agreement == 1.0 or report.parity.max_abs_logit_diff < 0.1
    assert sizes["fp16"] < 0.7 * sizes["fp32"] and sizes["dynamic"] < 0.5 * sizes["fp32"]


def test_streaming_signatures_match_the_full_clip_model(tiny_dataset, tmp_path):
    run = init_run(tmp_path / "lstm", "cnn_lstm", tiny_dataset, frames=8, size=48)
    report = export(ExportConfig(source=run, quant="fp32", streaming=True, val_clips=3))
    assert set(load_model(report.path).op_counts()) & FORBIDDEN_OPS == set()
    assert check_file(report.path).fully_delegable
    from edge_slr.models.io import load_keras_model

    reference = load_keras_model(run / BEST_MODEL)
    clip = np.random.default_rng(0).uniform(0, 255, (1, 8, 48, 48, 3)).astype(np.float32)
    expected = reference(clip, training=False).numpy()[0]
    with TFLiteRunner(report.path) as runner:
        assert set(runner.signatures) == {"encode_frame", "lstm_step", "classify"}
        assert not runner.stateful, "state must be explicit inputs/outputs, not variable tensors"
        state = init_state(runner)
        assert sorted(state) == sorted(f"{p}_{n}" for p in "hc" for n in ("lstm1", "lstm2"))
        features = []
        for t in range(8):
            feature = runner.run(clip[:, t], "encode_frame")["feature"]
            features.append(feature[0])
            out = runner.run({"feature": feature, **state}, "lstm_step")
            state = {name: out[name] for name in state}
        np.testing.assert_allclose(out["logits"][0], expected, atol=1e-4)
        window = runner.run(np.stack(features), "classify")["logits"][0]
        np.testing.assert_allclose(window, expected, atol=1e-4)
    assert report.parity.max_abs_logit_diff < 1e-4


def test_int8_streaming_export_is_full_integer_and_tracks_the_float_model(tiny_dataset, tmp_path):
    """Every signature calibrated (frames, running LSTM state, feature windows): int8 convs and FCs, float I/O."""
    run = init_run(tmp_path / "lstm", "cnn_lstm", tiny_dataset, frames=8, size=48)
    report = export(ExportConfig(source=run, quant="int8", streaming=True, calib=3, val_clips=3))
    assert_edge_graph(report.path)
    assert all(x["delegated_ops"] == x["total_ops"] for x in report.xnnpack), report.xnnpack
    model = load_model(report.path)
    by_key = {s.key: model.subgraphs[s.subgraph_index] for s in model.signatures}
    for key in ("encode_frame", "lstm_step"):
        graph = by_key[key]
        kinds = {graph.tensors[op.inputs[1]].dtype for op in graph.operators if op.op in ("CONV_2D",
                                                                                           "FULLY_CONNECTED")}
        assert kinds == {"int8"}, (key, kinds)
    from edge_slr.models.io import load_keras_model

    reference = load_keras_model(run / BEST_MODEL)
    clip = np.random.default_rng(1).uniform(0, 255, (1, 8, 48, 48, 3)).astype(np.float32)
    expected = reference(clip, training=False).numpy()[0]
    with TFLiteRunner(report.path) as runner:
        assert not runner.stateful
        state = init_state(runner)
        for t in range(8):
            feature = runner.run(clip[:, t], "encode_frame")["feature"]
            out = runner.run({"feature": feature, **state}, "lstm_step")
            state = {name: out[name] for name in state}
    spread = float(expected.max() - expected.min())
    assert np.abs(out["logits"][0] - expected).max() < 0.25 * spread + 0.05, (out["logits"][0], expected)
    assert report.parity is not None and report.parity.clips == 3


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge_slr.cli", *args], capture_output=True, text=True, timeout=600)


def test_cli_int8_export_writes_model_card_sidecar_and_report(tiny_dataset, tmp_path):
    run = init_run(tmp_path / "run", "r2plus1d_small", tiny_dataset)
    out = tmp_path / "model.tflite"
    result = _cli("export-tflite", str(run), "--quant", "int8", "--calib", "3", "--val-clips", "4",
                  "--io-dtype", "uint8", "--out", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "GPU      compatible" in result.stdout and "parity" in result.stdout
    card = load_model(out).metadata_json(METADATA_NAME)
    assert card == json.loads(out.with_suffix(".json").read_text())
    assert card["labels"] == list(load_dataset_info(tiny_dataset).classes)
    assert card["input"]["dtype"] == "uint8" and card["input"]["shape"] == [8, 48, 48, 3]
    assert card["quantization"] == "int8" and card["flops_per_clip"] > 0 and len(card["content_sha256"]) == 64
    report = json.loads(out.with_suffix(".report.json").read_text())
    assert report["parity"]["clips"] == 4 and report["gpu_compatible"]
    with TFLiteRunner(out) as runner:
        assert runner.input_specs()[0].dtype == np.uint8
    assert _cli("check-gpu", str(out)).returncode == 0
    assert not list(tmp_path.glob(".*.tflite*")), "no temporary files left behind"


@pytest.mark.parametrize("args,message", [
    (["export-tflite", "/nonexistent/run"], "does not exist"),
    (["export-tflite", "RUN", "--quant", "int4"], "unknown quantization 'int4'"),
    (["export-tflite", "RUN", "--io-dtype", "uint8"], "needs a full-integer format"),
    (["export-tflite", "RUN", "--streaming"], "applies to the CNN+LSTM family"),
    (["export-tflite", "RUN", "--quant", "qat", "--calib-data", "/nonexistent"], "no dataset.json"),
])
def test_cli_bad_input_is_one_line(args, message, tiny_dataset, tmp_path):
    run = init_run(tmp_path / "run", "r3d_small", tiny_dataset, frames=4, size=32)
    result = _cli(*[str(run) if a == "RUN" else a for a in args])
    assert result.returncode == 2, result.stderr[-2000:]
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (run / "export").exists() or not any((run / "export").iterdir())


def test_failed_conversion_leaves_no_model(tiny_dataset, tmp_path, monkeypatch):
    import edge_slr.export.exporter as exporter

    run = init_run(tmp_path / "run", "r3d_small", tiny_dataset, frames=4, size=32)

    def broken_sidecar(path, obj):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(exporter, "write_json", broken_sidecar)
    with pytest.raises(OSError):
        export(ExportConfig(source=run, quant="fp32", val_clips=0))
    leftovers = [p.name for p in (run / "export").iterdir()] if (run / "export").exists() else []
    assert all(not name.startswith(".") for name in leftovers), leftovers


def test_lowered_conv2d_model_matches_the_edge_model():
    """QAT lowers SpatioTemporalConv to Keras Conv2D; the function must not change."""
    from edge_slr.export.qat import lower_to_conv2d

    ref = create_model("r3d_r2plus1d", 4, frames=8, size=32, width=0.25)
    edge = create_model("r3d_r2plus1d", 4, frames=8, size=32, width=0.25, form="4d")
    edge.set_weights(ref.get_weights())
    lowered = lower_to_conv2d(edge)
    x = np.random.default_rng(3).uniform(0, 255, (16, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(lowered(x).numpy(), edge(x).numpy(), atol=1e-4)
    assert not any(type(layer).__name__ == "SpatioTemporalConv" for layer in lowered.layers)


@pytest.mark.slow
def test_qat_export_is_full_integer_and_delegable(tiny_dataset, tmp_path):
    run = init_run(tmp_path / "run", "r2plus1d_small", tiny_dataset)
    report = export(ExportConfig(source=run, quant="qat", qat_epochs=1, calib=2, val_clips=3))
    assert_edge_graph(report.path)
    assert all(x["delegated_ops"] == x["total_ops"] for x in report.xnnpack), report.xnnpack
    graph = load_model(report.path).subgraphs[0]
    conv_inputs = [graph.tensors[op.inputs[0]].dtype for op in graph.operators if op.op == "CONV_2D"]
    assert conv_inputs and set(conv_inputs) == {"int8"}, conv_inputs
    assert report.parity is not None and report.parity.clips == 3
