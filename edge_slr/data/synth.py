"""``edge-slr synth``: generated sign clips for tests, demos and benchmarks (NumPy and OpenCV only).

Real sign datasets cannot be downloaded everywhere, so the project renders learnable data of its own:
a stylised signer performs the classes of :mod:`edge_slr.data.synth_signs`. Each signer has their own
skin, hair, build, signing habits, shirts and recording rooms; each clip picks one shirt and room and
draws its own framing, lighting, noise, speed and small deviations of the motion. None of it depends
on the label, so only the motion identifies a class and a signer split measures what it should.

Determinism: every clip has its own random generator seeded by (seed, signer, class, clip), so the
same seed gives the same frames whatever is generated around it.

Outputs (in OUT): ``<class>/<signer>_<clip>.mp4``, ``manifest.csv`` (path, label, signer),
``classes.txt``, ``synth.json`` (the settings used) and ``preview.png`` (middle frames, one row per
class). With ``--stream``: ``stream.mp4`` with several signs separated by rest, and ``stream.json``
with the ground truth.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import io
import os
import re
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from edge_slr import __version__
from edge_slr.data.synth_render import RGB, Appearance, Camera, Scene
from edge_slr.data.synth_signs import MAX_CLASSES, SIGNS, HandTrack, Style, class_names, perform, rest_period
from edge_slr.errors import UserError
from edge_slr.utils.atomic import atomic_path, write_json, write_text

MIN_FRAMES = 16  # a clip must hold at least one model input window
PREVIEW_SIGNERS = 4
PREVIEW_CELL = 112
BACKGROUND_LABEL = "no_sign"  # rest-only clips: what a live model sees between signs
_STREAM_SIGNER_NOTE = "a signer id one past the dataset's signers, so a dataset with the same seed never shows them"


@dataclass(frozen=True)
class SynthConfig:
    """Everything that decides the generated data; written to ``synth.json`` next to it."""

    out: Path | None = None  # output folder; only the writers need it
    classes: int = 10
    clips_per_class: int = 8  # per class and signer
    signers: int = 4
    width: int = 112
    height: int = 112
    fps: float = 25.0
    seed: int = 0
    seconds: tuple[float, float] = (1.6, 2.8)  # clip length range (speed variation)
    stream: bool = False
    signs: int = 6  # signs in a stream
    rest_seconds: tuple[float, float] = (1.0, 2.0)  # rest between signs in a stream
    # add a BACKGROUND_LABEL class (rest and partial-sign windows: the live no-sign state), and cut half of the
    # sign clips as a live window sees them (the sign at any offset, neighbours at the edges)
    background: bool = False
    overwrite: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.classes <= MAX_CLASSES:
            raise UserError(f"--classes must be between 1 and {MAX_CLASSES} (the number of synthetic signs defined), "
                            f"got {self.classes}")
        for name in ("clips_per_class", "signers", "signs"):
            if getattr(self, name) < 1:
                raise UserError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        for name, value in (("width", self.width), ("height", self.height)):
            if not 32 <= value <= 4096 or value % 2:
                raise UserError(f"--size {name} must be an even number of pixels from 32 to 4096, got {value}")
        if self.seed < 0:
            raise UserError(f"--seed must be 0 or more, got {self.seed}")
        if not 0 < self.seconds[0] <= self.seconds[1] or not 0 < self.rest_seconds[0] <= self.rest_seconds[1]:
            raise UserError(f"durations must be positive ranges (low <= high), "
                            f"got {self.seconds} and {self.rest_seconds}")
        if not self.fps > 0 or self.frame_range[0] < MIN_FRAMES:
            raise UserError(f"--fps {self.fps:g} gives clips of {self.frame_range[0]} frames; need at least "
                            f"{MIN_FRAMES}: use --fps {MIN_FRAMES / self.seconds[0]:g} or more")

    @property
    def frame_range(self) -> tuple[int, int]:
        """Fewest and most frames of a dataset clip (rest included)."""
        return round(self.seconds[0] * self.fps), round(self.seconds[1] * self.fps)

    def to_json(self) -> dict:
        """The settings as plain JSON values (the output folder left out: it is where the file is)."""
        data = dataclasses.asdict(self)
        data.pop("out")
        return data


@dataclass(frozen=True)
class SynthClip:
    """One rendered clip held in memory.

    frames (T, H, W, 3) RGB uint8; hands (T, 2, 2) pixel centres of the dominant and the other hand;
    the sign (leaving rest .. back at rest) spans frames sign_start..sign_end inclusive.
    """

    frames: np.ndarray
    label: str
    signer: str
    sign_start: int
    sign_end: int
    hands: np.ndarray


def parse_size(text: str, flag: str = "--size", example: str = "112x112") -> tuple[int, int]:
    """``"WxH"`` -> (width, height); a :class:`UserError` naming ``flag`` for anything else."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not match:
        raise UserError(f"{flag} must be WIDTHxHEIGHT in pixels, e.g. {example}, got '{text}'")
    return int(match.group(1)), int(match.group(2))


