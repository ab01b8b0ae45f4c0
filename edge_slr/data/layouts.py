"""Source dataset layouts: detect which one a folder uses and list its clips.

Three layouts are understood:

* ``folders``: ``SRC/<class>/<video>`` (any video extension, nested folders allowed); no signer ids.
  Images directly inside a class folder (``SRC/<class>/<photo>.jpg``) are still signs: one clip each.
* ``csl``: the CSL frame layout ``SRC/<class:06d>/<clip>/<frame:06d>.jpg`` with an optional
  ``dictionary.txt`` of ``class-id<TAB>word``; signer ids come from CSL clip names (``P01_...``).
* ``manifest``: a CSV (``SRC`` itself, or ``SRC/manifest.csv``) with columns ``path,label`` and
  optional ``signer`` and ``split``; paths are relative to the CSV's folder (or absolute) and name a
  video, a frame folder, or an image (a still sign: the photo held for the whole clip).

Listing never opens a video: unreadable files are found (and skipped with a reason) when decoded.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from edge_slr.data.video import FRAME_EXTENSIONS, VIDEO_EXTENSIONS, natural_key
from edge_slr.errors import UserError, unknown_choice

LAYOUTS = ("folders", "csl", "manifest")
MANIFEST_NAME = "manifest.csv"
CSL_DICTIONARY = "dictionary.txt"
SPLIT_NAMES = ("train", "val", "test")

_CSL_CLASS = re.compile(r"^\d{6}$")
_CSL_SIGNER = re.compile(r"^(P\d+)_")


@dataclass(frozen=True)
class ClipSource:
    """One clip to prepare: where it is (relative to the listing's root), its class, signer and split."""

    rel: str  # POSIX path relative to SourceListing.root (absolute if outside it)
    label: str
    signer: str | None = None
    split: str | None = None


@dataclass(frozen=True)
class SourceListing:
    """All clips of a source dataset, with the class order every later stage uses."""

    layout: str
    root: Path
    classes: tuple[str, ...]
    clips: tuple[ClipSource, ...]

    def path(self, clip: ClipSource) -> Path:
        """Absolute path of a clip."""
        return self.root / clip.rel


def _visible_dirs(folder: Path) -> list[Path]:
    return sorted((d for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".")),
                  key=lambda d: natural_key(d.name))


def _videos_under(folder: Path) -> list[Path]:
    files = (f for f in folder.rglob("*") if f.suffix.lower() in VIDEO_EXTENSIONS and f.is_file()
             and not any(part.startswith(".") for part in f.relative_to(folder).parts))
    return sorted(files, key=lambda f: natural_key(f.relative_to(folder).as_posix()))


def _stills_in(folder: Path) -> list[Path]:
    """Images directly inside a class folder: each is a still sign (a held handshape), one clip."""
    files = (f for f in folder.iterdir() if f.suffix.lower() in FRAME_EXTENSIONS and f.is_file()
             and not f.name.startswith("."))
    return sorted(files, key=lambda f: natural_key(f.name))


def _has_frames(folder: Path) -> bool:
    return any(f.suffix.lower() in FRAME_EXTENSIONS for f in folder.iterdir())


def detect_layout(src: Path) -> str:
    """Which layout ``src`` uses; a :class:`UserError` that describes the layouts when none fits."""
    if not src.exists():
        raise UserError(f"source {src} does not exist")
    if src.is_file():
        if src.suffix.lower() == ".csv":
            return "manifest"
        raise UserError(f"source {src} is a file but not a .csv manifest; give a dataset folder or a CSV")
    if (src / MANIFEST_NAME).is_file():
        return "manifest"
    subdirs = _visible_dirs(src)
    if (src / CSL_DICTIONARY).is_file() or (
        subdirs and all(_CSL_CLASS.match(d.name) for d in subdirs)
        and any(_has_frames(c) for c in _visible_dirs(subdirs[0]))
    ):
        return "csl"
    if any(_videos_under(d) or _stills_in(d) for d in subdirs):
        return "folders"
    raise UserError(
        f"cannot tell the layout of {src}: expected class folders of videos or photos (<class>/<clip>.mp4, "
        "<class>/<photo>.jpg), "
        f"the CSL layout (<class:06d>/<clip>/<frame>.jpg), or a {MANIFEST_NAME} (path,label[,signer][,split])"
    )


