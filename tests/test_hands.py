"""edge_slr.hands: bundle checks, MediaPipe hand detection on real photos, crops and their smoothing."""

from __future__ import annotations

import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import SHARED_DATA, SHARED_MODELS, require_shared

from edge_slr.data.preprocess import EVAL_CROP_FRACTION, crop_square
from edge_slr.errors import UserError
from edge_slr.hands import (
    HANDS_MODEL_ENV,
    Box,
    CropSpec,
    CropTracker,
    Hand,
    HandDetector,
    apply_crop,
    centre_box,
    resolve_hands_model,
)

BUNDLE = SHARED_MODELS / "mediapipe" / "hand_landmarker.task"
PHOTOS = SHARED_DATA / "hand_photos"


def _photos() -> list[Path]:
    return sorted(require_shared(PHOTOS).glob("*/*.JPG"))


def _rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def bundle() -> Path:
    return require_shared(BUNDLE)


@pytest.fixture(scope="module")
def photo_hands(bundle) -> list[tuple[np.ndarray, list[Hand]]]:
    """Every hand_photos image with the hands a still-mode detector finds in it (one detector, ~1.5 s)."""
    with HandDetector(bundle, max_hands=2, still=True) as detector:
        return [(rgb, detector.detect(rgb)) for rgb in map(_rgb, _photos())]


# -- bundle ---------------------------------------------------------------------------------------

def test_resolve_prefers_flag_then_environment(bundle, monkeypatch, tmp_path):
    monkeypatch.delenv(HANDS_MODEL_ENV, raising=False)
    assert resolve_hands_model(None) is None
    monkeypatch.setenv(HANDS_MODEL_ENV, str(bundle))
    assert resolve_hands_model(None) == bundle.resolve()
    with pytest.raises(UserError, match="--hands-model: .*does not exist"):
        resolve_hands_model(tmp_path / "hand_landmarker.task")
    monkeypatch.setenv(HANDS_MODEL_ENV, str(tmp_path / "gone.task"))
    with pytest.raises(UserError, match=rf"\${HANDS_MODEL_ENV}: .*does not exist"):
        resolve_hands_model(None)


def test_broken_bundles_are_one_line_user_errors(bundle, tmp_path):
    html = tmp_path / "hand_landmarker.task"
    html.write_text("<!DOCTYPE html><html><body>404 Not Found</body></html>\n")
    with pytest.raises(UserError, match=r"\d+ bytes, not a hand landmarker bundle.*<!DOCTYPE html>") as err:
        resolve_hands_model(html)
    assert "\n" not in str(err.value)

    not_zip = tmp_path / "other.task"
    not_zip.write_bytes(b"\x00" * 2_000_000)
    with pytest.raises(UserError, match="no zip signature"):
        resolve_hands_model(not_zip)

    truncated = tmp_path / "cut.task"
    truncated.write_bytes(bundle.read_bytes()[:3_000_000])
    with pytest.raises(UserError, match="damaged .task bundle"):
        resolve_hands_model(truncated)

    # A well-formed bundle with the right members under the published name, but other bytes: sha256 mismatch.
    rng = np.random.default_rng(0)
    fake = tmp_path / "sha" / "hand_landmarker.task"
    fake.parent.mkdir()
    with zipfile.ZipFile(fake, "w", zipfile.ZIP_STORED) as z:
        z.writestr("hand_detector.tflite", rng.bytes(1_200_000))
        z.writestr("hand_landmarks_detector.tflite", rng.bytes(100))
    with pytest.raises(UserError, match="sha256 .* not MediaPipe's published hand_landmarker.task"):
        resolve_hands_model(fake)
    # The same bytes under another name are not checked against the digest (a different release may be fine).
    assert resolve_hands_model(fake.rename(tmp_path / "my_hands.task")).name == "my_hands.task"

    pose = SHARED_MODELS / "mediapipe" / "pose_landmarker_full.task"
    if pose.exists():
        with pytest.raises(UserError, match="not a hand landmarker .*lacks hand_detector.tflite"):
            resolve_hands_model(pose)
    with pytest.raises(UserError, match="is a folder"):
        resolve_hands_model(tmp_path)