# -- random draws (each from its own generator, never from the label) --------------------------------
def _hsv(rng: np.random.Generator, sat: tuple[float, float], val: tuple[float, float]) -> np.ndarray:
    hsv = np.array([[[rng.uniform(0, 180), rng.uniform(*sat) * 255, rng.uniform(*val) * 255]]], np.float32)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)[0, 0].astype(float)


def _distinct(rng: np.random.Generator, draw, others: list[np.ndarray], min_distance: float) -> np.ndarray:
    """Draw a colour far enough from ``others`` that hands stay visible against it."""
    for _ in range(100):
        colour = draw()
        if all(np.linalg.norm(colour - o) >= min_distance for o in others):
            return colour
    return colour


def _rgb(colour: np.ndarray) -> tuple[int, int, int]:
    return tuple(int(c) for c in np.clip(np.round(colour), 0, 255))


_SKIN_TONES = np.array([[246, 222, 200], [226, 184, 150], [196, 142, 104], [150, 100, 68], [96, 62, 42]], float)
_HAIR = np.array([[28, 22, 20], [70, 45, 30], [122, 82, 48], [205, 175, 115], [160, 160, 160], [145, 62, 32]], float)


WARDROBE, ROOMS = 3, 3  # shirts and recording rooms per signer: clips differ in clothes and background too


@dataclass(frozen=True)
class Signer:
    """One synthetic person: looks and signing habits, and the shirts and rooms they are recorded in.

    Clothes and background change from clip to clip (several recording sessions), so even three
    training signers show a model many colour combinations; skin, hair, build and habits stay.
    """

    look: Appearance  # shirt and background here are those of the first session
    shirts: tuple[RGB, ...]
    rooms: tuple[tuple[RGB, RGB, tuple], ...]  # background, background_far, props
    habit: Style


def _room(rng: np.random.Generator, skin: np.ndarray, shirts: list[np.ndarray]) -> tuple[RGB, RGB, tuple]:
    background = _distinct(rng, lambda: _hsv(rng, (0.05, 0.6), (0.3, 0.95)), [skin, *shirts], 70)
    far = np.clip(background * rng.uniform(0.7, 1.15) + rng.normal(0, 12, 3), 0, 255)
    props = []
    for _ in range(rng.integers(0, 4)):
        x0, y0 = rng.uniform(-1.7, 1.2), rng.uniform(-1.1, 0.9)
        colour = _distinct(rng, lambda: np.clip(background * rng.uniform(0.55, 1.35) + rng.normal(0, 25, 3), 0, 255),
                           [skin], 60)
        props.append((x0, y0, x0 + rng.uniform(0.15, 0.7), y0 + rng.uniform(0.2, 0.9), _rgb(colour)))
    return _rgb(background), _rgb(far), tuple(props)


