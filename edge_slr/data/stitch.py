"""``edge-slr stitch``: isolated sign clips or photos -> one continuous sign stream plus its ground truth.

The live pipeline is scored on streams (``live --truth``, ``bench --pipeline --truth``), but real data comes
as isolated clips. Stitching them, in a seeded random order with rest between, gives a test stream of real
signing whose truth is known by construction, in the format ``synth --stream`` writes
(:mod:`edge_slr.data.stream_truth`), so one scorer serves both.

Choices, and why:

* **Rest** (``--rest``): ``grey`` (default) is a plain grey frame (the letterbox colour), no person, no hand.
  No frame of the data is a safe rest in general (a photo is all sign, a clip may start mid-sign), and a frame
  without hands is what hand-gated models (``--hands-model``) see as "hands down": inference pauses and the
  smoothing resets there, as between two signs at a camera. ``edge`` holds the previous clip's last frame for
  the first half of the gap and the next clip's first frame for the second half: the natural rest for videos
  that start and end with the hands down (``synth`` clips, most recorded datasets), and what a model trained
  with a no-sign class knows. A photo has no rest frame: its side of an ``edge`` gap takes the other
  neighbour's frame (grey between two photos).
* **Truth spans** cover a clip's whole run of frames (for a photo: the whole hold), because an isolated clip
  does not say where inside it the sign is; the scorer accepts an event until ``clip_seconds + 0.5`` s after.
* **Order**: a seeded shuffle, then no class directly repeated where another can go between (as in
  ``synth --stream``): two identical neighbours would merge into one event for models without hand gating.
* **Time**: video clips are resampled to ``--fps`` by their own frame rate, so a sign keeps its duration;
  frame folders have no rate and are taken at ``--fps``. Photos are held, unchanged, for ``--still-seconds``.
* **Letterbox**: every frame is scaled (up or down, aspect kept) to fit ``--frame-size`` and padded with grey.

Unreadable clips (missing, empty, corrupt) are skipped and counted, or end the run with one line under
``--strict``; listing and split reuse :mod:`edge_slr.data.layouts` and :mod:`edge_slr.data.split`, so
``--only val`` stitches exactly the clips ``prepare`` (same ``--split/--val/--split-seed``) holds out.
NumPy and OpenCV only: it runs with the ``live`` extra.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from edge_slr.data.layouts import ClipSource, SourceListing, list_clips
from edge_slr.data.split import SPLIT_MODES, assign_splits
from edge_slr.data.stream_truth import StreamTruth, TruthSign, write_stream_truth
from edge_slr.data.synth import parse_size, write_video
from edge_slr.data.video import UnreadableClip, is_still, quiet_ffmpeg, read_clip
from edge_slr.errors import UserError, unknown_choice
from edge_slr.utils.atomic import atomic_path

REST_GREY = 114  # rest frames and letterbox bars: a neutral mid grey, no hand for MediaPipe to find
REST_MODES = ("grey", "edge")
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov")  # containers OpenCV's mp4v writer fills


def parse_frame_size(text: str) -> tuple[int, int]:
    """``"WxH"`` -> (width, height), even numbers of 32..4096 pixels; a :class:`UserError` otherwise."""
    size = parse_size(text, "--frame-size", "640x480")
    if any(not 32 <= v <= 4096 or v % 2 for v in size):
        raise UserError(f"--frame-size needs even widths and heights from 32 to 4096 pixels, got {text}")
    return size


@dataclass(frozen=True)
class StitchConfig:
    """Everything ``edge-slr stitch`` decides; written into the truth file's ``stitch`` entry."""

    src: Path
    out: Path
    truth: Path | None = None  # default: OUT with the suffix .json (stream.mp4 -> stream.json, as synth)
    layout: str = "auto"
    seed: int = 0  # order of the clips
    gap_seconds: float = 1.5  # rest before the first sign and after every sign
    rest: str = "grey"  # what the gaps show: grey frames, or the neighbouring clips' edge frames (REST_MODES)
    still_seconds: float = 2.0  # how long a photo is held
    frame_size: tuple[int, int] = (640, 480)  # width, height
    fps: float = 25.0
    limit: int | None = None  # at most this many clips (after filters and shuffling)
    signers: tuple[str, ...] = ()  # keep only these signers (empty: all)
    only: str | None = None  # keep one split ("train"/"val") made exactly as prepare makes it
    split: str = "auto"
    val: float = 0.25
    split_seed: int = 0
    strict: bool = False  # an unreadable clip ends the run instead of being skipped
    overwrite: bool = False

    def __post_init__(self) -> None:
        if self.out.suffix.lower() not in VIDEO_SUFFIXES:
            raise UserError(f"OUT must be a video file ending in {', '.join(VIDEO_SUFFIXES)}, got {self.out}")
        if not self.fps > 0:
            raise UserError(f"--fps must be positive, got {self.fps:g}")
        if not self.gap_seconds > 0 or not self.still_seconds > 0:
            raise UserError("--gap-seconds and --still-seconds must be positive (rest is what separates two signs)")
        if round(self.gap_seconds * self.fps) < 1 or round(self.still_seconds * self.fps) < 1:
            raise UserError(f"--gap-seconds and --still-seconds must each last at least one frame at {self.fps:g} fps")
        if self.rest not in REST_MODES:
            raise unknown_choice("--rest", self.rest, REST_MODES)
        if self.limit is not None and self.limit < 1:
            raise UserError(f"--limit must be at least 1, got {self.limit}")
        if self.only is not None and self.only not in ("train", "val"):
            raise unknown_choice("--only split", self.only, ("train", "val"))
        if self.split not in SPLIT_MODES:
            raise unknown_choice("--split mode", self.split, SPLIT_MODES)
        if self.truth_path.resolve() == self.out.resolve():
            raise UserError("--truth must differ from OUT")

    @property
    def truth_path(self) -> Path:
        return self.truth if self.truth is not None else self.out.with_suffix(".json")

    def to_json(self) -> dict:
        return {"src": str(self.src), "layout": self.layout, "seed": self.seed, "gap_seconds": self.gap_seconds,
                "still_seconds": self.still_seconds, "frame_size": list(self.frame_size), "fps": self.fps,
                "limit": self.limit, "signers": list(self.signers), "only": self.only, "split": self.split,
                "val": self.val, "split_seed": self.split_seed, "rest": self.rest,
                "rest_grey": REST_GREY}


