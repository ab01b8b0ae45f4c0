"""Causal (2+1)D streaming: step signatures from the zero state equal the causal full-clip model frame by frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_export import FORBIDDEN_OPS
from test_models import randomize_batchnorm

from edge_slr.export.exporter import ExportConfig, export
from edge_slr.models import get_model_info
from edge_slr.models.io import load_keras_model
from edge_slr.runtime.clip_classifier import ClipClassifier
from edge_slr.runtime.gpu_check import check_file
from edge_slr.runtime.streaming import PhaseStream, open_frame_stream
from edge_slr.runtime.tflite_file import load_model
from edge_slr.train.init_run import init_run
from edge_slr.train.run_folder import BEST_MODEL

FRAMES, SIZE = 8, 32


def test_causal_stream_equals_full_clip_model_at_every_ready_frame(tiny_dataset, tmp_path):
    arch = "r2plus1d_small_causal"
    run = init_run(tmp_path / "run", arch, tiny_dataset, frames=FRAMES, size=SIZE)
    model = load_keras_model(run / BEST_MODEL)
    randomize_batchnorm(model)  # so BN is not an identity the stream could get away with skipping
    model.save(run / BEST_MODEL)
    report = export(ExportConfig(source=run, quant="fp32", streaming=True, val_clips=2))

    parsed = load_model(report.path)
    assert not set(parsed.op_counts()) & FORBIDDEN_OPS
    assert max(len(t.shape) for sg in parsed.subgraphs for t in sg.tensors) <= 4
    assert check_file(report.path).fully_delegable
    assert [x["name"] for x in report.xnnpack] == ["every_1", "every_2", "every_4"]  # total temporal stride 4
    assert all(x["delegated_ops"] == x["total_ops"] and x["partitions"] == 1 for x in report.xnnpack)
    assert report.parity.max_abs_logit_diff < 1e-4

    stream_len = 2 * FRAMES + 3  # past one clip, ending off the stride pattern
    frames = np.random.default_rng(0).uniform(0, 255, (stream_len, SIZE, SIZE, 3)).astype(np.float32)
    with ClipClassifier(report.path) as classifier:
        stream = open_frame_stream(classifier.runner, classifier.card)
        assert isinstance(stream, PhaseStream)
        # Frame n runs every step whose period divides n + 1, fastest first.
        assert stream.schedule == (("every_1",), ("every_1", "every_2"), ("every_1",),
                                   ("every_1", "every_2", "every_4"))
        got = []
        for frame in frames:
            stream.push(frame)
            got.append(stream.logits())
        stream.reset()
        assert not stream.ready and stream.logits() is None
        # The state lives in the runner's step signature buffers: a second stream zeroes and takes them over.
        other = open_frame_stream(classifier.runner, classifier.card)
        with pytest.raises(RuntimeError, match="open a new stream"):
            stream.push(frames[0])
        for frame in frames[:FRAMES]:
            other.push(frame)
        np.testing.assert_allclose(other.logits(), got[FRAMES - 1], atol=1e-6)
        # A tool may time the steps alone (they overwrite state outputs); reset makes the stream whole again.
        assert set(other.steps) == {"every_1", "every_2", "every_4"}
        for bound in other.steps.values():
            bound.invoke()
        other.reset()
        for frame in frames[:FRAMES]:
            other.push(frame)
        np.testing.assert_allclose(other.logits(), got[FRAMES - 1], atol=1e-6)
    assert all(g is None for g in got[:FRAMES - 1])
    builder = get_model_info(arch).builder
    window = FRAMES // 4  # final positions of one training clip
    for n in range(FRAMES - 1, stream_len):
        # The causal model on every frame so far, pooling the last clip-long span: what the stream promises.
        ref = builder(num_classes=model.output_shape[-1], frames=n + 1, size=SIZE, width=0.25, form="5d",
                      pool_window=window)
        ref.set_weights(model.get_weights())
        expected = ref(frames[None, :n + 1], training=False).numpy()[0]
        np.testing.assert_allclose(got[n], expected, atol=1e-4, err_msg=f"frame {n}")


def test_full_clip_3d_model_refuses_streaming(tiny_dataset, tmp_path):
    from edge_slr.errors import UserError

    run = init_run(tmp_path / "run", "r2plus1d_small", tiny_dataset, frames=4, size=32)
    with pytest.raises(UserError, match="_causal"):
        export(ExportConfig(source=run, quant="fp32", streaming=True, val_clips=0))


def test_int8_causal_stream_passes_int8_state_between_steps_with_one_scale(tiny_dataset, tmp_path):
    """Full-integer streams keep their state int8 (a quarter of the bytes to copy, no QUANTIZE/DEQUANTIZE per
    state) with one scale per state in every signature, so a host copies it as it is; and still track Keras."""
    from test_export import assert_edge_graph

    run = init_run(tmp_path / "run", "r2plus1d_small_causal", tiny_dataset, frames=FRAMES, size=SIZE)
    report = export(ExportConfig(source=run, quant="int8", streaming=True, calib=8, val_clips=6))
    assert_edge_graph(report.path)
    assert all(x["delegated_ops"] == x["total_ops"] and x["partitions"] == 1 for x in report.xnnpack)
    assert report.io_dtype == "int8"

    parsed = load_model(report.path)
    assert not {"QUANTIZE", "DEQUANTIZE"} & set(parsed.op_counts())
    quantization: dict[str, set] = {}
    for sig in parsed.signatures:
        graph = parsed.subgraphs[sig.subgraph_index]
        for name, index in [*sig.inputs.items(), *sig.outputs.items()]:
            tensor = graph.tensors[index]
            if name != "logits":
                assert tensor.dtype == "int8", (sig.key, name)
                q = tensor.quantization
                quantization.setdefault(name, set()).add((f"{q.scales[0]:.6g}", q.zero_points[0]))
    assert quantization and all(len(v) == 1 for v in quantization.values()), quantization
    assert quantization["frame"] == {("1", -128)}  # raw 0..255 pixels, exact
    # The exporter's parity streams each validation clip through PhaseStream (state copied step to step).
    assert report.parity.clips == 6 and report.parity.top1_agreement >= 0.8, report.parity


def test_a_stream_card_with_one_phase_signature_per_frame_gets_a_one_line_error():
    """Causal streams exported before the step signatures named one signature per frame position."""
    from edge_slr.errors import UserError
    from edge_slr.runtime.runner import TFLiteRunner

    twin = Path(__file__).resolve().parents[1] / "export" / "demo_r2plus1d_small_causal_int8_stream.tflite"
    old = {"mode": "causal_phases", "schedule": ["phase_0", "phase_1"], "frame_input": "frame",
           "logits_output": "logits", "ready_after_frames": 16}
    with TFLiteRunner(twin) as runner, pytest.raises(UserError, match="re-export it with"):
        PhaseStream(runner, old)