def sample_signer(seed: int, signer: int) -> Signer:
    """Signer number ``signer`` of this seed (drawn from its own generator, never from a label)."""
    rng = np.random.default_rng([seed, 1, signer])
    t = rng.uniform(0, len(_SKIN_TONES) - 1)
    i = min(int(t), len(_SKIN_TONES) - 2)
    skin = _SKIN_TONES[i] + (_SKIN_TONES[i + 1] - _SKIN_TONES[i]) * (t - i) + rng.normal(0, 5, 3)
    shirts = []
    for _ in range(WARDROBE):
        shirts.append(_distinct(rng, lambda: _hsv(rng, (0.2, 0.9), (0.2, 0.85)), [skin], 110))
    rooms = tuple(_room(rng, skin, shirts) for _ in range(ROOMS))
    look = Appearance(
        skin=_rgb(skin), hair=_rgb(_HAIR[rng.integers(len(_HAIR))] + rng.normal(0, 6, 3)),
        hair_style=str(rng.choice(["none", "short", "short", "long"])), shirt=_rgb(shirts[0]),
        background=rooms[0][0], background_far=rooms[0][1], props=rooms[0][2], body_scale=rng.uniform(0.9, 1.08),
        body_offset=(rng.uniform(-0.12, 0.12), rng.uniform(-0.05, 0.08)), hand_size=rng.uniform(0.92, 1.08))
    habit = Style(amplitude=rng.uniform(0.9, 1.1), offset=(rng.normal(0, 0.04), rng.normal(0, 0.04)),
                  tilt=rng.normal(0, 5), warp=0.0, idle_phase=(0.0, 0.0, 0.0, 0.0))
    return Signer(look, tuple(_rgb(c) for c in shirts), rooms, habit)


def _clip_appearance(signer: Signer, rng: np.random.Generator) -> Appearance:
    """The signer in one session: one of their shirts and rooms, colours shifted a little (light, dye)."""
    def shift(colour):
        return _rgb(np.array(colour, float) + rng.normal(0, 8, 3))
    background, far, props = signer.rooms[rng.integers(len(signer.rooms))]
    return dataclasses.replace(signer.look, skin=shift(signer.look.skin),
                               shirt=shift(signer.shirts[rng.integers(len(signer.shirts))]),
                               background=shift(background), background_far=shift(far), props=props)


def _camera(rng: np.random.Generator) -> Camera:
    return Camera(zoom=rng.uniform(0.92, 1.08), rotation_deg=rng.uniform(-5, 5),
                  shift=(rng.uniform(-0.06, 0.06), rng.uniform(-0.05, 0.05)), gain=rng.uniform(0.75, 1.2),
                  tint=(1 + rng.uniform(-0.06, 0.06), 1.0, 1 + rng.uniform(-0.06, 0.06)), ramp=rng.uniform(0, 0.35),
                  ramp_deg=rng.uniform(0, 360), noise_sigma=rng.uniform(1, 5), flicker=rng.uniform(0, 0.008))


def _clip_style(habit: Style, rng: np.random.Generator, idle_phase=None) -> Style:
    return Style(amplitude=habit.amplitude * rng.uniform(0.93, 1.07),
                 offset=(habit.offset[0] + rng.normal(0, 0.03), habit.offset[1] + rng.normal(0, 0.03)),
                 tilt=habit.tilt + rng.normal(0, 4), warp=rng.uniform(-0.3, 0.3),
                 idle_phase=tuple(rng.uniform(0, 2 * np.pi, 4)) if idle_phase is None else idle_phase)


def _sign_segments(rng: np.random.Generator, sign_frames: int) -> tuple[int, int, int]:
    """Split a sign's frames into leaving rest, the motion itself, and returning to rest."""
    approach = max(2, round(sign_frames * rng.uniform(0.14, 0.2)))
    retract = max(2, round(sign_frames * rng.uniform(0.14, 0.2)))
    return approach, sign_frames - approach - retract, retract


# -- rendering --------------------------------------------------------------------------------------
def _frames(scene: Scene, dominant: HandTrack, other: HandTrack) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    for index in range(len(dominant)):
        yield scene.frame(dominant, other, index)


def label_names(config: SynthConfig) -> list[str]:
    """The dataset's labels: the sign classes, then :data:`BACKGROUND_LABEL` when ``config.background``."""
    return class_names(config.classes) + ([BACKGROUND_LABEL] if config.background else [])


MAX_PARTIAL = 0.4  # a no-sign clip shows at most this share of any sign's frames
STREAM_WINDOW_SHARE = 0.5  # with ``background`` (a live dataset), this share of sign clips are stream windows
MIN_TARGET = 0.9  # a stream-window sign clip shows at least this share of its sign ...
MAX_NEIGHBOUR = 0.3  # ... and at most this share of a neighbouring sign


