"""The folder ``record`` writes into: class folders of clips plus ``manifest.csv``, appended to, never overwritten.

Several people record into one dataset, one session each, so everything here adds and nothing replaces:

* a clip is named ``<sign>/<signer>_<n>.mp4`` with ``n`` one past the highest number that signer already
  has for that sign (on disk or in the manifest), and is moved into place with a hard link, which fails
  instead of replacing a file that appeared meanwhile (the next number is taken then);
* the manifest is re-read before each new row and rewritten atomically (temporary file, rename), so a
  row is either fully there or not, under a lock file next to it (``.manifest.csv.lock``, released by the
  system if a session dies), so two sessions finishing a clip at the same instant do not both rewrite it from
  the same old rows and lose one.

A folder that already holds class folders of videos but no manifest is refused: once a manifest exists,
``prepare`` reads only the clips it lists, so those videos would silently drop out of the dataset.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from edge_slr.data.layouts import MANIFEST_NAME, read_manifest
from edge_slr.data.video import VIDEO_EXTENSIONS
from edge_slr.errors import UserError
from edge_slr.utils.atomic import write_text

MANIFEST_COLUMNS = ("path", "label", "signer")
MANIFEST_LOCK = f".{MANIFEST_NAME}.lock"  # the file sessions lock to take turns on the manifest; kept
LOCK_SECONDS = 30.0  # a manifest rewrite takes milliseconds; this long means another session is stuck
CLIP_SUFFIX = ".mp4"
_SIGN_NAME = re.compile(r"^\w[\w .+-]*$")  # a folder name on every OS: no separators, no leading dot
_SIGNER_NAME = re.compile(r"^\w[\w.-]*$")  # also part of file names: no spaces


@dataclass(frozen=True)
class ManifestRow:
    """One recorded clip as ``prepare`` reads it (``path`` relative to the folder, POSIX separators)."""

    path: str
    label: str
    signer: str


def parse_signs(text: str) -> tuple[str, ...]:
    """``a,b,c`` -> ``("a", "b", "c")``; one line on an empty list, an empty or unusable name, or a repeat."""
    signs = tuple(s.strip() for s in text.split(","))
    if not text.strip():
        raise UserError("--signs is empty; give the signs to record, comma-separated, e.g. --signs hello,thanks,yes")
    for sign in signs:
        if not sign:
            raise UserError(f"--signs {text!r} has an empty name; separate sign names with single commas")
        if not _SIGN_NAME.match(sign):
            raise UserError(f"sign name {sign!r} cannot be a folder name; use letters, digits, spaces, '.', '+', "
                            "'-' or '_' (not starting with '.' or a space)")
    repeated = sorted({s for s in signs if signs.count(s) > 1})
    if repeated:
        raise UserError(f"--signs names {', '.join(repeated)} more than once; use --clips for repetitions")
    return signs


def check_signer(name: str) -> str:
    """The signer id, checked: it becomes part of every clip's file name and ``prepare`` splits by it."""
    if not _SIGNER_NAME.match(name):
        raise UserError(f"signer name {name!r} must be letters, digits, '.', '-' or '_' (no spaces, not starting "
                        "with '.'), because it becomes part of the clip file names")
    return name


class RecordFolder:
    """``OUT``: where clips go, which number comes next, and the manifest that lists them."""

    def __init__(self, root: Path, signer: str):
        self.root = Path(root).expanduser().resolve()
        self.signer = check_signer(signer)
        self.manifest = self.root / MANIFEST_NAME
        if self.root.exists() and not self.root.is_dir():
            raise UserError(f"{self.root} exists and is not a folder; give a dataset folder to record into")
        self._columns, rows = self._read()
        if not rows and self.root.is_dir():
            videos = [p for p in self.root.glob("*/*") if p.suffix.lower() in VIDEO_EXTENSIONS
                      and not p.name.startswith(".")]
            if videos:
                raise UserError(f"{self.root} holds videos ({videos[0].relative_to(self.root).as_posix()}, ...) but "
                                f"no {MANIFEST_NAME}, so recording here would hide them from prepare; record into a "
                                f"new folder or write a {MANIFEST_NAME} (path,label,signer) for them first")

    def rows(self) -> list[dict[str, str]]:
        """Every manifest row as read now (empty when there is no manifest yet)."""
        return self._read()[1]

    def next_number(self, sign: str) -> int:
        """One past the highest ``n`` of ``<signer>_<n>`` for ``sign``, on disk or in the manifest."""
        pattern = re.compile(rf"^{re.escape(self.signer)}_(\d+)$")
        names = [Path(r["path"]).stem for r in self.rows() if Path(r["path"]).parent.name == sign]
        folder = self.root / sign
        if folder.is_dir():
            names += [p.stem for p in folder.iterdir() if not p.name.startswith(".")]
        numbers = [int(m.group(1)) for m in map(pattern.match, names) if m]
        return max(numbers, default=0) + 1

    def clip_folder(self, sign: str) -> Path:
        """``OUT/<sign>``, created when the first clip of that sign is recorded."""
        folder = self.root / sign
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def publish(self, tmp: Path, sign: str) -> Path:
        """Give a finished temporary clip its final name, never replacing an existing file; return that name."""
        number = self.next_number(sign)
        while True:
            target = self.root / sign / f"{self.signer}_{number}{CLIP_SUFFIX}"
            try:
                os.link(tmp, target)  # atomic and fails if the name exists (os.replace would overwrite)
            except FileExistsError:
                number += 1
                continue
            except OSError:  # a filesystem without hard links (FAT): check, then rename
                if target.exists():
                    number += 1
                    continue
                os.replace(tmp, target)
            tmp.unlink(missing_ok=True)
            return target

    def add_row(self, clip: Path, sign: str) -> ManifestRow:
        """Append the clip to the manifest (locked, re-read, rewritten atomically) and return its row."""
        from filelock import FileLock, Timeout

        row = ManifestRow(clip.relative_to(self.root).as_posix(), sign, self.signer)
        lock = self.root / MANIFEST_LOCK
        try:
            with FileLock(lock, timeout=LOCK_SECONDS):
                columns, rows = self._read()
                rows.append({"path": row.path, "label": row.label, "signer": row.signer})
                text = io.StringIO()
                writer = csv.DictWriter(text, fieldnames=columns, restval="", lineterminator="\n")
                writer.writeheader()
                writer.writerows(rows)
                write_text(self.manifest, text.getvalue())
        except Timeout:
            raise UserError(f"another session has held {lock} for {LOCK_SECONDS} s; the clip is saved as "
                            f"{row.path} but not yet in {MANIFEST_NAME}: add the line '{row.path},{row.label},"
                            f"{row.signer}' to it") from None
        return row

    def _read(self) -> tuple[list[str], list[dict[str, str]]]:
        """The manifest's columns (ours added when missing) and rows; one line if it is not a manifest."""
        if not self.manifest.is_file():
            return list(MANIFEST_COLUMNS), []
        columns, rows = read_manifest(self.manifest, "it is not an edge-slr manifest (path,label[,signer][,split]); "
                                      "record into another folder")
        return columns + [c for c in MANIFEST_COLUMNS if c not in columns], rows


def summary(rows: Sequence[dict[str, str]]) -> str:
    """``12 clips, 3 signs, 2 signers`` of a manifest."""
    signs = {r["label"] for r in rows}
    signers = {r.get("signer", "") for r in rows} - {""}
    return f"{len(rows)} clips, {len(signs)} signs, {len(signers)} signers"
