"""``prepare --crop signer|hand`` on real photos and videos, still images, and the crop's way into training."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import SHARED_DATA, SHARED_MODELS, require_shared

from edge_slr.data.info import load_dataset_info
from edge_slr.data.prepare import PrepareConfig, prepare
from edge_slr.errors import UserError
from edge_slr.hands import HANDS_MODEL_ENV, CropSpec, model_crop

BUNDLE = SHARED_MODELS / "mediapipe" / "hand_landmarker.task"


def _records(folder: Path, split: str) -> list:
    from edge_slr.data.tfrecord import decode_clip, tf

    info = load_dataset_info(folder)
    return [decode_clip(r.numpy()) for p in info.shard_paths(split) for r in tf.data.TFRecordDataset(str(p))]


@pytest.fixture(scope="module")
def stills(tmp_path_factory) -> Path:
    """Class folders of real hand photos (two digits, four photos each) plus one photo of a bare wall."""
    photos = require_shared(SHARED_DATA / "hand_photos")
    root = tmp_path_factory.mktemp("stills") / "src"
    for digit in ("3", "7"):
        (root / digit).mkdir(parents=True)
        for f in sorted((photos / digit).glob("*.JPG"))[:4]:
            shutil.copy(f, root / digit / f.name)
    wall = np.full((100, 100, 3), 180, np.uint8) + np.random.default_rng(0).integers(0, 12, (100, 100, 3), np.uint8)
    cv2.imwrite(str(root / "7" / "wall.jpg"), wall)
    return root


@pytest.fixture(scope="module")
def hand_stills(stills, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("hand_stills")
    prepare(PrepareConfig(src=stills, out=out, crop="hand", hands_model=require_shared(BUNDLE), size=48,
                          split="random", val=0.3, progress=False))
    return out


def test_stills_with_the_hand_crop(hand_stills, stills):
    info = load_dataset_info(hand_stills)
    assert info.layout == "folders" and sum(s.clips for s in info.splits.values()) == 9
    assert info.crop == CropSpec.named("hand").to_card()
    hands = info.hands
    assert hands["clips"] == 9 and hands["with_hand"] >= 7  # the eight hand photos (measured: all eight)
    assert "7/wall.jpg" in hands["no_hand_centre_fallback"]  # no hand: centre crop, counted
    records = _records(hand_stills, "train") + _records(hand_stills, "val")
    assert {len(r.jpegs) for r in records} == {1} and {r.source_frames for r in records} == {1}
    wall = next(r for r in records if r.source.endswith("wall.jpg"))
    stored = cv2.imdecode(np.frombuffer(wall.jpegs[0], np.uint8), cv2.IMREAD_COLOR)
    assert stored.shape == (48, 48, 3)


def test_training_jitters_stills_per_frame_and_evaluation_repeats_them(hand_stills):
    from edge_slr.data.pipeline import make_dataset

    train = next(iter(make_dataset(hand_stills, "train", frames=4, size=40, batch=4, training=True)))[0].numpy()
    assert all(np.abs(clip[1:] - clip[:1]).mean() > 1.0 for clip in train)  # no frozen frame
    val = next(iter(make_dataset(hand_stills, "val", frames=4, size=40, batch=2)))[0].numpy()
    assert all(np.array_equal(clip[0], clip[k]) for clip in val for k in range(4))


def test_signer_crop_on_real_videos(tmp_path):
    """Two real HZJ clips through the signer crop: hands tracked over every frame, boxes steadier than unsmoothed."""
    hzj = require_shared(SHARED_DATA / "hzj_colors")
    clips = [sorted((hzj / sign).glob("*.mp4"))[0] for sign in ("crvena", "zelena")]
    manifest = tmp_path / "m.csv"
    with manifest.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([("path", "label", "signer", "split"),
                                 *((str(c), c.parent.name, "s1", "train") for c in clips)])
    out = tmp_path / "out"
    prepare(PrepareConfig(src=manifest, out=out, crop="signer", hands_model=require_shared(BUNDLE), size=64,
                          store_frames=8, progress=False, workers=2))
    hands = load_dataset_info(out).hands
    assert hands["with_hand"] == 2 and 0.4 < hands["share_of_frames_with_hand"] < 1.0  # hands down at the ends
    assert hands["jitter_px_median"] < hands["raw_jitter_px_median"]
    for record in _records(out, "train"):
        assert len(record.jpegs) == 8 and record.source_frames > 30  # detection saw all frames, 8 are stored
    # Changing the crop changes the plan: the folder is not silently reused with other frames.
    with pytest.raises(UserError, match="differs in: crop"):
        prepare(PrepareConfig(src=manifest, out=out, crop="hand", hands_model=BUNDLE, size=64, store_frames=8,
                              progress=False))


def test_hand_crops_need_a_bundle(stills, tmp_path, monkeypatch):
    monkeypatch.delenv(HANDS_MODEL_ENV, raising=False)
    with pytest.raises(UserError, match="--crop hand finds hands with MediaPipe: pass --hands-model"):
        prepare(PrepareConfig(src=stills, out=tmp_path / "o", crop="hand", progress=False))
    with pytest.raises(UserError, match="unknown crop 'hands'"):
        prepare(PrepareConfig(src=stills, out=tmp_path / "o", crop="hands", progress=False))


def test_model_crop_is_the_data_crop_seen_through_evaluation():
    """Evaluation keeps the central 87.5% of a stored square: the card's crop is the data's times 0.875."""
    assert model_crop({"square": "centre", "fraction_of_short_side": 1.0}).to_card() == {
        "square": "centre", "fraction_of_short_side": 0.875}
    hand = model_crop(CropSpec.named("hand").to_card())
    assert hand.kind == "hand" and hand.fraction == pytest.approx(1.25 * 0.875) and hand.fallback == 0.875
    assert json.loads(json.dumps(hand.to_card())) == hand.to_card()


def test_shipped_digits_model_reads_raw_photos_with_its_cards_hand_crop(stills, monkeypatch):
    """ClipClassifier.predict_file cuts a raw photo exactly as the card says (the live crop code), or refuses."""
    from edge_slr.data.hand_crops import model_input_clip
    from edge_slr.hands import CropTracker, HandDetector, apply_crop
    from edge_slr.runtime.clip_classifier import ClipClassifier

    model = Path(__file__).resolve().parents[1] / "export" / "asl_digits_cnn_lstm_int8.tflite"
    bundle = require_shared(BUNDLE)
    photo = sorted((stills / "3").glob("*.JPG"))[0]
    monkeypatch.delenv(HANDS_MODEL_ENV, raising=False)
    with ClipClassifier(model, num_threads=1) as classifier:
        crop = CropSpec.from_card(classifier.card.raw["input"]["crop"])
        assert crop.kind == "hand"
        with pytest.raises(UserError, match="expects the 'hand' crop.*--hands-model") as err:
            classifier.predict_file(photo)
        assert "\n" not in str(err.value)
        clip = model_input_clip(photo, crop, classifier.card.frames, classifier.card.size, bundle)
        rgb = cv2.cvtColor(cv2.imread(str(photo)), cv2.COLOR_BGR2RGB)
        with HandDetector(bundle, still=True) as detector:
            box = CropTracker(crop, rgb.shape[:2]).update(detector.detect(rgb))
        expected = apply_crop(rgb, box, classifier.card.size)
        assert clip.shape == (classifier.card.frames, *expected.shape)
        assert all(np.array_equal(frame, expected) for frame in clip)
        logits = classifier.predict_file(photo, bundle)
        assert logits.shape == (10,) and np.allclose(logits, classifier.predict(clip))


def test_cli_prepare_crop_flags(stills, tmp_path, capsys, monkeypatch):
    from edge_slr.cli import main

    bundle = require_shared(BUNDLE)
    out = tmp_path / "cli"
    assert main(["prepare", str(stills), str(out), "--crop", "hand", "--crop-scale", "1.4", "--hands-model",
                 str(bundle), "--size", "32", "--workers", "1"]) == 0
    text = capsys.readouterr().out
    assert "crop: hand (scale 1.4" in text and "fell back to the centre crop" in text
    assert load_dataset_info(out).crop["scale"] == 1.4
    monkeypatch.delenv(HANDS_MODEL_ENV, raising=False)
    assert main(["prepare", str(stills), str(tmp_path / "o2"), "--crop", "signer"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--crop signer finds hands with MediaPipe" in err and len(err.splitlines()) == 1