def _short_stream(config: SynthConfig, rng: np.random.Generator, style: Style, signs: Sequence[int],
                  sign_frames: Callable[[], int], tail: int) -> tuple[HandTrack, HandTrack, list[tuple[int, int]]]:
    """Rest, sign, rest, sign, ..., rest (``tail`` frames) with stream-like rest lengths; returns the hand tracks
    and each sign's frame span ``[first, end)``."""
    rest_lo, rest_hi = (round(x * config.fps) for x in config.rest_seconds)
    parts, spans, frame = [], [], 0
    for k in signs:
        count = int(rng.integers(rest_lo, rest_hi + 1))
        parts.append(rest_period(frame, count, config.fps, style))
        frame += count
        approach, core, retract = _sign_segments(rng, sign_frames())
        parts.append(perform(SIGNS[int(k)], frame, approach, core, retract, config.fps, style))
        spans.append((frame, frame + approach + core + retract))
        frame = spans[-1][1]
    parts.append(rest_period(frame, tail, config.fps, style))
    dominant, other = (HandTrack.concat([p[h] for p in parts]) for h in (0, 1))
    return dominant, other, spans


def _inside(span: tuple[int, int], start: int, length: int) -> float:
    """Share of the span's frames that lie in the window ``[start, start + length)``."""
    a, b = span
    return max(0, min(b, start + length) - max(a, start)) / (b - a)


def _background_tracks(config: SynthConfig, rng: np.random.Generator, style: Style, total: int
                       ) -> tuple[HandTrack, HandTrack]:
    """A no-sign clip: a window of a sign stream that holds no sign to any large part, or rest only.

    A live window slides over a stream, so between two signs it holds the end of one, rest and the start of
    the next; none of that may fire an event. Three quarters of these clips are such windows, cut at random
    from a short stream (rest, sign, rest, sign, rest) where no sign has more than :data:`MAX_PARTIAL` of its
    frames inside the window: the partial-window negatives of streaming detection, which teach the model to
    wait until a sign is mostly visible. The rest are the signer at rest.
    """
    if rng.random() < 0.25:
        return rest_period(0, total, config.fps, style)
    dominant, other, spans = _short_stream(config, rng, style, rng.choice(config.classes, size=2),
                                           lambda: round(total * rng.uniform(0.6, 0.8)), total)
    for _ in range(100):
        start = int(rng.integers(0, len(dominant) - total + 1))
        if max(_inside(span, start, total) for span in spans) <= MAX_PARTIAL:
            return dominant[start:start + total], other[start:start + total]
    return rest_period(0, total, config.fps, style)


