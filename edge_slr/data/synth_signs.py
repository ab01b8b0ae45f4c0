"""The vocabulary of synthetic signs, and how one performance of a sign unfolds over frames.

Every class is a distinct combination of hand path, handshape change and hand mode (one hand, two
mirrored hands, two alternating hands, or a moving hand on a still base hand). Classes differ only in
*motion*, never in colour: appearance is drawn per signer and per clip, independently of the label,
so a model has to learn the movement to recognise a signer it has not seen.

Coordinates are body units: shoulder width 1, origin at the base of the neck, y pointing down, and
the dominant hand on the image left (a right-handed signer facing the camera). Angles are degrees in
image coordinates (0 = fingers point to image right, -90 = fingers up, 90 = fingers down). A sign's
motion is a function of its phase u in [0, 1]; :func:`perform` adds the rest poses, the approach
from rest and the return to rest around it, as real clips have.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# Finger extension (thumb, index, middle, ring, little; 0 curled .. 1 straight) and spread (0 .. 1).
SHAPES: dict[str, tuple[tuple[float, float, float, float, float], float]] = {
    "relaxed": ((0.5, 0.55, 0.6, 0.55, 0.5), 0.2),
    "open": ((1.0, 1.0, 1.0, 1.0, 1.0), 1.0),
    "flat": ((0.45, 1.0, 1.0, 1.0, 1.0), 0.05),
    "fist": ((0.35, 0.1, 0.1, 0.1, 0.1), 0.0),
    "point": ((0.3, 1.0, 0.1, 0.1, 0.1), 0.0),
    "v": ((0.3, 1.0, 1.0, 0.1, 0.1), 1.0),
    "thumb": ((1.0, 0.1, 0.1, 0.1, 0.1), 0.0),
    "claw": ((0.6, 0.5, 0.5, 0.5, 0.5), 0.9),
    "y": ((1.0, 0.1, 0.1, 0.1, 1.0), 1.0),
}

# Hand centre at rest: hanging down beside the hips, low in (or partly below) the frame.
REST_POS = np.array([-0.6, 1.3])
REST_ANGLE = 90.0
# Signing space is scaled about this point (mid chest) for per-signer and per-clip size variation.
SIGN_ANCHOR = np.array([0.0, 0.3])


_FIELDS = ("pos", "angle", "scale", "ext", "spread")


@dataclass(frozen=True)
class HandTrack:
    """Per-frame pose of one hand: what the renderer needs to draw it.

    pos (T, 2) hand centre, angle (T,) finger direction in degrees, scale (T,) apparent size (> 1 =
    nearer the camera), ext (T, 5) finger extension, spread (T,) finger spread.
    """

    pos: np.ndarray
    angle: np.ndarray
    scale: np.ndarray
    ext: np.ndarray
    spread: np.ndarray

    def __len__(self) -> int:
        return len(self.pos)

    def __getitem__(self, index: slice | np.ndarray) -> HandTrack:
        """The frames selected by a slice or an index array."""
        return HandTrack(*(getattr(self, f)[index] for f in _FIELDS))

    def mirrored(self) -> HandTrack:
        """The same motion for the other hand, reflected about the body's midline."""
        pos = self.pos * np.array([-1.0, 1.0])
        return HandTrack(pos, 180.0 - self.angle, self.scale, self.ext, self.spread)

    @staticmethod
    def concat(tracks: list[HandTrack]) -> HandTrack:
        """One track that plays ``tracks`` one after the other."""
        return HandTrack(*(np.concatenate([getattr(t, f) for t in tracks]) for f in _FIELDS))


@dataclass(frozen=True)
class SignClass:
    """One class of the vocabulary: its name and its motion over the phase u in [0, 1].

    ``motion(u)`` returns the dominant hand's track and the other hand's track, or None when the
    other hand stays at rest (a one-handed sign).
    """

    name: str
    description: str
    motion: Callable[[np.ndarray], tuple[HandTrack, HandTrack | None]]


def _ease(w: np.ndarray) -> np.ndarray:
    w = np.clip(w, 0.0, 1.0)
    return w * w * (3.0 - 2.0 * w)


def _lerp(a: np.ndarray | float, b: np.ndarray | float, w: np.ndarray) -> np.ndarray:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return a + (b - a) * (w[:, None] if a.ndim else w)


def _angle_lerp(a: float, b: float, w: np.ndarray) -> np.ndarray:
    """Turn from ``a`` to ``b`` the short way round."""
    delta = (b - a + 180.0) % 360.0 - 180.0
    return a + delta * w


