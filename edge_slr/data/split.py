"""Assign clips to train/val splits: by signer when signer ids exist, else seeded stratified random.

A random clip split puts the same signer in train and val and inflates accuracy, so ``auto``
prefers a signer split; it falls back to a stratified random split (every class in both splits)
only when the source has no signer ids.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, replace

import numpy as np

from edge_slr.data.layouts import ClipSource
from edge_slr.errors import UserError, unknown_choice

SPLIT_MODES = ("auto", "signer", "random", "manifest")


@dataclass(frozen=True)
class SplitReport:
    """How the split was made (goes into dataset.json)."""

    mode: str  # the mode actually used: signer, random or manifest
    val_fraction: float
    seed: int
    val_signers: tuple[str, ...] = ()
    train_signers: tuple[str, ...] = ()


def _resolve_mode(clips: tuple[ClipSource, ...], mode: str) -> str:
    if mode not in SPLIT_MODES:
        raise unknown_choice("split mode", mode, SPLIT_MODES)
    has_split = all(c.split for c in clips)
    signers = {c.signer for c in clips}
    has_signers = None not in signers and len(signers) >= 2
    if mode == "auto":
        return "manifest" if has_split else "signer" if has_signers else "random"
    if mode == "manifest" and not has_split:
        raise UserError("--split manifest needs a 'split' value for every row of the manifest")
    if mode == "signer" and not has_signers:
        missing = sum(c.signer is None for c in clips)
        raise UserError(f"--split signer needs a signer id for every clip and at least 2 signers "
                        f"({missing} clip(s) without one, {len(signers - {None})} signer(s)); "
                        "use --split random")
    return mode


def _signer_split(clips: tuple[ClipSource, ...], val: float, seed: int) -> tuple[set[str], set[str]]:
    """Hold out whole signers, greedily in a seeded order, to approach ``val`` of the clips."""
    counts = Counter(c.signer for c in clips)
    order = sorted(counts)  # sorted first: the result must not depend on listing order
    np.random.default_rng(seed).shuffle(order)
    target = val * len(clips)
    held: set[str] = set()
    total = 0
    for signer in order:
        if len(held) == len(order) - 1:
            break  # keep at least one training signer
        if not held or abs(total + counts[signer] - target) < abs(total - target):
            held.add(signer)
            total += counts[signer]
    return held, set(order) - held


def _random_split(clips: tuple[ClipSource, ...], val: float, seed: int) -> set[int]:
    """Per class, a seeded shuffle puts round(val * n) clips in val (at least one when n >= 2)."""
    by_class: dict[str, list[int]] = defaultdict(list)
    for i, c in enumerate(clips):
        by_class[c.label].append(i)
    rng = np.random.default_rng(seed)
    val_idx: set[int] = set()
    for label in sorted(by_class):
        idx = sorted(by_class[label], key=lambda i: clips[i].rel)
        n = len(idx)
        k = min(max(int(round(val * n)), 1 if n >= 2 else 0), n - 1)
        val_idx.update(idx[j] for j in rng.permutation(n)[:k])
    return val_idx


def assign_splits(clips: tuple[ClipSource, ...], mode: str = "auto", val: float = 0.25,
                  seed: int = 0) -> tuple[tuple[ClipSource, ...], SplitReport]:
    """Return the clips with ``split`` set to train/val (manifest splits kept) and a report of how."""
    if not 0.0 <= val < 1.0:
        raise UserError(f"--val must be in [0, 1), got {val}")
    mode = _resolve_mode(clips, mode)
    if mode == "manifest":
        return clips, SplitReport("manifest", val, seed)
    if val == 0.0:
        return tuple(replace(c, split="train") for c in clips), SplitReport(mode, val, seed)
    if mode == "signer":
        held, kept = _signer_split(clips, val, seed)
        out = tuple(replace(c, split="val" if c.signer in held else "train") for c in clips)
        return out, SplitReport(mode, val, seed, tuple(sorted(held)), tuple(sorted(kept)))
    val_idx = _random_split(clips, val, seed)
    out = tuple(replace(c, split="val" if i in val_idx else "train") for i, c in enumerate(clips))
    return out, SplitReport(mode, val, seed)