@dataclass
class StitchResult:
    """What was written: the files, the truth, the clips placed and the ones skipped (path, reason)."""

    video: Path
    truth_file: Path
    truth: StreamTruth
    skipped: list[tuple[str, str]] = field(default_factory=list)


def select_clips(config: StitchConfig) -> tuple[SourceListing, list[ClipSource]]:
    """The source's clips after the split and signer filters, in stream order (seeded, no direct repeats)."""
    listing = list_clips(config.src, config.layout)
    clips = list(listing.clips)
    if config.only is not None:
        assigned, _ = assign_splits(listing.clips, config.split, config.val, config.split_seed)
        clips = [c for c in assigned if c.split == config.only]
        if not clips:
            raise UserError(f"the {config.only} split of {config.src} is empty (--split {config.split} "
                            f"--val {config.val:g} --split-seed {config.split_seed})")
    if config.signers:
        known = {c.signer for c in clips if c.signer is not None}
        if not known:
            raise UserError(f"--signer needs signer ids, but {config.src} has none (a manifest.csv with a signer "
                            "column, or CSL clip names, carry them)")
        unknown = sorted(set(config.signers) - known)
        if unknown:
            raise UserError(f"no clips by signer(s) {', '.join(unknown)} in {config.src}"
                            f"{' (' + config.only + ' split)' if config.only else ''}; "
                            f"known signers include {', '.join(sorted(known)[:8])}")
        clips = [c for c in clips if c.signer in set(config.signers)]
    order = np.random.default_rng(config.seed).permutation(len(clips))
    clips = _spread_repeats([clips[i] for i in order])
    return listing, clips[:config.limit] if config.limit else clips


def _spread_repeats(clips: list[ClipSource]) -> list[ClipSource]:
    """Move a clip that repeats its predecessor's class to after the next clip of another class, where one exists."""
    out = list(clips)
    for i in range(1, len(out)):
        if out[i].label == out[i - 1].label:
            j = next((j for j in range(i + 1, len(out)) if out[j].label != out[i - 1].label), None)
            if j is not None:
                out[i], out[j] = out[j], out[i]
    return out