# -- detection --------------------------------------------------------------------------------------

def test_detects_hands_in_real_photos(photo_hands):
    found = [hands for _, hands in photo_hands if hands]
    rate = len(found) / len(photo_hands)
    assert rate >= 0.95, f"hand found in {rate:.0%} of {len(photo_hands)} photos"  # measured: 100%
    for (rgb, hands) in photo_hands:
        for hand in hands:
            assert hand.landmarks.shape == (21, 2) and hand.landmarks.dtype == np.float32
            assert hand.handedness in ("Left", "Right") and 0.5 <= hand.score <= 1.0
            x0, y0, x1, y1 = hand.box()
            h, w = rgb.shape[:2]
            assert -0.1 * w <= x0 < x1 <= 1.1 * w and -0.1 * h <= y0 < y1 <= 1.1 * h  # pixels, not normalized
            assert max(x1 - x0, y1 - y0) > 0.3 * max(h, w)  # these photos are close-ups of one hand


def test_video_mode_tolerates_repeated_timestamps_and_one_owner_thread(bundle):
    photo = _rgb(_photos()[0])
    frame = cv2.copyMakeBorder(photo, 80, 80, 120, 120, cv2.BORDER_REPLICATE)
    with HandDetector(bundle, max_hands=1) as detector:
        counts = [len(detector.detect(frame, t)) for t in (0, 33, 33, 10, 66)]  # repeats and a rewind
        assert max(counts) == 1
        errors: list[BaseException] = []
        thread = threading.Thread(target=lambda: _capture(errors, detector.detect, frame, 100))
        thread.start()
        thread.join()
        assert errors and "owned by the thread" in str(errors[0])
    with pytest.raises(RuntimeError, match="after close"):
        detector.detect(frame, 200)


def _capture(errors: list[BaseException], fn, *args) -> None:
    try:
        fn(*args)
    except RuntimeError as exc:
        errors.append(exc)


# -- crops ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(360, 480), (480, 360), (100, 100), (121, 333)])
@pytest.mark.parametrize("fraction", [1.0, EVAL_CROP_FRACTION, 0.5])
def test_centre_box_equals_crop_square(shape, fraction):
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    for size in (32, 96, min(shape)):
        assert np.array_equal(apply_crop(frame, centre_box(shape, fraction), size), crop_square(frame, size, fraction))
    tracker = CropTracker(CropSpec("centre", fraction), shape)
    assert tracker.update(None) == centre_box(shape, fraction)


def test_crop_spec_card_round_trip():
    today = {"square": "centre", "fraction_of_short_side": 0.875}
    assert CropSpec.from_card(today) == CropSpec("centre", 0.875)
    assert CropSpec.from_card(today).to_card() == today
    assert CropSpec.from_card({}) == CropSpec("centre", EVAL_CROP_FRACTION)  # cards older than the crop field
    for kind in ("signer", "hand"):
        spec = CropSpec.named(kind)
        assert spec.needs_hands and CropSpec.from_card(spec.to_card()) == spec
    with pytest.raises(UserError, match="unknown crop .*'hands'.*Did you mean hand"):
        CropSpec.named("hands")
    with pytest.raises(UserError, match="must be <= 1"):
        CropSpec("centre", 1.5)


