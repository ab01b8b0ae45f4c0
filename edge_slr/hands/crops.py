"""The square crops a model is trained and run on: ``centre``, ``signer`` and ``hand`` (NumPy/OpenCV only).

One definition serves ``prepare`` (training data), evaluation, :class:`ClipClassifier` and the live
pipeline, and the model card names which one a model expects (``input.crop``), so a model never sees
one framing in training and another live.

* ``centre``: a fixed square of ``fraction`` x the short side in the middle of the frame (today's crop).
* ``signer``: the signing space -- both hands plus the head and shoulders -- estimated from hand landmarks
  alone. We use the palm length (wrist to middle knuckle, which finger curl does not change) as the body
  scale: an adult's head-to-waist signing space is about 7 palm lengths, and while signing the hands sit
  in front of the chest or face, so the square is raised by 1.5 palms above the hands' centre; with one
  hand up it is moved 0.7 palms to the body's side of that hand (by MediaPipe's handedness). Why not
  MediaPipe's pose landmarker: it is a second model per frame (~20-30 ms on 2 cores here, doubling the
  live hands cost) and a second bundle for users to download and verify, while the signer crop only has
  to frame the signing space steadily; the box is heavily smoothed with a dead zone (it moves only when
  the hands leave its inner part or the scale changes a lot), so hand motion within a sign is kept, not
  cancelled by a box that follows the hands. Checked against MediaPipe's pose landmarker on hzj_colors
  (``tools/signer_crop_check.py``, 835 frames with hands): nose, both ears and both shoulders lie inside the
  smoothed box in 89% of them (84% without the one-hand shift, which was tuned on this one signer; misses:
  an ear 5-6%, the right shoulder 4%, the nose 2%).
* ``hand``: a square around one hand's landmarks (``fraction`` x its extent, at least 1.8 palm lengths so
  a fist is not zoomed in twice as far as an open hand), lightly smoothed: handshape close-ups such as
  ``asl_digits``. With several hands it follows the one nearest its previous box, else the largest.

Before any hand is seen (or with no detector) the hand-based crops use the centre square of
``fallback`` x the short side; a frame without hands keeps the last box.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from edge_slr.errors import UserError, unknown_choice
from edge_slr.hands.landmarker import Hand

CROPS = ("centre", "signer", "hand")
# The default evaluation crop (edge_slr.data.preprocess.EVAL_CROP_FRACTION re-exports this value).
CENTRE_FRACTION = 0.875
# hand 1.25: a model trained on close-up photos (asl_digits) sees, at run time, hands framed as in its photos
# (card scale 1.25 x 0.875 = 1.09). Measured through the live crop path on 150 held-out photos pasted into
# 640x480 frames: top-1 when the hand is found 96.8% at card scale 1.0-1.15, 89.7% at 1.31.
DEFAULT_FRACTION = {"centre": CENTRE_FRACTION, "signer": 1.0, "hand": 1.25}
# Weight of the previous box per frame (exponential smoothing); the signer box also has a dead zone.
DEFAULT_SMOOTHING = {"centre": 0.0, "signer": 0.85, "hand": 0.5}
SIGNER_PALMS = 7.0  # side of the signing-space square, in palm lengths
SIGNER_RAISE = 1.5  # the square's centre sits this many palm lengths above the hands' centre (head room)
SIGNER_BODY_SHIFT = 0.7  # one hand up: the body centre is this many palm lengths beside it, to the body side
SIGNER_HANDS_PAD = 1.3  # the square is at least this x the extent of all hands together
SIGNER_DEAD_ZONE = 0.8  # hands inside this central share of the current box do not move it
SIGNER_RESCALE = 0.25  # ... nor does a change of the wanted side by less than this share
HAND_MIN_PALMS = 1.8  # a hand square spans at least this many palm lengths (before ``fraction``)


@dataclass(frozen=True)
class CropSpec:
    """Which crop a model expects, as its model card (``input.crop``) and ``dataset.json`` record it.

    ``fraction`` means: centre -- the square's side as a fraction of the short side; signer -- a scale on
    the estimated signing space (1.0 = 7 palm lengths); hand -- the square's side over the hand's extent.
    ``fallback`` is the centre fraction used before any hand is found.
    """

    kind: str = "centre"
    fraction: float = CENTRE_FRACTION
    fallback: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in CROPS:
            raise unknown_choice("crop", self.kind, CROPS)
        if not (self.fraction > 0 and math.isfinite(self.fraction)):
            raise UserError(f"crop fraction must be positive, got {self.fraction}")
        if self.kind == "centre" and self.fraction > 1:
            raise UserError(f"centre crop fraction must be <= 1 (of the short side), got {self.fraction}")
        if not 0 < self.fallback <= 1:
            raise UserError(f"crop fallback must be in (0, 1], got {self.fallback}")

    @classmethod
    def named(cls, kind: str, fraction: float | None = None) -> CropSpec:
        """The crop ``kind`` with its default ``fraction`` unless one is given (the ``--crop`` flag)."""
        if kind not in CROPS:
            raise unknown_choice("crop", kind, CROPS)
        return cls(kind, DEFAULT_FRACTION[kind] if fraction is None else float(fraction))

    @property
    def needs_hands(self) -> bool:
        """Whether this crop is computed from hand landmarks (and so needs a hands bundle)."""
        return self.kind != "centre"

    @classmethod
    def from_card(cls, crop: dict[str, Any] | None) -> CropSpec:
        """Parse a model card's ``input.crop``, e.g. ``{"square": "centre", "fraction_of_short_side": 0.875}``.

        A card without a crop (older exports) means the default centre crop.
        """
        crop = crop or {}
        kind = str(crop.get("square", "centre"))
        if kind not in CROPS:
            raise unknown_choice("crop in the model card", kind, CROPS)
        if kind == "centre":
            return cls("centre", float(crop.get("fraction_of_short_side", CENTRE_FRACTION)))
        return cls(kind, float(crop.get("scale", DEFAULT_FRACTION[kind])),
                   float(crop.get("fallback_fraction_of_short_side", 1.0)))

    def scaled(self, factor: float) -> CropSpec:
        """The same crop with ``fraction`` and ``fallback`` times ``factor`` (each square's side scales)."""
        return CropSpec(self.kind, self.fraction * factor, min(1.0, self.fallback * factor))

    def to_card(self) -> dict[str, Any]:
        """The model card / dataset.json form (``from_card(to_card())`` gives this spec back)."""
        if self.kind == "centre":
            return {"square": "centre", "fraction_of_short_side": self.fraction}
        return {"square": self.kind, "scale": self.fraction, "fallback_fraction_of_short_side": self.fallback,
                "needs": "hand landmarks (MediaPipe hand_landmarker.task)"}


@dataclass(frozen=True)
class Box:
    """A square in pixel coordinates (top-left ``x``, ``y`` and ``side``), inside the frame."""

    x: float
    y: float
    side: float

    @property
    def centre(self) -> tuple[float, float]:
        return self.x + self.side / 2, self.y + self.side / 2


def clamp_box(cx: float, cy: float, side: float, frame_shape: tuple[int, int]) -> Box:
    """The square of ``side`` centred at (cx, cy), shrunk to the short side and shifted inside the frame."""
    h, w = frame_shape[:2]
    side = float(min(max(side, 1.0), h, w))
    x = min(max(cx - side / 2, 0.0), w - side)
    y = min(max(cy - side / 2, 0.0), h - side)
    return Box(float(x), float(y), side)


def centre_box(frame_shape: tuple[int, int], fraction: float) -> Box:
    """The centre square of ``fraction`` x the short side, on whole pixels exactly as ``crop_square`` takes it."""
    h, w = frame_shape[:2]
    side = max(1, int(round(min(h, w) * fraction)))
    return Box(float((w - side) // 2), float((h - side) // 2), float(side))


def apply_crop(rgb: np.ndarray, box: Box, size: int) -> np.ndarray:
    """Cut ``box`` (rounded to whole pixels) out of a frame and resize it to (size, size, 3) uint8.

    INTER_AREA when shrinking (no aliasing from large sources), bilinear when enlarging.
    ``edge_slr.data.preprocess.crop_square`` is this with :func:`centre_box`.
    """
    h, w = rgb.shape[:2]
    side = int(min(max(1, round(box.side)), h, w))
    left = int(min(max(0, round(box.x)), w - side))
    top = int(min(max(0, round(box.y)), h - side))
    square = rgb[top : top + side, left : left + side]
    if side == size:
        return np.ascontiguousarray(square)
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return cv2.resize(square, (size, size), interpolation=interpolation)


def _hand_extent(hand: Hand) -> tuple[float, float, float]:
    """Centre x, y and the size of a hand (max of box width, height and 1.8 palm lengths)."""
    x0, y0, x1, y1 = hand.box()
    return (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0, HAND_MIN_PALMS * hand.palm_length())


class CropTracker:
    """Per-stream crop state: one per live stream or per clip; :meth:`update` once per frame, in order.

    The box is smoothed exponentially (``smoothing`` = weight of the previous box per frame) so landmark
    noise does not make the crop jitter; the first hand sets it directly (no slide from the fallback).
    """

    def __init__(self, spec: CropSpec, frame_shape: tuple[int, int], smoothing: float | None = None):
        self.spec = spec
        self.frame_shape = (int(frame_shape[0]), int(frame_shape[1]))
        self.smoothing = DEFAULT_SMOOTHING[spec.kind] if smoothing is None else float(smoothing)
        if not 0.0 <= self.smoothing < 1.0:
            raise ValueError(f"smoothing must be in [0, 1), got {self.smoothing}")
        self._fixed = centre_box(self.frame_shape, spec.fraction if spec.kind == "centre" else spec.fallback)
        self.reset()

    def reset(self) -> None:
        """Forget the stream (a new clip, a new person): back to the fallback centre box."""
        self._state: tuple[float, float, float] | None = None  # smoothed centre x, y and side (unclamped)
        self.hands_seen = 0  # frames in which a hand moved the box

    @property
    def box(self) -> Box:
        """The current box (the fallback before any hand)."""
        if self._state is None:
            return self._fixed
        return clamp_box(*self._state, self.frame_shape)

    def update(self, hands: list[Hand] | None) -> Box:
        """The crop for the next frame given its hands; None or [] keeps the last box."""
        if self.spec.kind == "centre" or not hands:
            return self.box
        target = self._signer_target(hands) if self.spec.kind == "signer" else self._hand_target(hands)
        self.hands_seen += 1
        if self._state is None:
            self._state = target
        else:
            s = self.smoothing
            self._state = tuple(s * old + (1 - s) * new for old, new in zip(self._state, target, strict=True))
        return self.box

    def _hand_target(self, hands: list[Hand]) -> tuple[float, float, float]:
        extents = [_hand_extent(h) for h in hands]
        if self._state is not None:
            px, py, _ = self._state
            cx, cy, size = min(extents, key=lambda e: (e[0] - px) ** 2 + (e[1] - py) ** 2)
        else:
            cx, cy, size = max(extents, key=lambda e: e[2])
        return cx, cy, self.spec.fraction * size

    def _signer_target(self, hands: list[Hand]) -> tuple[float, float, float]:
        boxes = np.array([h.box() for h in hands])
        x0, y0 = boxes[:, 0].min(), boxes[:, 1].min()
        x1, y1 = boxes[:, 2].max(), boxes[:, 3].max()
        palm = max(h.palm_length() for h in hands)
        side = self.spec.fraction * max(SIGNER_PALMS * palm, SIGNER_HANDS_PAD * max(x1 - x0, y1 - y0))
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 - SIGNER_RAISE * palm * self.spec.fraction
        if len(hands) == 1:  # one hand up: the body is beside it (MediaPipe's handedness assumes unmirrored video)
            cx += {"Right": 1.0, "Left": -1.0}.get(hands[0].handedness, 0.0) * SIGNER_BODY_SHIFT * palm
        if self._state is not None:  # dead zone: keep the box while the hands stay well inside it
            ox, oy, oside = self._state
            half = SIGNER_DEAD_ZONE * oside / 2
            inside = ox - half <= x0 and x1 <= ox + half and oy - half <= y0 and y1 <= oy + half
            if inside and abs(side - oside) <= SIGNER_RESCALE * oside:
                return self._state
        return float(cx), float(cy), float(side)


def model_crop(prepared: dict[str, Any]) -> CropSpec:
    """The crop a model trained on data stored with the ``prepared`` crop (``dataset.json`` ``crop``) expects.

    Evaluation keeps the central :data:`CENTRE_FRACTION` of each stored square, so on a raw frame the
    model saw that crop with every side times it: the full centre square of today's datasets becomes the
    familiar ``centre`` 0.875, a ``hand`` crop of scale 1.25 becomes 1.09375. Exact while the box is not
    clamped by the frame edges.
    """
    return CropSpec.from_card(prepared).scaled(CENTRE_FRACTION)