def _shape(u: np.ndarray, start: str, end: str | None = None, window: tuple[float, float] = (0.3, 0.7)):
    """Finger extension and spread over u: ``start`` shape, changing to ``end`` within ``window``."""
    e0, s0 = SHAPES[start]
    e1, s1 = SHAPES[end or start]
    w = _ease((u - window[0]) / (window[1] - window[0]))
    return _lerp(np.array(e0), np.array(e1), w), _lerp(s0, s1, w)


def _track(u: np.ndarray, pos: np.ndarray, angle: np.ndarray | float, start: str, end: str | None = None,
           window: tuple[float, float] = (0.3, 0.7), scale: np.ndarray | float = 1.0) -> HandTrack:
    ext, spread = _shape(u, start, end, window)
    return HandTrack(np.asarray(pos, float), np.broadcast_to(np.asarray(angle, float), u.shape).copy(),
                     np.broadcast_to(np.asarray(scale, float), u.shape).copy(), ext, spread)


def _still(u: np.ndarray, pos: tuple[float, float], angle: float, shape: str) -> HandTrack:
    return _track(u, np.tile(np.array(pos, float), (len(u), 1)), angle, shape)


def _circle(u: np.ndarray, centre: tuple[float, float], radius: tuple[float, float], start_deg: float,
            turns: float) -> np.ndarray:
    theta = np.radians(start_deg + 360.0 * turns * u)
    return np.array(centre) + np.stack([radius[0] * np.cos(theta), radius[1] * np.sin(theta)], axis=1)


def _taps(u: np.ndarray, contact: tuple[float, float], away: tuple[float, float], taps: int) -> np.ndarray:
    """Start away, touch ``contact`` ``taps`` times, end away."""
    return _lerp(contact, away, 0.5 + 0.5 * np.cos(2.0 * np.pi * taps * u))


def _wave(u):
    sway = np.sin(2 * np.pi * 2 * u)
    pos = np.stack([-0.62 + 0.16 * sway, -0.3 + 0.02 * np.cos(4 * np.pi * 2 * u)], axis=1)
    return _track(u, pos, -90 + 18 * sway, "open"), None


def _circle_sign(u):
    return _track(u, _circle(u, (-0.2, 0.4), (0.24, 0.24), -90, 1.0), -60, "point"), None


def _push(u):
    w = _ease(u)
    dom = _track(u, _lerp((-0.22, 0.62), (-0.36, 0.2), w), -90, "flat", scale=1.0 + 0.7 * w)
    return dom, dom.mirrored()


def _grab(u):
    w = _ease(u / 0.8)
    return _track(u, _lerp((-0.8, 0.12), (-0.15, 0.45), w), _angle_lerp(-100, -45, w), "open", "fist",
                  (0.45, 0.85)), None


def _chin_tap(u):
    return _track(u, _taps(u, (-0.06, -0.17), (-0.22, 0.05), 2), -60, "point"), None


def _rain(u):
    y = -0.3 + 0.9 * (0.5 - 0.5 * np.cos(3 * np.pi * u))
    dom = _track(u, np.stack([np.full_like(u, -0.35), y], axis=1), 90, "claw")
    return dom, dom.mirrored()


def _clap(u):
    x = -(0.07 + 0.3 * (0.5 + 0.5 * np.cos(2 * np.pi * 2 * u)))
    dom = _track(u, np.stack([x, np.full_like(u, 0.35)], axis=1), -70, "flat")
    return dom, dom.mirrored()


def _think(u):
    w = _ease(u / 0.6)
    return _track(u, _lerp((-0.35, 0.15), (-0.2, -0.5), w), -55, "point"), None


def _swipe(u):
    w = _ease(u)
    return _track(u, _lerp((-0.75, -0.1), (0.3, 0.65), w), _angle_lerp(-30, 10, w), "flat"), None


def _cycle(u):
    dom = _track(u, _circle(u, (-0.3, 0.45), (0.16, 0.16), 0, 2.0), -90, "fist")
    other = _track(u, _circle(u, (0.3, 0.45), (0.16, 0.16), 180, 2.0), -90, "fist")
    return dom, other


def _big_circle(u):
    dom = _track(u, _circle(u, (-0.38, 0.12), (0.3, 0.3), 90, -1.0), -90, "open")
    return dom, dom.mirrored()


