"""`edge-slr bench`: the table, JSON, CSV and plot for models x threads, failed rows, --data and --profile.

Runs the real command in-process on the small exports in ``export/`` (real model cards, a full-clip int8
model and a streaming model) and on tiny models converted in the test. Few runs keep it fast; latency
values are never asserted, only that they are measured and consistent.
"""

from __future__ import annotations

import csv
import json

import data_videos as dv
import matplotlib.image
import numpy as np
import pytest
import tflite_models as tm
from ai_edge_litert.interpreter import Interpreter, OpResolverType
from conftest import ROOT

from edge_slr.bench.commands import parse_threads
from edge_slr.cli import main
from edge_slr.errors import UserError
from edge_slr.runtime.model_card import read_model_card
from edge_slr.runtime.tflite_file import isolated_ops, load_model, parse_model

INT8_CLIP = ROOT / "export" / "r2plus1d_small_int8.tflite"
STREAM = ROOT / "export" / "cnn_lstm_fp32_stream.tflite"
CAUSAL_STREAM = ROOT / "export" / "demo_r2plus1d_small_causal_int8_stream.tflite"


def _bench(capsys, *argv: str) -> tuple[int, str]:
    rc = main(["bench", "--quiet", "--min-time", "0", *map(str, argv)])
    return rc, capsys.readouterr().out


def test_two_models_two_threads_table_json_csv_plot(tmp_path, capsys):
    out_json, out_csv, out_png = tmp_path / "b.json", tmp_path / "b.csv", tmp_path / "b.png"
    rc, out = _bench(capsys, INT8_CLIP, STREAM, "--threads", "1,2", "--runs", "6", "--warmup", "1",
                     "--json", out_json, "--csv", out_csv, "--plot", out_png)
    assert rc == 0
    report = json.loads(out_json.read_text())
    assert report["host"]["cores"] >= 1 and report["host"]["litert_version"] != "not installed"
    assert len(report["load_average_start"]) == 3 and report["peak_rss_mb"] > 0
    rows = report["rows"]
    assert [(r["model"], r["threads"]) for r in rows] == [(INT8_CLIP.name, 1), (INT8_CLIP.name, 2),
                                                           (STREAM.name, 1), (STREAM.name, 2)]
    for r in rows:
        assert r["status"] == "ok", r["reason"]
        assert r["runs"] == 6 and len(r["times_ms"]) == 6 and r["inputs"] == "random"
        assert 0 < r["min_ms"] <= r["p50_ms"] <= r["p90_ms"] <= r["p99_ms"] <= r["max_ms"]
        assert r["p50_ms"] == pytest.approx(float(np.median(r["times_ms"])))
        assert r["load_ms"] > 0 and r["first_ms"] > 0 and r["warmup_ms"] > 0 and r["rss_mb"] >= 0
        assert r["per_second"] == pytest.approx(1e3 / r["mean_ms"])
        assert r["delegated_ops"] == r["total_ops"] > 0  # both exports run wholly on XNNPACK
    clip_card = read_model_card(load_model(INT8_CLIP))
    assert rows[0]["workload"] == "serving_default"
    assert rows[0]["gflop"] == pytest.approx(clip_card.raw["flops_per_clip"] / 1e9)
    assert rows[0]["gflops_per_s"] == pytest.approx(rows[0]["gflop"] / (rows[0]["p50_ms"] / 1e3))
    # The streaming export is timed on its per-new-frame path: one encode_frame and one lstm_step.
    stream_card = read_model_card(load_model(STREAM))
    assert rows[2]["workload"] == "encode_frame+lstm_step"
    assert rows[2]["gflop"] == pytest.approx(stream_card.raw["flops_per_clip"] / stream_card.frames / 1e9)
    # Ratios are to the first model at the same thread count.
    assert rows[0]["vs_first"] == rows[1]["vs_first"] == 1.0
    assert rows[3]["vs_first"] == pytest.approx(rows[3]["p50_ms"] / rows[1]["p50_ms"])
    # The table: header, one line per row, the ratio column.
    assert "ai-edge-litert" in out and "load average" in out
    lines = [ln for ln in out.splitlines() if ln.startswith((INT8_CLIP.name, STREAM.name))]
    assert len(lines) == 4 and lines[0].rstrip().endswith("1.00x")
    with out_csv.open() as f:
        table = list(csv.DictReader(f))
    assert [(r["model"], int(r["threads"])) for r in table] == [(r["model"], r["threads"]) for r in rows]
    assert float(table[3]["p50_ms"]) == pytest.approx(rows[3]["p50_ms"])
    image = matplotlib.image.imread(out_png)
    assert image.ndim == 3 and image.shape[1] > image.shape[0] > 200  # two panels side by side


