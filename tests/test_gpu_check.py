"""The static GPU delegate check: models the delegate refuses, models it takes whole, the CLI."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import flatbuffers
import pytest
import tflite_models as tm
from ai_edge_litert import schema_py_generated as schema

from edge_slr.runtime.gpu_check import GpuCheckConfig, check_file, check_model
from edge_slr.runtime.tflite_file import parse_model

MEDIAPIPE = Path(__file__).resolve().parents[2] / "shared" / "models" / "mediapipe"


def _check(data: bytes, **config) -> object:
    return check_model(parse_model(data, "model.tflite"), GpuCheckConfig(**config))


def _verdicts(report) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for op in report.subgraphs[0].ops:
        out.setdefault(op.op, set()).add(op.verdict)
    return out


def _edit(data: bytes, change) -> bytes:
    model_t = schema.ModelT.InitFromPackedBuf(data, 0)
    change(model_t)
    builder = flatbuffers.Builder(0)
    builder.Finish(model_t.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def test_plain_float_model_is_fully_delegable():
    report = _check(tm.conv_model())
    assert report.fully_delegable
    sg = report.subgraphs[0]
    assert [(op.op, op.verdict, op.runs_on) for op in sg.ops] == [
        ("CONV_2D", "ok", "gpu"), ("MEAN", "ok", "gpu"), ("FULLY_CONNECTED", "ok", "gpu")]
    assert sg.partitions == ((0, 1, 2),)
    assert "all 3 ops" in sg.summary()


def test_int8_model_passes_with_quantized_ops_and_fails_without():
    assert _check(tm.conv_model("int8")).fully_delegable
    strict = _check(tm.conv_model("int8"), allow_quant_ops=False)
    assert not strict.fully_delegable
    assert any("is int8" in reason for op in strict.subgraphs[0].ops for reason in op.reasons)


def test_fp16_weight_dequantize_is_folded_into_the_gpu_partition():
    report = _check(tm.conv_model("fp16"))
    assert report.fully_delegable
    verdicts = _verdicts(report)
    assert verdicts["DEQUANTIZE"] == {"folded"} and verdicts["CONV_2D"] == {"ok"}
    assert all(op.runs_on == "gpu" for op in report.subgraphs[0].ops)


def test_conv3d_model_fails_on_op_and_rank():
    report = _check(tm.conv3d_model())
    assert not report.fully_delegable
    conv3d = next(op for op in report.subgraphs[0].ops if op.op == "CONV_3D")
    assert conv3d.verdict == "refused" and conv3d.runs_on == "cpu"
    assert any("CONV_3D is not supported" in r for r in conv3d.reasons)
    assert any("rank 5 > 4" in r for r in conv3d.reasons)
    assert report.refused_counts()["CONV_3D"] == 1


def test_rank5_reshape_fails_and_splits_the_graph_into_partitions():
    report = _check(tm.rank5_reshape_model())
    sg = report.subgraphs[0]
    assert not report.fully_delegable
    assert _verdicts(report) == {"CONV_2D": {"ok"}, "RESHAPE": {"refused"}, "MUL": {"refused"}}
    reshape = next(op for op in sg.ops if op.op == "RESHAPE")
    assert any("[1, 8, 8, 2, 2] has rank 5" in r for r in reshape.reasons)
    # Supported convs before and after the 5-D island: two partitions, only one runs on the GPU by default.
    assert [len(p) for p in sg.partitions] == [1, 1]
    assert sg.n_on_gpu == 1
    assert "only the largest partition runs on GPU" in sg.summary()
    assert _check(tm.rank5_reshape_model(), max_delegated_partitions=2).subgraphs[0].n_on_gpu == 2


def test_fused_lstm_model_fails():
    report = _check(tm.lstm_model())
    assert not report.fully_delegable
    lstm = report.subgraphs[0].ops[0]
    assert (lstm.op, lstm.verdict) == ("UNIDIRECTIONAL_SEQUENCE_LSTM", "refused")


def test_every_signature_subgraph_is_checked():
    report = _check(tm.multi_signature_model()[0])
    assert report.fully_delegable
    assert sorted(sig for sg in report.subgraphs for sig in sg.signatures) == ["combine", "encode"]


def test_split_is_refused_on_the_opengl_backend_only():
    assert _check(tm.split_model()).fully_delegable
    gl = _check(tm.split_model(), backend="opengl")
    assert _verdicts(gl)["SPLIT"] == {"refused"}


def test_op_version_above_the_parsers_maximum_is_refused():
    def bump_conv(model_t):
        # The CONV_2D parser takes versions up to 6.
        model_t.operatorCodes[model_t.subgraphs[0].operators[0].opcodeIndex].version = 7

    report = _check(_edit(tm.conv_model(), bump_conv))
    conv = report.subgraphs[0].ops[0]
    assert conv.verdict == "refused" and conv.reasons == ("version 7 > 6 supported",)


def test_unknown_custom_op_is_refused():
    def make_custom(model_t):
        code = model_t.operatorCodes[model_t.subgraphs[0].operators[1].opcodeIndex]
        code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.CUSTOM
        code.customCode = "MyPooling"

    report = _check(_edit(tm.conv_model(), make_custom))
    assert report.subgraphs[0].ops[1].reasons[0] == "custom op MyPooling is not supported by the GPU delegate"


def test_mediapipe_hand_models_are_fully_delegable():
    """Real GPU-targeted models (MediaPipe runs these on the GPU delegate): no false refusals."""
    bundle = MEDIAPIPE / "hand_landmarker.task"
    if not bundle.exists():
        pytest.skip(f"shared MediaPipe bundle not found at {bundle}")
    with zipfile.ZipFile(io.BytesIO(bundle.read_bytes())) as zf:
        names = [n for n in zf.namelist() if n.endswith(".tflite")]
        assert len(names) == 2
        for name in names:
            report = check_model(parse_model(zf.read(name), name))
            assert report.fully_delegable, report.format_text()


@pytest.mark.slow
def test_edge_form_of_r2plus1d_is_fully_delegable():
    """The exported edge graph of the flagship family is 4-D only and runs whole on the GPU delegate."""
    from edge_slr.models import create_model
    from edge_slr.utils.tf_env import import_tf

    tf, _ = import_tf()
    model = create_model("r2plus1d_small", num_classes=5, frames=8, size=32, width=0.25, form="4d")
    fn = tf.function(lambda x: model(x, training=False)).get_concrete_function(
        tf.TensorSpec((8, 32, 32, 3), tf.float32))
    report = _check(tf.lite.TFLiteConverter.from_concrete_functions([fn], model).convert())
    assert report.fully_delegable, report.format_text()


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge_slr.cli", "check-gpu", *args], capture_output=True,
                          text=True, timeout=120)


def test_cli_exit_codes_table_and_json(tmp_path):
    good, bad = tmp_path / "conv.tflite", tmp_path / "lstm.tflite"
    good.write_bytes(tm.conv_model())
    bad.write_bytes(tm.lstm_model())
    ok = _cli(str(good))
    assert ok.returncode == 0, ok.stderr
    assert "CONV_2D" in ok.stdout and "the whole model can run on the GPU delegate" in ok.stdout
    refused = _cli(str(bad))
    assert refused.returncode == 1, refused.stderr
    assert "refused" in refused.stdout and "UNIDIRECTIONAL_SEQUENCE_LSTM" in refused.stdout
    report = json.loads(_cli(str(bad), "--json").stdout)
    assert report["fully_delegable"] is False and report["refused"]["UNIDIRECTIONAL_SEQUENCE_LSTM"] == 1
    assert report["litert_commit"] == check_file(str(bad)).litert_commit


@pytest.mark.parametrize("content", [None, b"", b"just some text, not a model\n", b"\x00" * 7 + b"\x01" * 60])
def test_cli_bad_file_is_one_line_exit_2(tmp_path, content):
    path = tmp_path / "model.tflite"
    if content is not None:
        path.write_bytes(content)
    out = _cli(str(path))
    assert out.returncode == 2
    assert out.stdout == "" and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and out.stderr.startswith("edge-slr check-gpu: error:")