def _thumbs_up(u):
    w = _ease(u / 0.7)
    return _track(u, _lerp((-0.3, 0.65), (-0.25, 0.0), w), 180, "fist", "thumb", (0.2, 0.6)), None


def _v_across(u):
    return _track(u, _lerp((-0.7, 0.3), (0.25, 0.3), _ease(u)), -90, "v"), None


def _burst(u):
    w = _ease(u)
    dom = _track(u, _lerp((-0.08, 0.35), (-0.62, 0.0), w), _angle_lerp(-60, -120, w), "fist", "open",
                 (0.1, 0.5))
    return dom, dom.mirrored()


def _zigzag(u):
    pos = np.stack([-0.3 + 0.22 * np.sin(2 * np.pi * 2 * u), -0.15 + 0.9 * u], axis=1)
    return _track(u, pos, -30, "point"), None


def _base_tap(u):
    dom = _track(u, _taps(u, (-0.02, 0.45), (-0.2, 0.1), 2), 70, "point")
    return dom, _still(u, (0.12, 0.58), 180, "flat")


def _shake(u):
    pos = np.stack([-0.5 + 0.1 * np.sin(2 * np.pi * 2.5 * u), -0.05 + 0.03 * np.sin(2 * np.pi * 5 * u)],
                   axis=1)
    return _track(u, pos, -90, "fist"), None


def _over_head(u):
    theta = 200 + 140 * _ease(u)
    rad = np.radians(theta)
    pos = np.stack([0.55 * np.cos(rad), -0.23 + 0.42 * np.sin(rad)], axis=1)
    return _track(u, pos, theta, "open"), None


def _rub(u):
    return _track(u, _circle(u, (-0.05, 0.85), (0.12, 0.1), 180, 2.0), 0, "flat"), None


def _pull(u):
    w = _ease(u)
    dom = _track(u, _lerp((-0.7, 0.2), (-0.22, 0.45), w), _angle_lerp(-90, -60, w), "open", "fist",
                 (0.3, 0.8), scale=1.35 - 0.4 * w)
    return dom, dom.mirrored()


def _cross(u):
    w = _ease(u)
    dom = _track(u, _lerp((-0.45, 0.65), (0.1, 0.3), w), _angle_lerp(-90, -45, w), "fist")
    return dom, dom.mirrored()


def _phone(u):
    rock = np.sin(2 * np.pi * 2 * u)
    pos = np.stack([-0.3 + 0.03 * rock, np.full_like(u, -0.36)], axis=1)
    return _track(u, pos, -115 + 20 * rock, "y"), None


def _wave_both(u):
    dom, _ = _wave(u)
    return dom, dom.mirrored()


def _point_out(u):
    w = _ease(u / 0.6)
    return _track(u, _lerp((-0.15, 0.4), (-0.78, 0.05), w), _angle_lerp(-60, -165, w), "point"), None


SIGNS: tuple[SignClass, ...] = (
    SignClass("wave", "open hand waves beside the head", _wave),
    SignClass("circle", "index finger draws a circle in front of the chest", _circle_sign),
    SignClass("push", "both flat hands push up and towards the camera", _push),
    SignClass("grab", "open hand sweeps in to the chest and closes to a fist", _grab),
    SignClass("chin_tap", "index finger taps the chin twice", _chin_tap),
    SignClass("rain", "both clawed hands fall, rise and fall", _rain),
    SignClass("clap", "two flat hands clap twice", _clap),
    SignClass("think", "index finger rises to the temple and stays", _think),
    SignClass("swipe", "flat hand swipes diagonally across the body", _swipe),
    SignClass("cycle", "two fists circle alternately like pedals", _cycle),
    SignClass("big_circle", "both open hands draw mirrored circles", _big_circle),
    SignClass("thumbs_up", "fist rises and the thumb comes up", _thumbs_up),
    SignClass("v_across", "V hand moves straight across the chest", _v_across),
    SignClass("burst", "two fists open while moving apart", _burst),
    SignClass("zigzag", "index finger zigzags downwards", _zigzag),
    SignClass("base_tap", "index finger taps twice on a still flat hand", _base_tap),
    SignClass("shake", "fist shakes at shoulder height", _shake),
    SignClass("over_head", "open hand arcs over the head", _over_head),
    SignClass("rub", "flat hand rubs circles on the belly", _rub),
    SignClass("pull", "two open hands pull in and close to fists", _pull),
    SignClass("cross", "two fists rise and cross at the wrists", _cross),
    SignClass("phone", "Y hand (thumb and little finger out) rocks at the ear", _phone),
    SignClass("wave_both", "both open hands wave beside the head", _wave_both),
    SignClass("point_out", "index finger points out to the side and holds", _point_out),
)
MAX_CLASSES = len(SIGNS)