def test_broken_model_is_a_failed_row_and_the_rest_is_measured(tmp_path, capsys):
    good = tmp_path / "conv.tflite"
    good.write_bytes(tm.conv_model())
    truncated = tmp_path / "truncated.tflite"
    truncated.write_bytes(tm.conv_model()[: len(tm.conv_model()) // 3])
    not_tflite = tmp_path / "notes.tflite"
    not_tflite.write_text("not a model")
    out_json = tmp_path / "b.json"
    rc, out = _bench(capsys, truncated, good, not_tflite, "--threads", "1", "--runs", "4", "--json", out_json)
    assert rc == 0
    rows = json.loads(out_json.read_text())["rows"]
    assert [r["status"] for r in rows] == ["failed", "ok", "failed"]
    assert "corrupt" in rows[0]["reason"] and "not a TFLite model" in rows[2]["reason"]
    # A file without a model card still benchmarks (random inputs, no FLOPs); the failed first
    # model leaves no baseline, so there are no ratios.
    assert rows[1]["runs"] == 4 and rows[1]["gflop"] is None and rows[1]["vs_first"] is None
    assert f"FAILED {truncated.name}" in out and f"FAILED {not_tflite.name}" in out


def test_delegate_that_cannot_load_fails_the_row(tmp_path, capsys):
    fake = tmp_path / "libfake_delegate.so"
    fake.write_bytes(b"\x7fELF not really")
    out_json = tmp_path / "b.json"
    rc, out = _bench(capsys, INT8_CLIP, "--threads", "1", "--runs", "2", "--delegate", fake, "--json", out_json)
    assert rc == 0
    (row,) = json.loads(out_json.read_text())["rows"]
    assert row["status"] == "failed" and row["reason"].startswith(f"cannot load delegate {fake}")
    assert "\n" not in row["reason"]
    # No delegate: TFLite's own kernels, nothing delegated.
    rc, out = _bench(capsys, INT8_CLIP, "--threads", "1", "--runs", "2", "--delegate", "none", "--json", out_json)
    (row,) = json.loads(out_json.read_text())["rows"]
    assert row["status"] == "ok" and row["delegated_ops"] == 0 and row["delegate"] == "none"


def test_data_folder_feeds_real_clips_and_tfrecords_are_refused(tmp_path, capsys):
    data = tmp_path / "videos"
    dv.write_video(data / "a" / "one.mp4", 20)
    dv.write_frames(data / "b" / "two", 10)
    (data / "broken.mp4").write_bytes(b"no video here")
    out_json = tmp_path / "b.json"
    rc, _ = _bench(capsys, INT8_CLIP, STREAM, "--threads", "1", "--runs", "3", "--data", data, "--json", out_json)
    assert rc == 0
    rows = json.loads(out_json.read_text())["rows"]
    assert [(r["status"], r["inputs"]) for r in rows] == [("ok", "2 clips"), ("ok", "2 clips")]
    rc, _ = _bench(capsys, STREAM, "--threads", "1", "--runs", "2", "--data", data, "--signature", "lstm_step",
                   "--json", out_json)
    (row,) = json.loads(out_json.read_text())["rows"]
    assert row["status"] == "ok" and row["inputs"] == "random"  # the clips only feed the frame/clip input
    prepared = tmp_path / "prepared"
    prepared.mkdir()
    (prepared / "dataset.json").write_text("{}")
    assert main(["bench", str(INT8_CLIP), "--data", str(prepared)]) == 2
    assert "needs TensorFlow" in capsys.readouterr().err


def test_signature_option(tmp_path, capsys):
    out_json = tmp_path / "b.json"
    rc, _ = _bench(capsys, STREAM, "--threads", "1", "--runs", "2", "--signature", "lstm_step", "--json", out_json)
    (row,) = json.loads(out_json.read_text())["rows"]
    assert rc == 0 and row["status"] == "ok" and row["workload"] == "lstm_step" and row["gflop"] is None
    rc, _ = _bench(capsys, STREAM, "--threads", "1", "--runs", "2", "--signature", "nope", "--json", out_json)
    (row,) = json.loads(out_json.read_text())["rows"]
    assert row["status"] == "failed" and "unknown signature 'nope'" in row["reason"]


def test_causal_stream_is_timed_one_new_frame_per_call_through_its_steps(tmp_path, capsys):
    from edge_slr.bench.workload import build_workload
    from edge_slr.runtime.runner import TFLiteRunner

    out_json = tmp_path / "c.json"
    rc, _ = _bench(capsys, CAUSAL_STREAM, "--threads", "1", "--runs", "8", "--json", out_json)
    (row,) = json.loads(out_json.read_text())["rows"]
    assert rc == 0 and row["status"] == "ok" and row["workload"] == "every_1+every_2+every_4 as due"
    assert row["coverage"] == "xnnpack 100% (3 partitions in 3 signatures)"
    with TFLiteRunner(CAUSAL_STREAM) as runner:
        card = read_model_card(runner.model)
        workload = build_workload(runner, card, None, np.random.default_rng(0))
        assert workload.signatures == ("every_1", "every_2", "every_4")
        out = [workload.call() for _ in range(card.frames)]  # one frame each: ready after a clip's worth
    assert all(o is None for o in out[:-1]) and out[-1].shape == (len(card.labels),)


def test_parse_threads():
    assert parse_threads("1,2,4") == (1, 2, 4) and parse_threads("2,2,1") == (2, 1)
    for bad in ("0", "a", "", "1,-2"):
        with pytest.raises(UserError):
            parse_threads(bad)


def test_isolated_ops_reproduce_the_whole_model():
    """Each one-op model computes, from the reference run's inputs, exactly that op's outputs in the whole
    model: the basis of --profile."""
    data = tm.conv_model()
    ref = Interpreter(model_content=data, experimental_preserve_all_tensors=True,
                      experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    ref.allocate_tensors()
    (inp,) = ref.get_input_details()
    ref.set_tensor(inp["index"], np.random.default_rng(0).uniform(0, 1, inp["shape"]).astype(np.float32))
    ref.invoke()
    ops = parse_model(data).subgraphs[0].operators
    pieces = list(isolated_ops(data))
    assert [i for i, _ in pieces] == list(range(len(ops))) and len(ops) >= 3
    for index, model in pieces:
        assert len(model) < len(data) or index == 0 or len(ops) == 1
        one = Interpreter(model_content=model,
                          experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        one.allocate_tensors()
        for d in one.get_input_details():
            one.set_tensor(d["index"], ref.get_tensor(d["index"]))
        one.invoke()
        for d in one.get_output_details():
            np.testing.assert_allclose(one.get_tensor(d["index"]), ref.get_tensor(d["index"]), rtol=1e-6, atol=1e-6)


def test_profile_splits_a_tiny_model_op_by_op(tmp_path, capsys):
    model = tmp_path / "conv.tflite"
    model.write_bytes(tm.conv_model())
    out_json = tmp_path / "profile.json"
    rc, out = _bench(capsys, model, "--profile", "--threads", "1", "--runs", "3", "--json", out_json)
    assert rc == 0
    profile = json.loads(out_json.read_text())
    ops = parse_model(tm.conv_model()).subgraphs[0].operators
    assert len(profile["ops"]) == len(ops) and all(o["ms"] is not None and o["ms"] > 0 for o in profile["ops"])
    by_type = {r["op"]: r for r in profile["by_type"]}
    assert set(by_type) == {op.name for op in ops}
    assert sum(r["count"] for r in by_type.values()) == len(ops)
    assert sum(r["share"] for r in by_type.values()) == pytest.approx(1.0)
    assert profile["whole_ms"]["serving_default"] > 0
    for name in by_type:
        assert name in out
    assert "sum of ops" in out
    assert main(["bench", str(model), str(model), "--profile"]) == 2  # one model at a time


def test_litert_benchmark_side_by_side(tmp_path, capsys):
    """ai-edge-litert's own tool on the same files: a median next to ours, and its refusal of the fused
    LSTM op as a failed row with the tool's reason."""
    lstm = tmp_path / "lstm.tflite"
    lstm.write_bytes(tm.lstm_model())
    out_json = tmp_path / "b.json"
    rc, out = _bench(capsys, INT8_CLIP, lstm, "--threads", "1", "--runs", "3", "--litert-benchmark",
                     "--json", out_json)
    assert rc == 0
    report = json.loads(out_json.read_text())
    assert [r["status"] for r in report["rows"]] == ["ok", "ok"]  # our runner runs both
    theirs = report["litert_benchmark"]
    assert [(r["model"], r["status"]) for r in theirs] == [(INT8_CLIP.name, "ok"), (lstm.name, "failed")]
    assert theirs[0]["median_ms"] > 0 and theirs[0]["signature"] == "serving_default"
    assert theirs[1]["reason"].startswith("RuntimeError")
    assert "litert-benchmark" in out and "ours p50" in out
