"""Reading and editing .tflite files without TensorFlow: structure, metadata, bad files."""

from __future__ import annotations

import json
import subprocess
import sys

import flatbuffers
import numpy as np
import pytest
import tflite_models as tm
from ai_edge_litert import schema_py_generated as schema
from ai_edge_litert.interpreter import Interpreter

from edge_slr.errors import UserError
from edge_slr.runtime.tflite_file import (
    extract_subgraph,
    load_model,
    parse_model,
    read_model_bytes,
    set_metadata,
    write_metadata,
)


def _repack(model_t) -> bytes:
    builder = flatbuffers.Builder(0)
    builder.Finish(model_t.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _invoke(data: bytes, x: np.ndarray) -> np.ndarray:
    interpreter = Interpreter(model_content=data)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def test_reads_ops_tensors_and_signature_of_a_float_model():
    model = parse_model(tm.conv_model(), "conv.tflite")
    sg = model.subgraphs[0]
    assert [op.op for op in sg.operators] == ["CONV_2D", "MEAN", "FULLY_CONNECTED"]
    assert all(op.version >= 1 for op in sg.operators)
    conv = sg.operators[0]
    assert conv.options["stride_w"] == 1 and conv.options["fused_activation_function"] == 1  # RELU fused
    x = sg.tensors[sg.inputs[0]]
    assert (x.shape, x.dtype, x.is_constant, x.quantization) == ((1, 16, 16, 3), "float32", False, None)
    weights = sg.tensors[conv.inputs[1]]
    assert weights.is_constant and weights.shape == (4, 3, 3, 3)
    assert sg.tensors[sg.outputs[0]].shape == (1, 5)
    (sig,) = model.signatures
    assert sig.key == "serving_default" and sig.subgraph_index == 0
    assert list(sig.inputs.values()) == [sg.inputs[0]] and list(sig.outputs.values()) == [sg.outputs[0]]
    assert model.op_counts() == {"CONV_2D": 1, "MEAN": 1, "FULLY_CONNECTED": 1}
    assert "min_runtime_version" in model.metadata
    assert not model.has_control_flow


def test_int8_model_has_per_tensor_and_per_channel_quantization():
    sg = parse_model(tm.conv_model("int8")).subgraphs[0]
    x = sg.tensors[sg.inputs[0]]
    assert x.dtype == "int8" and x.quantization.per_tensor and x.quantization.scales[0] > 0
    conv_weights = sg.tensors[sg.operators[0].inputs[1]]
    assert conv_weights.dtype == "int8"
    assert len(conv_weights.quantization.scales) == 4  # one per output channel


def test_fused_lstm_keeps_state_in_variable_tensors():
    sg = parse_model(tm.lstm_model()).subgraphs[0]
    assert sg.operators[0].op == "UNIDIRECTIONAL_SEQUENCE_LSTM"
    assert sum(t.is_variable for t in sg.tensors) == 2  # h and c
    assert -1 in sg.operators[0].inputs  # omitted optional inputs (peepholes, projection)


def test_multi_signature_model_lists_each_signature_and_subgraph():
    model = parse_model(tm.multi_signature_model()[0])
    sigs = {s.key: s for s in model.signatures}
    assert set(sigs) == {"encode", "combine"}
    assert sorted(s.subgraph_index for s in sigs.values()) == [0, 1]
    assert set(sigs["combine"].inputs) == {"a", "b"} and set(sigs["combine"].outputs) == {"s"}
    enc = model.subgraphs[sigs["encode"].subgraph_index]
    assert [op.op for op in enc.operators] == ["FULLY_CONNECTED"]


def test_op_code_is_the_larger_of_builtin_and_deprecated_code():
    """Files from before the int32 builtin_code field only fill deprecated_builtin_code."""
    model_t = schema.ModelT.InitFromPackedBuf(tm.conv_model(), 0)
    for code in model_t.operatorCodes:
        code.deprecatedBuiltinCode, code.builtinCode = code.builtinCode, 0
    old_style = parse_model(_repack(model_t))
    assert [op.op for op in old_style.subgraphs[0].operators] == ["CONV_2D", "MEAN", "FULLY_CONNECTED"]


def test_custom_op_name_includes_its_code():
    model_t = schema.ModelT.InitFromPackedBuf(tm.conv_model(), 0)
    code = model_t.operatorCodes[model_t.subgraphs[0].operators[0].opcodeIndex]
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.CUSTOM
    code.customCode = "MaxUnpooling2D"
    op = parse_model(_repack(model_t)).subgraphs[0].operators[0]
    assert (op.op, op.custom_code, op.name) == ("CUSTOM", "MaxUnpooling2D", "CUSTOM(MaxUnpooling2D)")


def test_metadata_round_trip_keeps_the_model_identical(tmp_path):
    data = tm.conv_model("int8")
    card = {"labels": ["a", "b", "c", "d", "e"], "fps": 25, "quantization": "int8"}
    with_card = set_metadata(data, "edge_slr_metadata", json.dumps(card).encode())
    model = parse_model(with_card)
    assert model.metadata_json("edge_slr_metadata") == card
    assert set(parse_model(data).metadata) < set(model.metadata)  # converter entries kept
    # Replacing keeps one entry, and the file still computes exactly the same outputs.
    replaced = set_metadata(with_card, "edge_slr_metadata", b'{"fps": 30}')
    assert parse_model(replaced).metadata_json("edge_slr_metadata") == {"fps": 30}
    assert sum(1 for m in schema.ModelT.InitFromPackedBuf(replaced, 0).metadata
               if m.name == b"edge_slr_metadata") == 1
    x = np.random.default_rng(0).integers(-128, 128, (1, 16, 16, 3)).astype(np.int8)
    np.testing.assert_array_equal(_invoke(replaced, x), _invoke(data, x))
    # In-place file write, and every weight buffer stays 16-byte aligned.
    path = tmp_path / "m.tflite"
    path.write_bytes(data)
    write_metadata(path, "edge_slr_metadata", b'{"fps": 12}')
    assert load_model(path).metadata_json("edge_slr_metadata") == {"fps": 12}
    root = schema.Model.GetRootAs(path.read_bytes(), 0)
    for i in range(root.BuffersLength()):
        buf = root.Buffers(i)
        if buf.DataLength():
            assert buf._tab.Vector(buf._tab.Offset(4)) % 16 == 0, f"buffer {i} misaligned"


def test_metadata_that_is_not_json_is_a_user_error():
    model = parse_model(set_metadata(tm.conv_model(), "edge_slr_metadata", b"\xff not json"))
    assert model.metadata_json("absent") is None
    with pytest.raises(UserError, match="not UTF-8 JSON"):
        model.metadata_json("edge_slr_metadata")


def test_extract_subgraph_gives_a_runnable_single_signature_model():
    data, w = tm.multi_signature_model()
    index = next(s.subgraph_index for s in parse_model(data).signatures if s.key == "encode")
    single = extract_subgraph(data, index)
    model = parse_model(single)
    assert [s.key for s in model.signatures] == ["encode"] and len(model.subgraphs) == 1
    x = np.arange(4, dtype=np.float32).reshape(1, 4)
    np.testing.assert_allclose(_invoke(single, x), x @ w, rtol=1e-6)
    with pytest.raises(UserError, match="index 5 does not exist"):
        extract_subgraph(data, 5)


@pytest.mark.parametrize("content,message", [
    (b"", "is empty"),
    (b"def main():\n    return 0\n", "is not a TFLite model"),
    (bytes(np.random.default_rng(1).integers(0, 256, 300, dtype=np.uint8)), "is not a TFLite model"),
    (b"\x10\x00\x00\x00TFL3" + b"\xff" * 40, "corrupt"),
    ("truncated", "corrupt"),
])
def test_bad_files_are_one_line_user_errors(tmp_path, content, message):
    if content == "truncated":
        content = tm.conv_model()[:300]
    path = tmp_path / "bad.tflite"
    path.write_bytes(content)
    with pytest.raises(UserError, match=message) as info:
        load_model(path)
    assert "\n" not in str(info.value)


def test_missing_file_and_folder_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        read_model_bytes(tmp_path / "nope.tflite")
    with pytest.raises(UserError, match="is a folder"):
        read_model_bytes(tmp_path)


def test_runtime_modules_do_not_import_tensorflow():
    code = ("import sys\n"
            "import edge_slr.runtime.tflite_file, edge_slr.runtime.gpu_check\n"
            "import edge_slr.runtime.xnnpack, edge_slr.runtime.runner\n"
            "import edge_slr.bench.commands, edge_slr.bench.latency, edge_slr.bench.report\n"
            "import edge_slr.bench.profile, edge_slr.bench.litert_tool\n"
            "import edge_slr.hands, edge_slr.data.preprocess, edge_slr.data.hand_crops\n"
            "import edge_slr.live.commands, edge_slr.bench.pipeline, edge_slr.runtime.streaming\n"
            "from edge_slr.live.pipeline import LiveConfig, LivePipeline\n"
            "from edge_slr.live.commands import demo_model_path\n"
            "LivePipeline(LiveConfig(source='synth:0:1', model=demo_model_path(), threads=1, every_frame=True,\n"
            "                        realtime=False)).run()  # a whole live run, not just the imports\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'tensorflow', 'tf_keras', 'keras'})\n"
            "assert not bad, bad\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