def test_hand_crop_finds_a_hand_placed_in_a_large_frame(photo_hands):
    """A photo pasted at a known place into a webcam-sized frame: the hand crop lands on it, the centre does not."""
    photo, hands = next((rgb, h) for rgb, h in photo_hands if h)
    frame = np.full((360, 480, 3), 90, np.uint8)
    frame[20:120, 360:460] = photo
    shifted = [Hand(h.landmarks + np.float32([360, 20]), h.handedness, h.score) for h in hands]
    tracker = CropTracker(CropSpec.named("hand"), frame.shape[:2])
    assert tracker.update([]) == centre_box(frame.shape[:2], 1.0)  # nothing seen yet: the centre fallback
    box = tracker.update(shifted)
    x0, y0, x1, y1 = shifted[0].box()
    assert box.x <= x0 and box.y <= y0 and x1 <= box.x + box.side and y1 <= box.y + box.side
    assert box.x + box.side <= 480 and box.y >= 0  # clamped to the frame
    assert tracker.update(None) == box  # a frame without hands keeps the last box
    crop = apply_crop(frame, box, 64)
    assert crop.shape == (64, 64, 3) and crop.dtype == np.uint8
    assert crop.std() > apply_crop(frame, centre_box(frame.shape[:2], 0.5), 64).std()  # the photo, not the wall


@pytest.mark.parametrize("kind", ["signer", "hand"])
def test_smoothing_reduces_crop_jitter(photo_hands, kind):
    """A still hand with real landmark noise (measured spread of MediaPipe on these photos) -> steadier box."""
    _, hands = next((rgb, h) for rgb, h in photo_hands if h)
    base = hands[0].landmarks * 0.5 + np.float32([200, 150])  # a smaller hand in a 480x360 frame
    rng = np.random.default_rng(2)
    stream = [[Hand(base + rng.normal(0, 2.0, base.shape).astype(np.float32), "Right", 0.9)] for _ in range(90)]

    def jitter(smoothing: float) -> float:
        tracker = CropTracker(CropSpec.named(kind), (360, 480), smoothing=smoothing)
        boxes = np.array([(*(b := tracker.update(h)).centre, b.side) for h in stream])
        return float(np.abs(np.diff(boxes, axis=0)).mean())

    raw, smooth = jitter(0.0), jitter(None)  # None: the default smoothing for this crop
    assert raw > 0.3, raw
    assert smooth < 0.5 * raw, (raw, smooth)


def test_boxes_stay_inside_the_frame():
    rng = np.random.default_rng(3)
    for kind in ("signer", "hand"):
        tracker = CropTracker(CropSpec.named(kind), (240, 320), smoothing=0.3)
        for _ in range(50):
            marks = rng.uniform(-50, 400, (21, 2)).astype(np.float32)
            box = tracker.update([Hand(marks, "Left", 0.9)])
            assert isinstance(box, Box) and box.x >= 0 and box.y >= 0
            assert box.x + box.side <= 320 + 1e-6 and box.y + box.side <= 240 + 1e-6 and box.side <= 240
        tracker.reset()
        assert tracker.update(None) == centre_box((240, 320), 1.0)


def test_padding_small_images_finds_more_hands_at_the_same_place(bundle, photo_hands):
    """Close-up 100x100 photos: edge padding to MIN_SIDE helps the palm detector, and landmarks map back."""
    with HandDetector(bundle, still=True, min_side=0) as plain:
        unpadded = [plain.detect(rgb) for rgb, _ in photo_hands]
    padded = [hands for _, hands in photo_hands]
    assert sum(map(bool, padded)) >= sum(map(bool, unpadded))
    moved = [np.abs(a[0].landmarks - b[0].landmarks).max() for a, b in zip(padded, unpadded, strict=True)
             if a and b and a[0].handedness == b[0].handedness]
    assert len(moved) > 50 and np.median(moved) < 8.0  # pixels of the 100x100 photo, not of the padded one


def test_running_mediapipe_does_not_load_tensorflow(bundle):
    """MediaPipe imports TensorFlow (for API-doc tags) when installed; HandDetector keeps it out of the process."""
    code = ("import sys, numpy as np\n"
            "from edge_slr.hands import HandDetector\n"
            f"with HandDetector({str(bundle)!r}) as d:\n"
            "    d.detect(np.zeros((240, 320, 3), np.uint8), 0)\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'tensorflow', 'tf_keras', 'keras'})\n"
            "assert 'mediapipe' in sys.modules and not bad, bad[:5]\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "Created TensorFlow Lite XNNPACK delegate" not in out.stderr  # LiteRT's start-up chatter is dropped