def _stream_window_tracks(config: SynthConfig, rng: np.random.Generator, style: Style, total: int,
                          class_index: int) -> tuple[HandTrack, HandTrack, int, int]:
    """A sign clip cut from a stream the way a live window sees it: the sign anywhere in the window.

    Isolated clips hold their sign centred between short rests; the live window slides over a stream and holds
    the sign at any offset, sometimes clipped at one end, with rest and the edge of a neighbouring sign around
    it. Trained only on centred clips, the demo model confused signs at offsets it never saw. The clip is cut
    from a short stream (neighbour, the sign, neighbour; as in a stream, a sign's length does not depend on the
    window's) where the sign has at least :data:`MIN_TARGET` of its frames inside the window and a neighbour at
    most :data:`MAX_NEIGHBOUR`. Returns the tracks and the first and last frame of the sign within the window.
    """
    others = [k for k in range(config.classes) if k != class_index] or [class_index]
    lo, hi = config.frame_range
    dominant, other, spans = _short_stream(
        config, rng, style, (int(rng.choice(others)), class_index, int(rng.choice(others))),
        lambda: round(int(rng.integers(lo, hi + 1)) * rng.uniform(0.6, 0.8)), total)
    target, neighbours = spans[1], (spans[0], spans[2])
    starts = [start for start in range(len(dominant) - total + 1) if _inside(target, start, total) >= MIN_TARGET
              and all(_inside(span, start, total) <= MAX_NEIGHBOUR for span in neighbours)]
    a, b = target
    start = int(rng.choice(starts)) if starts else max(0, (a + b - total) // 2)
    return (dominant[start:start + total], other[start:start + total],
            max(a, start) - start, min(b, start + total) - 1 - start)


def render_clip(config: SynthConfig, class_index: int, signer: int = 0, clip: int = 0) -> SynthClip:
    """Render one dataset clip in memory: exactly what ``generate_dataset`` writes for this (class, signer, clip).

    With ``config.background``, class index ``config.classes`` is the no-sign class: the signer at rest
    (idle sway, breathing) for a whole clip, so a live model learns what "nothing is being signed" looks like.
    """
    names = label_names(config)
    if not 0 <= class_index < len(names):
        raise UserError(f"class index must be 0..{len(names) - 1}, got {class_index}")
    person = sample_signer(config.seed, signer)
    rng = np.random.default_rng([config.seed, 2, signer, class_index, clip])
    scene = Scene(_clip_appearance(person, rng), _camera(rng), config.width, config.height,
                  np.random.default_rng([config.seed, 4, signer, class_index, clip]))
    style = _clip_style(person.habit, rng)
    total = int(rng.integers(config.frame_range[0], config.frame_range[1] + 1))
    if class_index == config.classes:  # background: rest, or only the start or the end of a sign
        dominant, other = _background_tracks(config, rng, style, total)
        frames, hands = zip(*_frames(scene, dominant, other), strict=True)
        return SynthClip(np.stack(frames), BACKGROUND_LABEL, f"s{signer}", 0, -1, np.stack(hands))
    if config.background and rng.random() < STREAM_WINDOW_SHARE:  # a live model also sees signs at any offset
        dominant, other, first, last = _stream_window_tracks(config, rng, style, total, class_index)
        frames, hands = zip(*_frames(scene, dominant, other), strict=True)
        return SynthClip(np.stack(frames), names[class_index], f"s{signer}", first, last, np.stack(hands))
    rest_in, rest_out = (max(1, round(total * rng.uniform(0.1, 0.2))) for _ in range(2))
    approach, core, retract = _sign_segments(rng, total - rest_in - rest_out)
    rest_a = rest_period(0, rest_in, config.fps, style)
    sign = perform(SIGNS[class_index], rest_in, approach, core, retract, config.fps, style)
    rest_b = rest_period(rest_in + approach + core + retract, rest_out, config.fps, style)
    dominant, other = (HandTrack.concat([rest_a[h], sign[h], rest_b[h]]) for h in (0, 1))
    frames, hands = zip(*_frames(scene, dominant, other), strict=True)
    return SynthClip(np.stack(frames), names[class_index], f"s{signer}", rest_in,
                     total - rest_out - 1, np.stack(hands))


# -- writing ----------------------------------------------------------------------------------------
def count_frames(path: Path) -> int:
    """Frames OpenCV can decode from ``path`` (0 if it cannot open it)."""
    capture = cv2.VideoCapture(str(path))
    try:
        count = 0
        while capture.grab():
            count += 1
        return count
    finally:
        capture.release()


def write_video(path: Path, frames: Iterable[np.ndarray], fps: float, width: int, height: int) -> int:
    """Write RGB frames as an MPEG-4 (mp4v) file atomically; check it decodes to as many frames."""
    with atomic_path(path) as tmp:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
        if not writer.isOpened():
            raise UserError(f"OpenCV cannot write mp4v video to {path}; it needs an OpenCV build with FFmpeg")
        written = 0
        try:
            for frame in frames:
                writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
                written += 1
        finally:
            writer.release()
        decoded = count_frames(tmp)
        if decoded != written:
            raise RuntimeError(f"{path}: wrote {written} frames but OpenCV decodes {decoded}")
    return written


@contextlib.contextmanager
def _fresh_folder(out: Path, overwrite: bool) -> Iterator[Path]:
    """Build the output in a hidden sibling folder and move it to ``out`` only when complete."""
    out = out.resolve()  # "." has no name to build a sibling from
    if out.exists() and not out.is_dir():
        raise UserError(f"{out} exists and is not a folder; choose a folder name for the output")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise UserError(f"{out} is not empty; choose a new folder or pass --overwrite to replace an earlier "
                            "synth output")
        if not (out / "synth.json").is_file():
            raise UserError(f"{out} is not empty and has no synth.json, so it is not a synth output; "
                            "refusing to replace it, choose a new folder")
    partial = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        yield partial
        if out.exists():
            shutil.rmtree(out)
        os.replace(partial, out)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def _require_out(config: SynthConfig) -> Path:
    if config.out is None:
        raise UserError("no output folder given")
    return Path(config.out)


def _settings(config: SynthConfig, names: list[str], **extra) -> dict:
    return {"generator": f"edge-slr {__version__} synth", "config": config.to_json(), "classes": names,
            "descriptions": {n: SIGNS[i].description for i, n in enumerate(names)}, **extra}


def _preview(cells: dict[tuple[int, int], np.ndarray], names: list[str], signers: int) -> np.ndarray:
    """Contact sheet: one row per class, one column per signer (middle frame of clip 0)."""
    columns = min(signers, PREVIEW_SIGNERS)
    any_frame = next(iter(cells.values()))
    cell_w = round(PREVIEW_CELL * any_frame.shape[1] / any_frame.shape[0])
    label_h, pad = 16, 2
    sheet = np.full((label_h + len(names) * (PREVIEW_CELL + label_h + pad), columns * (cell_w + pad), 3), 32, np.uint8)
    for s in range(columns):
        cv2.putText(sheet, f"signer s{s}", (s * (cell_w + pad) + 4, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                    (230, 230, 230), 1, cv2.LINE_AA)
    for k, name in enumerate(names):
        top = label_h + k * (PREVIEW_CELL + label_h + pad)
        cv2.putText(sheet, name, (4, top + 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 230, 120), 1, cv2.LINE_AA)
        for s in range(columns):
            cell = cv2.resize(cells[k, s], (cell_w, PREVIEW_CELL), interpolation=cv2.INTER_AREA)
            x = s * (cell_w + pad)
            sheet[top + label_h:top + label_h + PREVIEW_CELL, x:x + cell_w] = cell
    return sheet


def _write_png(path: Path, rgb: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        if not cv2.imwrite(str(tmp), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
            raise RuntimeError(f"OpenCV could not write {path}")


def generate_dataset(config: SynthConfig) -> Path:
    """Write the clips, ``manifest.csv``, ``classes.txt``, ``synth.json`` and ``preview.png``; return the manifest."""
    out = _require_out(config)
    names = label_names(config)
    jobs = [(k, s, c) for k in range(len(names)) for s in range(config.signers)
            for c in range(config.clips_per_class)]
    rows, cells, frames_written = [], {}, 0
    with _fresh_folder(out, config.overwrite) as folder:
        for k, s, c in tqdm(jobs, desc="synth clips", unit="clip", leave=False):
            clip = render_clip(config, k, s, c)
            rel = f"{names[k]}/s{s}_{c:03d}.mp4"
            frames_written += write_video(folder / rel, clip.frames, config.fps, config.width, config.height)
            rows.append((rel, clip.label, clip.signer))
            if c == 0 and s < PREVIEW_SIGNERS:
                cells[k, s] = clip.frames[len(clip.frames) // 2]
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(["path", "label", "signer"])
        writer.writerows(rows)
        write_text(folder / "manifest.csv", text.getvalue())
        write_text(folder / "classes.txt", "".join(f"{n}\n" for n in names))
        write_json(folder / "synth.json", _settings(config, names, clips=len(rows), frames=frames_written,
                                                   signers=[f"s{s}" for s in range(config.signers)]))
        _write_png(folder / "preview.png", _preview(cells, names, config.signers))
    return out / "manifest.csv"


@dataclass(frozen=True)
class StreamPlan:
    """A planned sign stream: the scene and both hands' tracks for every frame, plus its ground truth.

    Frames are rendered on demand (:meth:`frame`), so the live pipeline's ``synth`` source can play a
    stream of any length without writing a video first; ``generate_stream`` writes the same frames.
    """

    scene: Scene
    dominant: HandTrack
    other: HandTrack
    truth: list[dict]  # {"label", "class_index", "start_frame", "end_frame"} per sign
    names: list[str]
    signer: int

    @property
    def frames(self) -> int:
        return len(self.dominant)

    def frame(self, index: int) -> np.ndarray:
        """RGB frame ``index`` (H, W, 3) uint8."""
        return self.scene.frame(self.dominant, self.other, index)[0]


def plan_stream(config: SynthConfig) -> StreamPlan:
    """Plan ``config.signs`` signs by a signer one past the dataset's signers, separated by rest."""
    names = class_names(config.classes)
    signer = config.signers
    person = sample_signer(config.seed, signer)
    rng = np.random.default_rng([config.seed, 3])
    scene = Scene(_clip_appearance(person, rng), _camera(rng), config.width, config.height,
                  np.random.default_rng([config.seed, 5]))
    idle = tuple(rng.uniform(0, 2 * np.pi, 4))
    rest_range = (round(config.rest_seconds[0] * config.fps), round(config.rest_seconds[1] * config.fps))

    def rest(first: int) -> tuple[HandTrack, HandTrack]:
        count = max(1, int(rng.integers(rest_range[0], rest_range[1] + 1)))
        return rest_period(first, count, config.fps, _clip_style(person.habit, rng, idle))

    parts, truth, previous = [rest(0)], [], -1
    frame = len(parts[0][0])
    for _ in range(config.signs):
        choices = [k for k in range(config.classes) if k != previous] or [previous]
        k = int(rng.choice(choices))
        total = int(rng.integers(config.frame_range[0], config.frame_range[1] + 1))
        approach, core, retract = _sign_segments(rng, round(total * rng.uniform(0.6, 0.8)))
        style = _clip_style(person.habit, rng, idle)
        parts.append(perform(SIGNS[k], frame, approach, core, retract, config.fps, style))
        truth.append({"label": names[k], "class_index": k, "start_frame": frame,
                      "end_frame": frame + approach + core + retract - 1})
        frame += approach + core + retract
        parts.append(rest(frame))
        frame += len(parts[-1][0])
        previous = k
    dominant, other = (HandTrack.concat([p[h] for p in parts]) for h in (0, 1))
    return StreamPlan(scene, dominant, other, truth, names, signer)


def generate_stream(config: SynthConfig) -> tuple[Path, Path]:
    """Write ``stream.mp4`` (signs separated by rest) and ``stream.json`` (its ground truth); return both paths."""
    out = _require_out(config)
    plan = plan_stream(config)
    scene, dominant, other, truth, names, signer = (plan.scene, plan.dominant, plan.other, plan.truth, plan.names,
                                                    plan.signer)
    frame = plan.frames
    with _fresh_folder(out, config.overwrite) as folder:
        frames = (f for f, _ in tqdm(_frames(scene, dominant, other), total=frame, desc="synth stream",
                                     unit="frame", leave=False))
        write_video(folder / "stream.mp4", frames, config.fps, config.width, config.height)
        write_json(folder / "stream.json", {
            "video": "stream.mp4", "fps": config.fps, "frames": frame, "width": config.width,
            "height": config.height, "signer": f"s{signer}", "signer_note": _STREAM_SIGNER_NOTE, "classes": names,
            "frame_convention": "0-based; a sign spans start_frame..end_frame inclusive, from leaving rest to "
                                "being back at rest", "signs": truth})
        write_json(folder / "synth.json", _settings(config, names))
    return out / "stream.mp4", out / "stream.json"


def synth_cmd(args: argparse.Namespace) -> int:
    """CLI target of ``edge-slr synth``: build the config, generate, print one summary line."""
    width, height = parse_size(args.size)
    config = SynthConfig(out=Path(args.out), classes=args.classes, clips_per_class=args.clips_per_class,
                         signers=args.signers, width=width, height=height, fps=args.fps, seed=args.seed,
                         stream=args.stream, signs=args.signs, background=args.background,
                         overwrite=args.overwrite)
    start = time.perf_counter()
    if config.stream:
        video, truth = generate_stream(config)
        frames = count_frames(video)
        print(f"synth: wrote a stream of {config.signs} signs ({frames} frames, {frames / config.fps:.1f} s) "
              f"to {video} and {truth.name} in {time.perf_counter() - start:.1f} s")
    else:
        manifest = generate_dataset(config)
        classes = len(label_names(config))
        clips = classes * config.clips_per_class * config.signers
        print(f"synth: wrote {clips} clips ({classes} classes x {config.signers} signers x "
              f"{config.clips_per_class}) to {manifest.parent} in {time.perf_counter() - start:.1f} s")
    return 0