def letterbox(bgr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Scale ``bgr`` to fit ``size`` (width, height) with its aspect kept; pad the rest with grey."""
    width, height = size
    h, w = bgr.shape[:2]
    scale = min(width / w, height / h)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    resized = cv2.resize(bgr, (new_w, new_h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    out = np.full((height, width, 3), REST_GREY, np.uint8)
    x, y = (width - new_w) // 2, (height - new_h) // 2
    out[y:y + new_h, x:x + new_w] = resized
    return out


def clip_frames(path: Path, config: StitchConfig) -> np.ndarray:
    """The stream frames of one clip: letterboxed RGB at ``config.fps`` (a photo held ``still_seconds``)."""
    clip = read_clip(path, transform=lambda bgr: letterbox(bgr, config.frame_size))
    if is_still(path):
        return np.repeat(clip.frames, round(config.still_seconds * config.fps), axis=0)
    n = len(clip.frames)
    rate = clip.fps if clip.fps > 0 else config.fps  # frame folders carry no rate
    count = max(1, round(n * config.fps / rate))
    index = np.minimum((np.arange(count) * rate / config.fps).astype(np.int64), n - 1)
    return clip.frames[index]


def stitch(config: StitchConfig) -> StitchResult:
    """Write the stream video and its ground truth (both atomically); return what was placed and skipped."""
    quiet_ffmpeg()
    truth_path = config.truth_path
    for path in (config.out, truth_path):
        if path.exists() and not config.overwrite:
            raise UserError(f"{path} exists; choose another name or pass --overwrite")
    listing, clips = select_clips(config)
    width, height = config.frame_size
    gap = round(config.gap_seconds * config.fps)
    grey = np.full((height, width, 3), REST_GREY, np.uint8)
    signs: list[TruthSign] = []
    placed: list[dict] = []
    skipped: list[tuple[str, str]] = []

    def rest(before: np.ndarray | None, after: np.ndarray | None) -> Iterator[np.ndarray]:
        """One gap: grey, or (``edge``) the last frame before it, then the first frame after it (one missing:
        the other for the whole gap; both missing: grey)."""
        half = gap // 2 if before is not None and after is not None else gap if before is not None else 0
        for i in range(gap):
            edge = before if i < half else after
            yield edge if config.rest == "edge" and edge is not None else grey

    def frames() -> Iterator[np.ndarray]:
        position, last = 0, None
        with tqdm(total=len(clips), desc="stitch", unit="clip", leave=False) as bar:  # closed before any error
            for clip in clips:
                bar.update(1)
                try:
                    held = clip_frames(listing.path(clip), config)
                except UnreadableClip as exc:
                    if config.strict:
                        raise UserError(f"{exc} (--strict; without it unreadable clips are skipped and counted)"
                                        ) from None
                    skipped.append((clip.rel, exc.reason))
                    continue
                still = is_still(clip.rel)
                yield from rest(last, None if still else held[0])
                yield from held
                start, position = position + gap, position + gap + len(held)
                signs.append(TruthSign(clip.label, listing.classes.index(clip.label), start, position - 1))
                placed.append({"path": clip.rel, "signer": clip.signer, "label": clip.label, "still": still,
                               "start_frame": start, "end_frame": position - 1})
                last = None if still else held[-1]
        if not signs:
            raise UserError(f"none of the {len(clips)} selected clips of {config.src} could be read "
                            f"(first: {skipped[0][0]}: {skipped[0][1]})")
        yield from rest(last, None)

    with atomic_path(truth_path) as truth_tmp:  # the truth lands only after the video did
        total = write_video(config.out, frames(), config.fps, width, height)
        truth = StreamTruth(config.fps, total, listing.classes, tuple(signs), _video_name(config.out, truth_path))
        write_stream_truth(truth_tmp, truth, width=width, height=height, stitch=config.to_json(), clips=placed,
                           skipped=[{"path": p, "reason": r} for p, r in skipped])
    return StitchResult(config.out, truth_path, truth, skipped)


def _video_name(video: Path, truth: Path) -> str:
    """The video as the truth file names it: relative to the truth's folder when it lies there (as synth)."""
    video, folder = video.resolve(), truth.resolve().parent
    return video.name if video.parent == folder else str(video)


def _split_list(text: str | None) -> tuple[str, ...]:
    return tuple(s.strip() for s in (text or "").split(",") if s.strip())


def stitch_cmd(args: argparse.Namespace) -> int:
    """CLI target of ``edge-slr stitch``: build the config, stitch, print one summary line (and what was skipped)."""
    config = StitchConfig(src=Path(args.src), out=Path(args.out), truth=Path(args.truth) if args.truth else None,
                          layout=args.layout, seed=args.seed, gap_seconds=args.gap_seconds, rest=args.rest,
                          still_seconds=args.still_seconds, frame_size=parse_frame_size(args.frame_size),
                          fps=args.fps, limit=args.limit, signers=_split_list(args.signer), only=args.only,
                          split=args.split, val=args.val, split_seed=args.split_seed, strict=args.strict,
                          overwrite=args.overwrite)
    start = time.perf_counter()
    result = stitch(config)
    truth = result.truth
    print(f"stitch: wrote {len(truth.signs)} signs ({len(set(s.label for s in truth.signs))} classes, "
          f"{truth.frames} frames, {truth.frames / truth.fps:.1f} s at {truth.fps:g} fps) to {result.video} and "
          f"{result.truth_file.name} in {time.perf_counter() - start:.1f} s"
          + (f"; skipped {len(result.skipped)} unreadable clip(s)" if result.skipped else ""))
    for path, reason in result.skipped:
        print(f"  skipped {path}: {reason}")
    return 0

