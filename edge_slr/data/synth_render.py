"""Draw the stylised signer: a still scene (background, torso, head) plus arms and hands per frame.

Why this shape: the scene is drawn once per clip and copied per frame, so only the arms and hands
are drawn each frame; everything is drawn at twice the output size and shrunk with area averaging,
which gives smooth edges cheaply. Geometry goes through one camera transform (zoom, small rotation,
shift) before drawing, so the rotation costs nothing. Lighting (gain, colour tint, a brightness
ramp) and camera noise are applied to the shrunk frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge_slr.data.synth_signs import HandTrack

RGB = tuple[int, int, int]

SUPERSAMPLE = 2
_NOISE_FIELDS, _NOISE_PAD = 3, 16
_SHIFT = 4  # OpenCV fixed-point bits for sub-pixel drawing
_ONE = 1 << _SHIFT
VIEW_CENTRE = np.array([0.0, 0.22])  # body units at the image centre
VIEW_HEIGHT = 2.2  # body units visible across the shorter image side

SHOULDER = np.array([-0.5, 0.1])  # dominant side; the other is mirrored
UPPER_ARM, FOREARM = 0.55, 0.55
HEAD_CENTRE = np.array([0.0, -0.42])

# Hand geometry in body units (stylised: hands are drawn larger than life so fingers stay visible).
PALM_HALF = (0.12, 0.1)  # along the fingers, across
WRIST_TO_CENTRE = 0.11
FINGER_WIDTH = 0.055
# Digits in drawing order: index, middle, ring, little finger, thumb.
_DIGIT_ORDER = np.array([1, 2, 3, 4, 0])  # HandTrack.ext is thumb-first
# Where each digit leaves the palm: (along the fingers, towards the thumb).
_DIGIT_BASE = np.array([[0.085, 0.065], [0.085, 0.022], [0.085, -0.022], [0.085, -0.065], [-0.03, 0.07]])
_DIGIT_LENGTH = np.array([0.18, 0.2, 0.18, 0.145, 0.15])
_DIGIT_SPREAD = np.array([16.0, 5.0, -6.0, -18.0, 35.0])  # degrees towards the thumb at full spread
_DIGIT_TURN = np.array([0.0, 0.0, 0.0, 0.0, 40.0])  # the thumb leaves the palm at an angle
_DIGIT_MIN_EXT = np.array([0.08, 0.08, 0.08, 0.08, 0.15])  # a curled digit still shows a knuckle


@dataclass(frozen=True)
class Appearance:
    """What one signer looks like: drawn once per signer, jittered slightly per clip."""

    skin: RGB
    hair: RGB
    hair_style: str  # "none", "short" or "long"
    shirt: RGB
    background: RGB
    background_far: RGB  # colour the background fades to (top of the image)
    props: tuple[tuple[float, float, float, float, RGB], ...]  # background rectangles: x0, y0, x1, y1, colour
    body_scale: float
    body_offset: tuple[float, float]
    hand_size: float


@dataclass(frozen=True)
class Camera:
    """Framing and image formation of one clip."""

    zoom: float
    rotation_deg: float
    shift: tuple[float, float]  # body units
    gain: float
    tint: tuple[float, float, float]  # per-channel gain (white balance)
    ramp: float  # brightness change across the image (side lighting)
    ramp_deg: float
    noise_sigma: float  # grey levels
    flicker: float  # per-frame relative gain noise


def _shade(colour: RGB, factor: float) -> RGB:
    return tuple(int(min(255, max(0, round(c * factor)))) for c in colour)


class Scene:
    """One signer in one camera set-up: draws frames from hand poses.

    Everything random is decided before construction (in :class:`Appearance`, :class:`Camera`) except
    the camera noise and flicker, drawn from ``noise_rng`` frame by frame. Noise comes from a small bank
    of Gaussian fields cropped at a random offset per frame: drawing fresh Gaussian noise for every
    pixel took most of the time per frame, and a bank looks the same to a model.
    """

    def __init__(self, appearance: Appearance, camera: Camera, width: int, height: int,
                 noise_rng: np.random.Generator):
        self.appearance, self.camera = appearance, camera
        self._rng = noise_rng
        self._noise = noise_rng.standard_normal((_NOISE_FIELDS, height + _NOISE_PAD, width + _NOISE_PAD, 3),
                                                dtype=np.float32) * camera.noise_sigma
        self.width, self.height = width, height
        self._size = (width * SUPERSAMPLE, height * SUPERSAMPLE)
        # Pixels (supersampled) per body unit, and the 2x2 linear part of body -> pixel.
        self._ppu = min(self._size) / VIEW_HEIGHT * camera.zoom * appearance.body_scale
        r = np.radians(camera.rotation_deg)
        self._linear = self._ppu * np.array([[np.cos(r), -np.sin(r)], [np.sin(r), np.cos(r)]])
        body_origin = (np.array(appearance.body_offset) + np.array(camera.shift)) / appearance.body_scale
        self._origin = np.array(self._size) / 2.0 + self._linear @ (body_origin - VIEW_CENTRE / appearance.body_scale)
        self._sleeve, self._sleeve_dark = _shade(appearance.shirt, 0.9), _shade(appearance.shirt, 0.6)
        self._skin_dark = _shade(appearance.skin, 0.62)
        self._still = self._draw_still()
        self._light = self._light_map()

    # -- geometry ---------------------------------------------------------------------------------
    def to_pixels(self, points: np.ndarray) -> np.ndarray:
        """Body units (..., 2) -> output-image pixels (..., 2) (not supersampled)."""
        return (points @ self._linear.T + self._origin) / SUPERSAMPLE

    def _px(self, points: np.ndarray) -> np.ndarray:
        """Body units -> fixed-point supersampled pixel coordinates for OpenCV."""
        return np.round((np.asarray(points, float) @ self._linear.T + self._origin) * _ONE).astype(np.int32)

    def _len(self, units: float) -> int:
        return max(1, int(round(units * self._ppu)))

    def _ellipse(self, img, centre, axes, angle_deg, colour, thickness=-1):
        c = self._px(centre)
        ax = (int(round(axes[0] * self._ppu * _ONE)), int(round(axes[1] * self._ppu * _ONE)))
        cv2.ellipse(img, (int(c[0]), int(c[1])), ax, angle_deg + self.camera.rotation_deg, 0, 360, colour,
                    thickness, cv2.LINE_AA, _SHIFT)

    def _poly(self, img, points, colour):
        cv2.fillPoly(img, [self._px(points)], colour, cv2.LINE_AA, _SHIFT)

    # -- the still part of the scene --------------------------------------------------------------
    def _draw_still(self) -> np.ndarray:
        ap = self.appearance
        w, h = self._size
        ramp = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
        img = (np.array(ap.background_far, np.float32) * (1 - ramp) + np.array(ap.background, np.float32) * ramp)
        img = np.ascontiguousarray(np.broadcast_to(img, (h, w, 3)).round().astype(np.uint8))
        for x0, y0, x1, y1, colour in ap.props:  # placed in the room, not on the body: undo the body placement
            corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
            self._poly(img, (corners - np.array(ap.body_offset)) / ap.body_scale, colour)
        skin_dark = _shade(ap.skin, 0.7)
        if ap.hair_style == "long":
            self._poly(img, np.array([[-0.26, -0.5], [0.26, -0.5], [0.3, 0.12], [-0.3, 0.12]]), ap.hair)
        self._poly(img, np.array([[-0.09, -0.3], [0.09, -0.3], [0.1, 0.05], [-0.1, 0.05]]), ap.skin)
        torso = np.array([[-0.18, 0.0], [-0.45, 0.04], [-0.58, 0.2], [-0.62, 1.8],
                          [0.62, 1.8], [0.58, 0.2], [0.45, 0.04], [0.18, 0.0]])
        self._poly(img, torso, ap.shirt)
        self._ellipse(img, (0.0, 0.0), (0.12, 0.07), 0, ap.skin)  # neckline
        self._ellipse(img, (0.0, -0.02), (0.19, 0.07), 0, _shade(ap.shirt, 0.8), self._len(0.02))
        self._poly(img, np.array([[-0.2, -0.1], [0.2, -0.1], [0.2, -0.02], [-0.2, -0.02]]), ap.shirt)
        for side in (-1, 1):
            self._ellipse(img, HEAD_CENTRE + (side * 0.21, 0.02), (0.045, 0.07), 0, ap.skin)
        if ap.hair_style != "none":
            self._ellipse(img, HEAD_CENTRE + (0.0, -0.05), (0.235, 0.25), 0, ap.hair)
        self._ellipse(img, HEAD_CENTRE + (0.0, 0.03), (0.2, 0.25), 0, ap.skin)
        self._ellipse(img, HEAD_CENTRE + (0.0, 0.03), (0.2, 0.25), 0, skin_dark, self._len(0.012))
        if ap.hair_style != "none":
            self._ellipse(img, HEAD_CENTRE + (0.0, -0.16), (0.19, 0.09), 0, ap.hair)
        for side in (-1, 1):
            self._ellipse(img, HEAD_CENTRE + (side * 0.075, -0.01), (0.03, 0.02), 0, (250, 250, 250))
            self._ellipse(img, HEAD_CENTRE + (side * 0.075, -0.01), (0.016, 0.016), 0, (40, 30, 30))
        self._ellipse(img, HEAD_CENTRE + (0.0, 0.14), (0.07, 0.02), 0, _shade(ap.skin, 0.55))
        return img

    def _light_map(self) -> np.ndarray:
        cam = self.camera
        yy, xx = np.mgrid[0:self.height, 0:self.width].astype(np.float32)
        r = np.radians(cam.ramp_deg)
        across = ((xx - self.width / 2) * np.cos(r) + (yy - self.height / 2) * np.sin(r)) / max(self.width, self.height)
        gain = cam.gain * (1.0 + cam.ramp * across)
        return (gain[:, :, None] * np.array(cam.tint, np.float32)).astype(np.float32)

    # -- arms and hands ---------------------------------------------------------------------------
    @staticmethod
    def _elbow(shoulder: np.ndarray, wrist: np.ndarray, side: float) -> tuple[np.ndarray, np.ndarray]:
        """Two-link arm: the elbow that bends down and outwards, and the wrist moved within reach."""
        d_vec = wrist - shoulder
        d = float(np.hypot(*d_vec))
        reach = UPPER_ARM + FOREARM - 1e-3
        if d > reach:
            wrist = shoulder + d_vec * (reach / d)
            d = reach
        d = max(d, abs(UPPER_ARM - FOREARM) + 1e-3)
        base = np.arctan2(d_vec[1], d_vec[0])
        bend = np.arccos(np.clip((UPPER_ARM**2 + d**2 - FOREARM**2) / (2 * UPPER_ARM * d), -1.0, 1.0))
        candidates = [shoulder + UPPER_ARM * np.array([np.cos(base + s * bend), np.sin(base + s * bend)])
                      for s in (-1.0, 1.0)]
        elbow = max(candidates, key=lambda e: e[1] + 0.6 * side * e[0])
        return elbow, wrist

    def _digits(self, centre: np.ndarray, axis: np.ndarray, thumb_dir: np.ndarray, size: float, ext: np.ndarray,
                spread: float) -> tuple[np.ndarray, np.ndarray]:
        """Bases and tips (5, 2) of index, middle, ring, little finger and thumb, in body units."""
        beta = np.radians(_DIGIT_SPREAD * spread + _DIGIT_TURN)
        directions = np.cos(beta)[:, None] * axis + np.sin(beta)[:, None] * thumb_dir
        bases = centre + size * (_DIGIT_BASE[:, 0:1] * axis + _DIGIT_BASE[:, 1:2] * thumb_dir)
        lengths = np.maximum(ext[_DIGIT_ORDER], _DIGIT_MIN_EXT) * _DIGIT_LENGTH * size
        return bases, bases + directions * lengths[:, None]

    def _draw_arm_and_hand(self, img: np.ndarray, hand: HandTrack, index: int, side: float) -> np.ndarray:
        """Draw one arm (sleeve) and hand; return the hand centre actually drawn (body units)."""
        ap = self.appearance
        angle = float(hand.angle[index])
        axis = np.array([np.cos(np.radians(angle)), np.sin(np.radians(angle))])
        thumb_dir = np.array([-axis[1], axis[0]]) * (-side)  # palm towards the camera: thumb points inwards
        size = float(hand.scale[index]) * ap.hand_size
        shoulder = SHOULDER * np.array([-side, 1.0])
        elbow, wrist = self._elbow(shoulder, hand.pos[index] - axis * WRIST_TO_CENTRE * size, side)
        centre = wrist + axis * WRIST_TO_CENTRE * size
        bases, tips = self._digits(centre, axis, thumb_dir, size, hand.ext[index], float(hand.spread[index]))
        px = [tuple(p) for p in self._px(np.concatenate([[shoulder, elbow, wrist, centre], bases, tips])).tolist()]
        shoulder_px, elbow_px, wrist_px, centre_px = px[:4]
        digits = list(zip(px[4:9], px[9:14], strict=True))
        for colour, extra in ((self._sleeve_dark, 0.03), (self._sleeve, 0.0)):
            cv2.line(img, shoulder_px, elbow_px, colour, self._len(0.17 + extra), cv2.LINE_AA, _SHIFT)
            cv2.line(img, elbow_px, wrist_px, colour, self._len(0.14 + extra), cv2.LINE_AA, _SHIFT)
        rotation = angle + self.camera.rotation_deg
        fixed = self._ppu * _ONE
        palm = (PALM_HALF[0] * size * fixed, PALM_HALF[1] * size * fixed)
        for colour, finger_width, rim in ((self._skin_dark, self._len((FINGER_WIDTH + 0.025) * size), 0.012 * fixed),
                                          (ap.skin, self._len(FINGER_WIDTH * size), 0.0)):
            for a, b in digits:
                cv2.line(img, a, b, colour, finger_width, cv2.LINE_AA, _SHIFT)
            cv2.ellipse(img, centre_px, (round(palm[0] + rim), round(palm[1] + rim)), rotation, 0, 360, colour, -1,
                        cv2.LINE_AA, _SHIFT)
        return centre

    def frame(self, dominant: HandTrack, other: HandTrack, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Frame ``index`` of the two hand tracks: RGB uint8 (H, W, 3), and both hand centres in pixels (2, 2)."""
        img = self._still.copy()
        other_centre = self._draw_arm_and_hand(img, other, index, 1.0)
        dom_centre = self._draw_arm_and_hand(img, dominant, index, -1.0)
        small = cv2.resize(img, (self.width, self.height), interpolation=cv2.INTER_AREA)
        gain = 1.0 + self.camera.flicker * float(self._rng.standard_normal())
        field, dy, dx = (int(v) for v in self._rng.integers((_NOISE_FIELDS, _NOISE_PAD, _NOISE_PAD)))
        out = small.astype(np.float32) * (self._light * gain)
        out += self._noise[field, dy:dy + self.height, dx:dx + self.width]
        np.clip(out, 0, 255, out=out)
        return out.astype(np.uint8), self.to_pixels(np.stack([dom_centre, other_centre]))
