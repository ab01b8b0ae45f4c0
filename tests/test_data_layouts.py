"""Layout detection, the three source readers, and the train/val split (no TensorFlow, no decoding)."""

from __future__ import annotations

from collections import Counter

import pytest
from data_videos import write_bytes, write_frames

from edge_slr.data.layouts import ClipSource, detect_layout, list_clips
from edge_slr.data.split import assign_splits
from edge_slr.errors import UserError


def touch(path):
    """Listing never decodes, so placeholder files are enough here."""
    return write_bytes(path, b"x")


def test_folders_layout(tmp_path):
    for name in ("10", "2", "ljubičasta"):
        touch(tmp_path / name / "b.mp4")
        touch(tmp_path / name / "a.AVI")
    touch(tmp_path / "2" / "notes.txt")
    touch(tmp_path / "2" / "signer3" / "c.webm")  # nested folders are part of the class
    (tmp_path / "no_videos").mkdir()
    touch(tmp_path / ".hidden" / "x.mp4")
    assert detect_layout(tmp_path) == "folders"
    listing = list_clips(tmp_path)
    assert listing.layout == "folders" and listing.classes == ("2", "10", "ljubičasta")  # natural order
    assert [c.rel for c in listing.clips if c.label == "2"] == ["2/a.AVI", "2/b.mp4", "2/signer3/c.webm"]
    assert all(c.signer is None and c.split is None for c in listing.clips)
    assert listing.path(listing.clips[0]) == tmp_path.resolve() / "2" / "a.AVI"


def test_csl_layout_with_dictionary_and_signers(tmp_path):
    write_frames(tmp_path / "000001" / "P02_01_00_0_color", 2)
    write_frames(tmp_path / "000000" / "P01_01_00_0_color", 2)
    write_frames(tmp_path / "000000" / "clipX", 2)
    (tmp_path / "dictionary.txt").write_text("000000\t你好\n000001\tthank you\n", encoding="utf-8")
    assert detect_layout(tmp_path) == "csl"
    listing = list_clips(tmp_path, "auto")
    assert listing.classes == ("你好", "thank you")
    assert [(c.rel, c.label, c.signer) for c in listing.clips] == [
        ("000000/clipX", "你好", None),
        ("000000/P01_01_00_0_color", "你好", "P01"),
        ("000001/P02_01_00_0_color", "thank you", "P02"),
    ]


def test_csl_detected_without_dictionary(tmp_path):
    write_frames(tmp_path / "000007" / "P03_x", 1)
    assert detect_layout(tmp_path) == "csl"
    assert list_clips(tmp_path).classes == ("000007",)


def test_manifest_layout(tmp_path):
    (tmp_path / "manifest.csv").write_text(
        "path,label,signer,split\nv/a.mp4,wave,s1,train\nv/b.mp4,hello,s2,val\n/abs/c.mp4,wave,,train\n",
        encoding="utf-8")
    assert detect_layout(tmp_path) == "manifest"
    assert detect_layout(tmp_path / "manifest.csv") == "manifest"
    listing = list_clips(tmp_path / "manifest.csv")
    assert listing.classes == ("hello", "wave")
    assert listing.clips[0] == ClipSource("v/a.mp4", "wave", "s1", "train")
    assert listing.clips[2].signer is None
    assert listing.path(listing.clips[0]) == tmp_path.resolve() / "v" / "a.mp4"
    assert str(listing.path(listing.clips[2])) == "/abs/c.mp4"


@pytest.mark.parametrize("text, match", [
    ("file,label\na.mp4,x\n", "missing column"),
    ("path,label,split\na.mp4,x,training\n", "unknown split"),
    ("path,label\n", "lists no clips"),
])
def test_bad_manifests(tmp_path, text, match):
    (tmp_path / "manifest.csv").write_text(text, encoding="utf-8")
    with pytest.raises(UserError, match=match):
        list_clips(tmp_path)


def test_unknown_layouts(tmp_path):
    with pytest.raises(UserError, match="cannot tell the layout"):
        detect_layout(tmp_path)
    with pytest.raises(UserError, match="does not exist"):
        list_clips(tmp_path / "missing")
    with pytest.raises(UserError, match="unknown layout 'folder'.*Did you mean folders"):
        list_clips(tmp_path, "folder")


def clips(n_signers: int, per_signer: int, classes: int = 3) -> tuple[ClipSource, ...]:
    return tuple(ClipSource(f"s{s}/c{c}/{k}.mp4", f"c{c}", f"s{s}")
                 for s in range(n_signers) for c in range(classes) for k in range(per_signer))


def test_signer_split_holds_out_whole_signers():
    source = clips(8, 2)
    out, report = assign_splits(source, "auto", 0.25, seed=3)
    assert report.mode == "signer"
    val_signers = {c.signer for c in out if c.split == "val"}
    train_signers = {c.signer for c in out if c.split == "train"}
    assert val_signers and train_signers and not val_signers & train_signers
    assert set(report.val_signers) == val_signers and len(val_signers) == 2  # 2 of 8 equal signers = 25%
    again, _ = assign_splits(tuple(reversed(source)), "signer", 0.25, seed=3)
    assert {c.rel: c.split for c in again} == {c.rel: c.split for c in out}  # listing order does not matter
    other = {assign_splits(source, "signer", 0.25, seed=s)[1].val_signers for s in range(10)}
    assert len(other) > 1  # the seed chooses which signers


def test_random_split_is_stratified_and_seeded():
    source = tuple(ClipSource(f"c{c}/{k}.mp4", f"c{c}") for c in range(4) for k in range(8))
    out, report = assign_splits(source, "auto", 0.25, seed=0)
    assert report.mode == "random"
    per_class = Counter(c.label for c in out if c.split == "val")
    assert per_class == {f"c{c}": 2 for c in range(4)}
    assert assign_splits(source, "random", 0.25, seed=0)[0] == out
    assert assign_splits(source, "random", 0.25, seed=1)[0] != out
    singles = (ClipSource("a.mp4", "a"), ClipSource("b.mp4", "b"), ClipSource("b2.mp4", "b"))
    s, _ = assign_splits(singles, "random", 0.1)
    assert [c.split for c in s] == ["train", "val", "train"] or [c.split for c in s] == ["train", "train", "val"]


def test_split_modes_and_errors():
    source = clips(3, 1)
    with_split = tuple(ClipSource(c.rel, c.label, c.signer, "val" if c.signer == "s0" else "train") for c in source)
    out, report = assign_splits(with_split, "auto")
    assert report.mode == "manifest" and out == with_split
    no_signers = tuple(ClipSource(c.rel, c.label) for c in source)
    with pytest.raises(UserError, match="--split signer needs a signer id"):
        assign_splits(no_signers, "signer")
    with pytest.raises(UserError, match="--split manifest"):
        assign_splits(no_signers, "manifest")
    with pytest.raises(UserError, match="unknown split mode"):
        assign_splits(source, "signers")
    with pytest.raises(UserError, match="--val"):
        assign_splits(source, "auto", 1.0)
    all_train, _ = assign_splits(source, "auto", 0.0)
    assert {c.split for c in all_train} == {"train"}