def _list_folders(src: Path) -> SourceListing:
    clips: list[ClipSource] = []
    classes: list[str] = []
    for class_dir in _visible_dirs(src):
        videos = _videos_under(class_dir) + _stills_in(class_dir)
        if not videos:
            continue  # a folder without videos or photos is not a class (e.g. an output folder inside SRC)
        classes.append(class_dir.name)
        clips.extend(ClipSource(v.relative_to(src).as_posix(), class_dir.name) for v in videos)
    if not clips:
        raise UserError(f"no videos ({', '.join(sorted(VIDEO_EXTENSIONS))}) or photos "
                        f"({', '.join(sorted(FRAME_EXTENSIONS))}) in the class folders of {src}")
    return SourceListing("folders", src, tuple(classes), tuple(clips))


def _read_dictionary(path: Path) -> dict[int, str]:
    words: dict[int, str] = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split("\t", 1) if "\t" in line else line.split(None, 1)
        if len(parts) != 2 or not parts[0].strip().isdigit():
            raise UserError(f"{path}:{lineno}: expected 'class-id<TAB>word', got {line!r}")
        words[int(parts[0])] = parts[1].strip()
    return words


def _list_csl(src: Path) -> SourceListing:
    dictionary = _read_dictionary(src / CSL_DICTIONARY) if (src / CSL_DICTIONARY).is_file() else {}
    class_dirs = [d for d in _visible_dirs(src) if _CSL_CLASS.match(d.name)]
    names = [dictionary.get(int(d.name), d.name) for d in class_dirs]
    # Two ids with the same word would merge two classes: keep them apart by their id.
    names = [n if names.count(n) == 1 else f"{n} ({d.name})" for n, d in zip(names, class_dirs, strict=True)]
    clips: list[ClipSource] = []
    for class_dir, name in zip(class_dirs, names, strict=True):
        for clip_dir in _visible_dirs(class_dir):
            m = _CSL_SIGNER.match(clip_dir.name)
            clips.append(ClipSource(clip_dir.relative_to(src).as_posix(), name, m.group(1) if m else None))
    if not clips:
        raise UserError(f"no clip folders in the CSL class folders (<class:06d>/<clip>/) of {src}")
    return SourceListing("csl", src, tuple(names), tuple(clips))


def read_manifest(csv_path: Path, remedy: str = "a manifest needs path,label and may have signer,split"
                  ) -> tuple[list[str], list[dict[str, str]]]:
    """The manifest's column names and rows (names and values stripped); one line naming ``remedy`` when the
    ``path`` or ``label`` column is missing. Shared by ``prepare`` (and ``stitch`` through it) and ``record``."""
    with csv_path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        columns = [c.strip() for c in reader.fieldnames or []]
        missing = [c for c in ("path", "label") if c not in columns]
        if missing:
            raise UserError(f"{csv_path}: missing column(s) {', '.join(missing)}; {remedy}")
        return columns, [{k.strip(): (v or "").strip() for k, v in row.items() if k is not None} for row in reader]


def _list_manifest(src: Path) -> SourceListing:
    csv_path = src if src.is_file() else src / MANIFEST_NAME
    root = csv_path.parent
    _, rows = read_manifest(csv_path)
    clips: list[ClipSource] = []
    for lineno, row in enumerate(rows, 2):
        if not row["path"] or not row["label"]:
            raise UserError(f"{csv_path}:{lineno}: empty path or label")
        split = row.get("split") or None
        if split is not None and split not in SPLIT_NAMES:
            raise unknown_choice(f"split in {csv_path}:{lineno}", split, SPLIT_NAMES)
        rel = Path(row["path"]).as_posix()
        clips.append(ClipSource(rel, row["label"], row.get("signer") or None, split))
    if not clips:
        raise UserError(f"{csv_path} lists no clips")
    classes = tuple(sorted({c.label for c in clips}, key=natural_key))
    return SourceListing("manifest", root, classes, tuple(clips))


def list_clips(src: str | Path, layout: str = "auto") -> SourceListing:
    """List the clips of ``src`` in a fixed order, with ``layout`` one of :data:`LAYOUTS` or ``"auto"``."""
    src = Path(src).expanduser().resolve()
    if layout == "auto":
        layout = detect_layout(src)
    elif layout not in LAYOUTS:
        raise unknown_choice("layout", layout, ("auto", *LAYOUTS))
    if not src.exists():
        raise UserError(f"source {src} does not exist")
    if layout != "manifest" and not src.is_dir():
        raise UserError(f"the {layout} layout needs a folder, but {src} is a file")
    if layout == "manifest" and src.is_dir() and not (src / MANIFEST_NAME).is_file():
        raise UserError(f"no {MANIFEST_NAME} in {src}; give the CSV path itself or use another --layout")
    return {"folders": _list_folders, "csl": _list_csl, "manifest": _list_manifest}[layout](src)
