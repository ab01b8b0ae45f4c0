"""Tests of ``edge-slr evaluate``: the report counts what the model predicts, for .keras and .tflite alike."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from test_train import TINY, make_tiny_data

from edge_slr.data.pipeline import make_dataset
from edge_slr.errors import UserError
from edge_slr.train.config import TrainConfig
from edge_slr.train.evaluate import EvalConfig, KerasPredictor, evaluate, format_table
from edge_slr.train.run_folder import write_run_header


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(data folder, run folder) of a two-epoch tiny run."""
    from edge_slr.train.trainer import train

    root = tmp_path_factory.mktemp("eval")
    data = make_tiny_data(root)
    train(TrainConfig(data=data, out=root / "run", epochs=2, lr=3e-3, **TINY), echo=None)
    return data, root / "run"


def _predictions(predictor, data: Path) -> tuple[np.ndarray, np.ndarray]:
    scores, labels = [], []
    for clips, y in make_dataset(data, "val", frames=predictor.frames, size=predictor.size, batch=3):
        scores.append(predictor.predict(clips.numpy()))
        labels.append(y.numpy())
    return np.concatenate(scores), np.concatenate(labels)


def test_keras_report_counts_the_model_predictions(trained, tmp_path):
    data, run = trained
    report, json_path, png_path = evaluate(EvalConfig(model=run, out=tmp_path))
    scores, labels = _predictions(KerasPredictor(run), data)
    expected = np.zeros((3, 3), dtype=int)
    np.add.at(expected, (labels, scores.argmax(1)), 1)
    np.testing.assert_array_equal(report.confusion, expected)
    assert report.top1 == pytest.approx(float((scores.argmax(1) == labels).mean()))
    assert report.top5 is None  # 3 classes
    assert (json_path, png_path) == (tmp_path / "eval-best-val.json", tmp_path / "eval-best-val-confusion.png")

    saved = json.loads(json_path.read_text(encoding="utf-8"))
    assert saved["clips"] == 9 and saved["format"] == "keras" and saved["split"] == "val"
    assert saved["data"] == str(data.resolve())  # taken from the run's config.json when --data is not given
    assert saved["confusion"] == expected.tolist()
    assert [c["clips"] for c in saved["per_class"]] == [3, 3, 3]
    assert [c["correct"] for c in saved["per_class"]] == np.diag(expected).tolist()
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = format_table(report)
    assert all(name in table for name in saved["labels"]) and "top-1" in table


def test_tflite_export_gets_the_same_report_as_its_keras_model(trained, tmp_path):
    from edge_slr.export.exporter import ExportConfig, export

    data, run = trained
    exported = Path(export(ExportConfig(source=run, quant="fp32", out=tmp_path / "tiny.tflite", val_clips=0)).path)
    keras_report, _, _ = evaluate(EvalConfig(model=run, out=tmp_path))
    lite_report, json_path, _ = evaluate(EvalConfig(model=exported, data=data, threads=1))
    np.testing.assert_array_equal(lite_report.confusion, keras_report.confusion)
    assert lite_report.top1 == keras_report.top1 and lite_report.kind == "tflite"
    assert json_path == tmp_path / "eval-tiny-val.json"  # next to the .tflite file
    with pytest.raises(UserError, match="pass --data"):
        evaluate(EvalConfig(model=exported))  # a device file does not say where its training data is


def test_top5_counts_hits_among_the_five_best_scores(tmp_path):
    """A 6-class run folder written by hand around an untrained model: top-5 against numpy."""
    from edge_slr.models import create_model
    from edge_slr.train.run_folder import BEST_MODEL

    data = make_tiny_data(tmp_path / "six", classes=6)
    labels = json.loads((data / "dataset.json").read_text(encoding="utf-8"))["classes"]
    run = tmp_path / "run6"
    write_run_header(run, {"arch": "cnn_lstm", "num_classes": 6, "frames": 4, "size": 32, "width": 0.25,
                           "data": str(data)}, labels)
    create_model("cnn_lstm", 6, 4, 32, 0.25).save(run / BEST_MODEL)
    report, _, _ = evaluate(EvalConfig(model=run, batch=4, out=tmp_path))
    scores, truth = _predictions(KerasPredictor(run), data)
    top5 = np.argsort(-scores, axis=1)[:, :5]
    assert report.top5 == pytest.approx(float((top5 == truth[:, None]).any(1).mean()))
    assert report.top1 == pytest.approx(float((scores.argmax(1) == truth).mean()))


def test_labels_that_differ_from_the_data_are_refused(trained, tmp_path):
    data, run = trained
    shuffled = tmp_path / "data"
    shutil.copytree(data, shuffled)
    info = json.loads((shuffled / "dataset.json").read_text(encoding="utf-8"))
    info["classes"] = info["classes"][::-1]
    (shuffled / "dataset.json").write_text(json.dumps(info), encoding="utf-8")
    with pytest.raises(UserError, match="labels differ"):
        evaluate(EvalConfig(model=run, data=shuffled))
    with pytest.raises(UserError, match="unknown split"):
        evaluate(EvalConfig(model=run, split="test"))


def test_data_prepared_with_another_crop_is_refused(trained, tmp_path):
    """The run records its data's crop; evaluating on data cut another way is one line, not a wrong number."""
    data, run = trained
    config = json.loads((run / "config.json").read_text(encoding="utf-8"))
    assert config["crop"] == {"square": "centre", "fraction_of_short_side": 1.0}
    recut = tmp_path / "data"
    shutil.copytree(data, recut)
    info = json.loads((recut / "dataset.json").read_text(encoding="utf-8"))
    info["crop"] = {"square": "hand", "scale": 1.5, "fallback_fraction_of_short_side": 1.0}
    (recut / "dataset.json").write_text(json.dumps(info), encoding="utf-8")
    with pytest.raises(UserError, match=r"expects the centre 0.875 crop but .* with the hand 1.3125 crop") as err:
        evaluate(EvalConfig(model=run, data=recut))
    assert "\n" not in str(err.value)