def class_names(count: int) -> list[str]:
    """Readable label of each of the first ``count`` classes, e.g. ``c00_wave``."""
    return [f"c{i:02d}_{SIGNS[i].name}" for i in range(count)]


@dataclass(frozen=True)
class Style:
    """How one performance deviates from the textbook sign (signer habits plus clip-to-clip noise).

    Drawn from the random generator independently of the class, so no class has its own style.
    """

    amplitude: float  # size of the signing space about SIGN_ANCHOR
    offset: tuple[float, float]  # shift of the signing space
    tilt: float  # degrees added to the dominant hand's angle (mirrored for the other hand)
    warp: float  # speed change within the sign, |warp| < 1 keeps time monotonic
    idle_phase: tuple[float, float, float, float]  # phases of the small rest motion of each hand


def _rest(frames: np.ndarray, fps: float, side: float, phases: tuple[float, float]) -> HandTrack:
    """Hands hanging at rest with a small idle sway (people are never perfectly still)."""
    t = frames / fps
    pos = REST_POS + np.stack([0.015 * np.sin(2 * np.pi * 0.35 * t + phases[0]),
                               0.012 * np.sin(2 * np.pi * 0.5 * t + phases[1])], axis=1)
    angle = REST_ANGLE + 3 * np.sin(2 * np.pi * 0.3 * t + phases[0])
    track = _track(np.zeros(len(frames)), pos, angle, "relaxed")
    return track if side < 0 else track.mirrored()


def _blend(a: HandTrack, b: HandTrack, w: np.ndarray) -> HandTrack:
    """Per-frame interpolation from pose track ``a`` to pose track ``b`` (angles the short way)."""
    def mix(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return x + (y - x) * w.reshape(-1, *[1] * (x.ndim - 1))

    angle = a.angle + ((b.angle - a.angle + 180.0) % 360.0 - 180.0) * w
    return HandTrack(mix(a.pos, b.pos), angle, mix(a.scale, b.scale), mix(a.ext, b.ext), mix(a.spread, b.spread))


def _styled(track: HandTrack, style: Style, side: float) -> HandTrack:
    pos = SIGN_ANCHOR + (track.pos - SIGN_ANCHOR) * style.amplitude + np.array(style.offset)
    return HandTrack(pos, track.angle + side * -style.tilt, track.scale, track.ext, track.spread)


def perform(sign: SignClass, first_frame: int, approach: int, core: int, retract: int, fps: float,
            style: Style) -> tuple[HandTrack, HandTrack]:
    """Both hands' tracks for one sign: leave rest, perform the motion, return to rest.

    Frame numbers start at ``first_frame`` so that the idle sway at the ends continues smoothly from
    the rest periods around the sign in a long stream.
    """
    lin = np.linspace(0.0, 1.0, core)
    u = lin + style.warp * np.sin(np.pi * lin) / np.pi
    dom_core, other_core = sign.motion(u)
    dom_core = _styled(dom_core, style, -1.0)
    other_core = None if other_core is None else _styled(other_core, style, 1.0)
    hands = []
    for side, core_track, phases in ((-1.0, dom_core, style.idle_phase[:2]),
                                     (1.0, other_core, style.idle_phase[2:])):
        frames = np.arange(first_frame, first_frame + approach + core + retract)
        rest = _rest(frames, fps, side, phases)
        if core_track is None:
            hands.append(rest)
            continue
        w_in = _ease(np.arange(1, approach + 1) / (approach + 1))
        w_out = _ease(np.arange(1, retract + 1) / (retract + 1))
        hands.append(HandTrack.concat([
            _blend(rest[:approach], core_track[np.zeros(approach, int)], w_in),
            core_track,
            _blend(core_track[np.full(retract, core - 1)], rest[approach + core:], w_out),
        ]))
    return hands[0], hands[1]


def rest_period(first_frame: int, count: int, fps: float, style: Style) -> tuple[HandTrack, HandTrack]:
    """Both hands at rest for ``count`` frames starting at ``first_frame``."""
    frames = np.arange(first_frame, first_frame + count)
    return _rest(frames, fps, -1.0, style.idle_phase[:2]), _rest(frames, fps, 1.0, style.idle_phase[2:])
