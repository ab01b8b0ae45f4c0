"""``edge-slr prepare SRC OUT``: decode a source dataset into sharded TFRecords plus ``dataset.json``.

Steps: list the clips (:mod:`~edge_slr.data.layouts`), split them (:mod:`~edge_slr.data.split`),
plan which clip goes into which shard, then decode, resize and JPEG-encode clips in a thread pool
(OpenCV releases the GIL while decoding) and write each shard atomically.

Re-running is cheap and safe: the plan is stored in ``OUT/.prepare/plan.json``; a shard whose file
and completion note (``OUT/.prepare/<shard>.json``) exist and match the plan is not decoded again.
A different plan (other arguments or other source files) is refused unless ``--overwrite``.
Bad clips (missing, empty, corrupt, too short) are skipped and listed with their reason.

``--crop`` decides how each stored frame is cut from its source frame: ``centre`` (the full centre
square, as always), or ``signer`` / ``hand`` from MediaPipe hand landmarks (``--hands-model``), tracked
over every frame of the clip exactly as the live pipeline does (:mod:`edge_slr.data.hand_crops`). A clip
in which no hand is found keeps the centre fallback and is counted in ``dataset.json``'s ``hands``.
Images (class folders of photos, or manifest rows naming photos) are still signs: one stored frame,
which the training pipeline repeats with small per-frame jitter.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import cv2
import numpy as np
from tqdm import tqdm

from edge_slr.data.hand_crops import CroppedClip, crop_still, crop_video
from edge_slr.data.info import DATASET_JSON, LEGACY_CROP, ClipSpec, DatasetInfo, SkippedClip, SplitInfo
from edge_slr.data.layouts import SPLIT_NAMES, ClipSource, SourceListing, list_clips
from edge_slr.data.preprocess import crop_square
from edge_slr.data.split import SplitReport, assign_splits
from edge_slr.data.tfrecord import ClipRecord, encode_clip, encode_jpegs, tf
from edge_slr.data.video import UnreadableClip, is_still, quiet_ffmpeg, read_clip
from edge_slr.errors import UserError
from edge_slr.hands import CROPS, CropSpec, HandDetector, resolve_hands_model
from edge_slr.utils.atomic import atomic_path, write_json

STATE_DIR = ".prepare"
PLAN_VERSION = 1

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class PrepareConfig:
    """Everything ``prepare`` needs; built from the CLI arguments."""

    src: Path
    out: Path
    layout: str = "auto"
    store_frames: int = 32  # frames kept per clip (more than a model uses, for temporal jitter)
    size: int = 128  # stored frames are size x size (centre square), so 112 crops can vary
    min_frames: int = 8  # clips with fewer decodable frames are skipped as too short
    split: str = "auto"
    val: float = 0.25
    seed: int = 0
    workers: int = 0  # 0: one per available core
    shard_size: int = 64  # clips per shard
    jpeg_quality: int = 90
    overwrite: bool = False
    progress: bool = True
    crop: str = "centre"  # centre | signer | hand (see edge_slr.hands.crops)
    crop_scale: float | None = None  # centre: fraction of the short side (1.0); signer/hand: their scale
    hands_model: Path | None = None  # hand_landmarker.task for signer/hand (else $EDGE_SLR_HANDS_MODEL)

    def crop_spec(self) -> CropSpec:
        """The crop applied to source frames; ``centre`` keeps the whole centre square unless told otherwise."""
        if self.crop not in CROPS:
            return CropSpec.named(self.crop)  # raises the unknown-choice error with suggestions
        if self.crop == "centre":
            return CropSpec("centre", 1.0 if self.crop_scale is None else self.crop_scale)
        return CropSpec.named(self.crop, self.crop_scale)


@dataclass(frozen=True)
class Shard:
    """One planned output file and the clips it holds, in order."""

    name: str
    split: str
    clips: tuple[ClipSource, ...]


@dataclass(frozen=True)
class PrepareResult:
    """What a run did."""

    info: DatasetInfo
    written: tuple[str, ...]  # shards written by this run
    reused: tuple[str, ...]  # shards found complete and kept
    seconds: float


def _validate(cfg: PrepareConfig) -> None:
    for name in ("store_frames", "size", "min_frames", "shard_size"):
        if getattr(cfg, name) <= 0:
            raise UserError(f"--{name.replace('_', '-')} must be positive, got {getattr(cfg, name)}")
    if cfg.min_frames > cfg.store_frames:
        raise UserError(f"--min-frames ({cfg.min_frames}) cannot exceed --store-frames ({cfg.store_frames})")
    if not 1 <= cfg.jpeg_quality <= 100:
        raise UserError(f"JPEG quality must be in 1..100, got {cfg.jpeg_quality}")
    if cfg.workers < 0:
        raise UserError(f"--workers must be >= 0 (0: one per core), got {cfg.workers}")
    cfg.crop_spec()


def plan_shards(clips: tuple[ClipSource, ...], shard_size: int, seed: int) -> list[Shard]:
    """Cut each split into shards of ``shard_size`` clips, after a seeded shuffle.

    The shuffle mixes classes inside every shard, so a small shuffle buffer in training still
    sees all classes; the clips are sorted first so the plan does not depend on listing order.
    """
    shards: list[Shard] = []
    for split_index, split in enumerate(SPLIT_NAMES):
        members = sorted((c for c in clips if c.split == split), key=lambda c: c.rel)
        if not members:
            continue
        order = np.random.default_rng([seed, split_index]).permutation(len(members))
        members = [members[i] for i in order]
        count = -(-len(members) // shard_size)
        for k in range(count):
            chunk = tuple(members[k * shard_size : (k + 1) * shard_size])
            shards.append(Shard(f"{split}-{k:05d}-of-{count:05d}.tfrecord", split, chunk))
    return shards


def _plan_json(cfg: PrepareConfig, listing: SourceListing, report: SplitReport,
               shards: list[Shard]) -> dict[str, Any]:
    crop = cfg.crop_spec().to_card()
    # Only a non-default crop enters the plan, so folders prepared before crops existed stay reusable.
    return ({"crop": crop} if crop != LEGACY_CROP else {}) | {
        "version": PLAN_VERSION,
        "source": str(listing.root),
        "layout": listing.layout,
        "clip_spec": {"stored_frames": cfg.store_frames, "size": cfg.size, "min_frames": cfg.min_frames,
                      "jpeg_quality": cfg.jpeg_quality},
        "shard_size": cfg.shard_size,
        "split": _split_json(report),
        "classes": list(listing.classes),
        "shards": [{"name": s.name, "split": s.split, "clips": [[c.rel, c.label, c.signer] for c in s.clips]}
                   for s in shards],
    }


def _split_json(report: SplitReport) -> dict[str, Any]:
    out: dict[str, Any] = {"mode": report.mode, "val_fraction": report.val_fraction, "seed": report.seed}
    if report.mode == "signer":
        out["val_signers"] = list(report.val_signers)
        out["train_signers"] = list(report.train_signers)
    return out


def _is_output(path: Path) -> bool:
    split, _, rest = path.name.partition("-")
    return split in SPLIT_NAMES and rest.endswith(".tfrecord")


def _prepare_out_dir(cfg: PrepareConfig, plan: dict[str, Any]) -> None:
    """Make ``OUT`` hold our plan: keep it if equal, refuse or clear it if not."""
    out, state = cfg.out, cfg.out / STATE_DIR
    plan_path = state / "plan.json"
    old = json.loads(plan_path.read_text(encoding="utf-8")) if plan_path.is_file() else None
    has_outputs = out.is_dir() and any(_is_output(p) or p.name == DATASET_JSON for p in out.iterdir())
    if old == plan:
        return
    if old is not None or has_outputs:
        if not cfg.overwrite:
            what = ("other arguments or other source files"
                    if old is not None else "files this run did not plan")
            changed = [k for k in plan if old is not None and old.get(k) != plan[k]]
            detail = f" (differs in: {', '.join(changed)})" if changed else ""
            raise UserError(f"{out} already holds a dataset prepared with {what}{detail}; "
                            "add --overwrite to rebuild it, or choose another OUT")
        for p in out.iterdir():
            if _is_output(p) or p.name == DATASET_JSON:
                p.unlink()
        shutil.rmtree(state, ignore_errors=True)
    write_json(plan_path, plan)


def _note_path(cfg: PrepareConfig, shard: Shard) -> Path:
    return cfg.out / STATE_DIR / f"{shard.name}.json"


def _load_note(cfg: PrepareConfig, shard: Shard) -> dict[str, Any] | None:
    """The completion note of a finished shard, or None if the shard must be (re)written."""
    note_path, shard_path = _note_path(cfg, shard), cfg.out / shard.name
    if not (note_path.is_file() and shard_path.is_file()):
        return None
    note = json.loads(note_path.read_text(encoding="utf-8"))
    if note.get("clips") != [c.rel for c in shard.clips] or note.get("bytes") != shard_path.stat().st_size:
        return None
    return note


@dataclass(frozen=True)
class _Encoded:
    jpegs: tuple[bytes, ...]
    indices: tuple[int, ...]
    source_frames: int
    fps: float
    # signer/hand crops: [hand_frames, source_frames, jitter_px, raw_jitter_px, mean_side_px, seconds]
    hands: list[float] | None = None


class _StillDetectors:
    """One IMAGE-mode hand detector per worker thread (a detector belongs to its thread), closed at the end."""

    def __init__(self, model: Path | None):
        self.model = model
        self._local = threading.local()
        self._all: list[HandDetector] = []
        self._lock = threading.Lock()

    def get(self) -> HandDetector | None:
        if self.model is None:
            return None
        detector = getattr(self._local, "detector", None)
        if detector is None:
            detector = self._local.detector = HandDetector(self.model, still=True)
            with self._lock:
                self._all.append(detector)
        return detector

    def close(self) -> None:
        with self._lock:
            for detector in self._all:
                detector.close()
            self._all.clear()


def _encode_one(path: Path, cfg: PrepareConfig, spec: CropSpec | None = None, hands_model: Path | None = None,
                stills: _StillDetectors | None = None) -> _Encoded | str:
    """Decode, crop, resize and JPEG-encode one clip; a skip reason instead when it is unusable."""
    spec = spec or cfg.crop_spec()
    still = is_still(path)
    cropped: CroppedClip | None = None
    try:
        if spec.needs_hands and hands_model is not None:
            if still:
                cropped = crop_still(path, spec, cfg.size, stills.get() if stills else None)
            else:
                cropped = crop_video(path, spec, cfg.size, hands_model, cfg.store_frames)
            frames, indices, source_frames, fps = cropped.frames, cropped.indices, cropped.source_frames, cropped.fps
        else:
            clip = read_clip(path, cfg.store_frames, transform=partial(crop_square, size=cfg.size,
                                                                        fraction=spec.fraction))
            frames, indices, source_frames, fps = clip.frames, clip.indices, clip.source_frames, clip.fps
    except UnreadableClip as exc:
        return exc.reason
    except (cv2.error, OSError) as exc:
        return f"cannot decode: {str(exc).strip().splitlines()[-1]}"
    if len(frames) < cfg.min_frames and not still:  # a photo is one frame by nature
        return f"too short: {source_frames} decodable frame(s), --min-frames is {cfg.min_frames}"
    hands = None if cropped is None else [cropped.hand_frames, cropped.source_frames, round(cropped.jitter_px, 3),
                                          round(cropped.raw_jitter_px, 3), round(cropped.mean_side_px, 1),
                                          round(cropped.seconds, 4)]
    return _Encoded(encode_jpegs(frames, cfg.jpeg_quality), tuple(indices.tolist()), source_frames, fps, hands)


def _ordered_map(pool: ThreadPoolExecutor, fn: Callable[[T], R], items: Iterable[T],
                 window: int) -> Iterator[R]:
    """``pool.map`` in order, with at most ``window`` items in flight (bounded memory on huge datasets)."""
    it = iter(items)
    pending: deque[Future[R]] = deque(pool.submit(fn, x) for _, x in zip(range(window), it, strict=False))
    while pending:
        result = pending.popleft().result()
        for x in it:
            pending.append(pool.submit(fn, x))
            break
        yield result


def _write_shard(cfg: PrepareConfig, listing: SourceListing, shard: Shard,
                 results: Iterator[_Encoded | str]) -> dict[str, Any]:
    class_index = {name: i for i, name in enumerate(listing.classes)}
    kept: list[list[Any]] = []
    skipped: list[dict[str, str]] = []
    hands: list[list[Any]] = []
    target = cfg.out / shard.name
    with atomic_path(target) as tmp, tf.io.TFRecordWriter(str(tmp)) as writer:
        for clip in shard.clips:
            result = next(results)
            if isinstance(result, str):
                skipped.append({"path": clip.rel, "reason": result})
                continue
            writer.write(encode_clip(ClipRecord(
                jpegs=result.jpegs, frame_index=result.indices, label=class_index[clip.label],
                label_name=clip.label, signer=clip.signer or "", source=clip.rel,
                source_frames=result.source_frames, fps=result.fps)))
            kept.append([clip.rel, clip.label])
            if result.hands is not None:
                hands.append([clip.rel, *result.hands])
    note = {"clips": [c.rel for c in shard.clips], "kept": kept, "skipped": skipped,
            "bytes": target.stat().st_size} | ({"hands": hands} if hands else {})
    write_json(_note_path(cfg, shard), note)
    return note


def _dataset_info(cfg: PrepareConfig, listing: SourceListing, report: SplitReport,
                  shards: list[Shard], notes: dict[str, dict[str, Any]]) -> DatasetInfo:
    splits: dict[str, SplitInfo] = {}
    skipped: list[SkippedClip] = []
    for split in SPLIT_NAMES:
        members = [s for s in shards if s.split == split]
        if not members:
            continue
        per_class = Counter(label for s in members for _, label in notes[s.name]["kept"])
        splits[split] = SplitInfo(sum(per_class.values()), tuple(s.name for s in members),
                                  {c: per_class.get(c, 0) for c in listing.classes})
        skipped += [SkippedClip(**k) for s in members for k in notes[s.name]["skipped"]]
    return DatasetInfo(
        data_dir=cfg.out, classes=listing.classes, splits=splits,
        clip_spec=ClipSpec(cfg.store_frames, cfg.size, cfg.min_frames, cfg.jpeg_quality),
        source=str(listing.root), layout=listing.layout, split=_split_json(report),
        skipped=tuple(sorted(skipped, key=lambda s: s.path)),
        crop=cfg.crop_spec().to_card(),
        hands=_hands_summary([row for s in shards for row in notes[s.name].get("hands", [])])
        if cfg.crop_spec().needs_hands else None,
    )


def _hands_summary(rows: list[list[Any]]) -> dict[str, Any]:
    """dataset.json ``hands``: how often the crop found a hand, how steady it was, what it cost.

    Rows are ``[path, hand_frames, source_frames, jitter_px, raw_jitter_px, mean_side_px, seconds]``.
    Jitter is the mean move of the box centre between consecutive frames with hands, in px and as a
    share of the box side, smoothed (what is stored) and unsmoothed (what smoothing removed); stills have none.
    """
    if not rows:
        return {"clips": 0}
    found = [r for r in rows if r[1] > 0]
    videos = [r for r in found if r[2] > 1]
    seconds = np.array([r[6] for r in rows])
    out: dict[str, Any] = {
        "clips": len(rows),
        "with_hand": len(found),
        "share_with_hand": round(len(found) / len(rows), 4),
        "no_hand_centre_fallback": sorted(r[0] for r in rows if r[1] == 0),
        "seconds_per_clip_mean": round(float(seconds.mean()), 4),
        "seconds_per_clip_median": round(float(np.median(seconds)), 4),
    }
    if videos:
        frames = sum(r[2] for r in rows if r[2] > 1)
        out |= {
            "share_of_frames_with_hand": round(sum(r[1] for r in rows if r[2] > 1) / frames, 4),
            "jitter_px_median": round(float(np.median([r[3] for r in videos])), 3),
            "raw_jitter_px_median": round(float(np.median([r[4] for r in videos])), 3),
            "jitter_share_of_side_median": round(float(np.median([r[3] / r[5] for r in videos])), 5),
            "raw_jitter_share_of_side_median": round(float(np.median([r[4] / r[5] for r in videos])), 5),
            "ms_per_frame_mean": round(1000 * float(seconds.sum()) / frames, 2),
        }
    return out


def prepare(cfg: PrepareConfig) -> PrepareResult:
    """Prepare ``cfg.src`` into ``cfg.out``; see the module docstring."""
    start = time.perf_counter()
    _validate(cfg)
    cfg = replace(cfg, out=Path(cfg.out).expanduser().resolve())
    spec = cfg.crop_spec()
    hands_model = resolve_hands_model(cfg.hands_model) if spec.needs_hands else None
    if spec.needs_hands and hands_model is None:
        raise UserError(f"--crop {spec.kind} finds hands with MediaPipe: pass --hands-model PATH/hand_landmarker.task "
                        "(or set EDGE_SLR_HANDS_MODEL)")
    listing = list_clips(cfg.src, cfg.layout)
    clips, report = assign_splits(listing.clips, cfg.split, cfg.val, cfg.seed)
    shards = plan_shards(clips, cfg.shard_size, cfg.seed)
    _prepare_out_dir(cfg, _plan_json(cfg, listing, report, shards))

    notes = {s.name: n for s in shards if (n := _load_note(cfg, s)) is not None}
    todo = [s for s in shards if s.name not in notes]
    workers = cfg.workers or len(os.sched_getaffinity(0))
    quiet_ffmpeg()
    total = sum(len(s.clips) for s in todo)
    stills = _StillDetectors(hands_model)
    with ThreadPoolExecutor(max_workers=workers) as pool, \
            tqdm(total=total, unit="clip", desc="prepare", disable=not cfg.progress or total == 0) as bar:
        def work(clip: ClipSource) -> _Encoded | str:
            result = _encode_one(listing.path(clip), cfg, spec, hands_model, stills)
            bar.update(1)
            return result

        try:
            results = _ordered_map(pool, work, (c for s in todo for c in s.clips), window=4 * workers)
            for shard in todo:
                notes[shard.name] = _write_shard(cfg, listing, shard, results)
        finally:
            pool.shutdown(wait=True)  # every worker is done with its detector before they are closed
            stills.close()

    info = _dataset_info(cfg, listing, report, shards, notes)
    write_json(cfg.out / DATASET_JSON, info.to_json())
    return PrepareResult(info, tuple(s.name for s in todo), tuple(s.name for s in shards if s not in todo),
                         time.perf_counter() - start)


def format_summary(result: PrepareResult) -> str:
    """The summary printed at the end of ``edge-slr prepare``."""
    info = result.info
    lines = [f"prepared {sum(s.clips for s in info.splits.values())} clip(s) of {info.num_classes} class(es) "
             f"from {info.source} (layout {info.layout}) into {info.data_dir} in {result.seconds:.1f} s"]
    for name, s in info.splits.items():
        lines.append(f"  {name}: {s.clips} clip(s) in {len(s.shards)} shard(s)")
    split = info.split
    extra = f", val signers: {', '.join(split['val_signers'])}" if split.get("val_signers") else ""
    lines.append(f"  split: {split['mode']} (val {split['val_fraction']}, seed {split['seed']}){extra}")
    lines.append(f"  shards: {len(result.written)} written, {len(result.reused)} already complete")
    crop_args = ", ".join(f"{k} {v}" for k, v in info.crop.items() if k not in ("square", "needs"))
    lines.append(f"  crop: {info.crop['square']} ({crop_args})")
    if info.hands and info.hands.get("clips"):
        h = info.hands
        jitter = (f"; box jitter {h['jitter_px_median']:.2f} px median ({h['raw_jitter_px_median']:.2f} unsmoothed)"
                  if "jitter_px_median" in h else "")
        lines.append(f"  hands found in {h['with_hand']}/{h['clips']} clip(s) ({h['share_with_hand']:.0%}); "
                     f"{h['clips'] - h['with_hand']} fell back to the centre crop{jitter}; "
                     f"{h['seconds_per_clip_mean'] * 1000:.0f} ms per clip")
    if info.skipped:
        lines.append(f"  skipped {len(info.skipped)} clip(s):")
        lines += [f"    {s.path}: {s.reason}" for s in info.skipped]
    else:
        lines.append("  skipped: none")
    return "\n".join(lines)


def prepare_cmd(args: argparse.Namespace) -> int:
    """CLI target of ``edge-slr prepare``."""
    cfg = PrepareConfig(
        src=Path(args.src), out=Path(args.out), layout=args.layout, store_frames=args.store_frames,
        size=args.size, min_frames=args.min_frames, split=args.split, val=args.val, seed=args.seed,
        workers=args.workers, shard_size=args.shard_size, overwrite=args.overwrite,
        crop=args.crop, crop_scale=args.crop_scale, hands_model=Path(args.hands_model) if args.hands_model else None,
    )
    print(format_summary(prepare(cfg)))
    return 0
