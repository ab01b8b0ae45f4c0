"""``edge-slr prepare``: shards, dataset.json, skipped files, re-runs, the three layouts, real HZJ videos."""

from __future__ import annotations

import json
import os

import cv2
import numpy as np
import pytest
from conftest import SHARED_DATA, require_shared
from data_videos import write_bytes, write_frames, write_video

from edge_slr.cli import main
from edge_slr.data.info import load_dataset_info
from edge_slr.data.prepare import PrepareConfig, prepare
from edge_slr.data.tfrecord import read_records
from edge_slr.errors import UserError

RED, BLUE = (0, 0, 255), (255, 0, 0)


@pytest.fixture
def folder_source(tmp_path):
    """Two classes of 3 good 20-frame videos, plus a corrupt, an empty and a too-short video."""
    src = tmp_path / "src"
    for k in range(3):
        write_video(src / "red" / f"r{k}.mp4", 20, RED)
        write_video(src / "blue" / f"b{k}.avi", 20, BLUE)
    write_bytes(src / "red" / "corrupt.mp4", np.random.default_rng(0).bytes(5000))
    write_bytes(src / "blue" / "empty.mp4", b"")
    write_video(src / "red" / "short.mp4", 4, RED)
    return src


def config(src, out, **kw) -> PrepareConfig:
    base = dict(src=src, out=out, store_frames=8, size=32, min_frames=6, val=0.34, shard_size=2, workers=2,
                progress=False)
    return PrepareConfig(**{**base, **kw})


def test_prepare_folders_skips_bad_files(folder_source, tmp_path):
    out = tmp_path / "out"
    result = prepare(config(folder_source, out))
    info = load_dataset_info(out)
    assert info == result.info
    assert info.classes == ("blue", "red") and info.layout == "folders"
    assert set(info.splits) == {"train", "val"} and sum(v.clips for v in info.splits.values()) == 6
    for split in info.splits.values():
        assert sum(split.per_class.values()) == split.clips
    assert info.split["mode"] == "random"
    assert (info.clip_spec.stored_frames, info.clip_spec.size) == (8, 32)
    reasons = {s.path: s.reason for s in info.skipped}
    assert set(reasons) == {"red/corrupt.mp4", "blue/empty.mp4", "red/short.mp4"}
    assert "cannot open" in reasons["red/corrupt.mp4"]
    assert "empty file" in reasons["blue/empty.mp4"]
    assert reasons["red/short.mp4"].startswith("too short: 4 decodable frame(s)")

    records = [r for split in info.splits for p in info.shard_paths(split) for r in read_records(str(p))]
    assert len(records) == 6
    for r in records:
        assert info.classes[r.label] == r.label_name
        assert r.source.startswith(r.label_name + "/")
        assert len(r.jpegs) == 8 and r.frame_index == (1, 3, 6, 8, 11, 13, 16, 18)
        assert r.source_frames == 20 and r.fps == pytest.approx(25.0) and r.signer == ""
        rgb = cv2.cvtColor(cv2.imdecode(np.frombuffer(r.jpegs[0], np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        assert rgb.shape == (32, 32, 3)
        channel = 0 if r.label_name == "red" else 2
        assert rgb[..., channel].max() > 200  # stored as RGB: red clips have a red rectangle


def test_rerun_skips_finished_shards(folder_source, tmp_path):
    out = tmp_path / "out"
    first = prepare(config(folder_source, out))
    assert first.reused == () and len(first.written) == 5  # 6 train + 3 val planned clips, 2 per shard
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("*.tfrecord")}
    again = prepare(config(folder_source, out, workers=1))  # workers do not change the plan
    assert again.written == () and set(again.reused) == set(stamps)
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.tfrecord")} == stamps
    assert again.info == first.info

    victim = out / first.written[0]
    victim.unlink()
    third = prepare(config(folder_source, out))
    assert third.written == (victim.name,) and third.info == first.info

    with pytest.raises(UserError, match="differs in: .*split.*--overwrite"):
        prepare(config(folder_source, out, seed=1))
    rebuilt = prepare(config(folder_source, out, seed=1, overwrite=True))
    assert rebuilt.reused == () and rebuilt.info.split["seed"] == 1
    assert sorted(p.name for p in out.glob("*.tfrecord")) == sorted(rebuilt.written)


def test_refuses_foreign_output_folder(folder_source, tmp_path):
    out = tmp_path / "out"
    write_bytes(out / "train-00000-of-00001.tfrecord", b"someone else's")
    with pytest.raises(UserError, match="--overwrite"):
        prepare(config(folder_source, out))


def test_prepare_csl_layout(tmp_path):
    src = tmp_path / "csl"
    for cls, colour in ((0, RED), (1, BLUE)):
        for signer in (1, 2, 3, 4):
            write_frames(src / f"{cls:06d}" / f"P{signer:02d}_01_00_0_color", 10, colour)
    (src / "dictionary.txt").write_text("000000\t红\n000001\t蓝\n", encoding="utf-8")
    result = prepare(config(src, tmp_path / "out", val=0.25))
    info = result.info
    assert info.layout == "csl" and info.classes == ("红", "蓝") and info.skipped == ()
    assert info.split["mode"] == "signer" and len(info.split["val_signers"]) == 1
    assert {k: v.clips for k, v in info.splits.items()} == {"train": 6, "val": 2}
    record = read_records(str(info.shard_paths("val")[0]))[0]
    assert record.signer == info.split["val_signers"][0] and record.fps == 0.0 and record.source_frames == 10


def test_prepare_manifest_with_signers_and_missing_file(tmp_path):
    src = tmp_path / "m"
    rows = ["path,label,signer"]
    for signer in ("anna", "ben", "cleo", "dora"):
        for label, colour in (("yes", RED), ("no", BLUE)):
            write_video(src / "clips" / f"{signer}_{label}.mp4", 12, colour)
            rows.append(f"clips/{signer}_{label}.mp4,{label},{signer}")
    rows.append("clips/gone.mp4,yes,anna")
    (src / "manifest.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    info = prepare(config(src, tmp_path / "out", val=0.25)).info
    assert info.layout == "manifest" and info.classes == ("no", "yes")
    assert info.split["mode"] == "signer"
    assert [(s.path, s.reason) for s in info.skipped] == [("clips/gone.mp4", "missing file")]
    val = read_records(str(info.shard_paths("val")[0]))
    assert {r.signer for r in val} == set(info.split["val_signers"])


def test_hzj_colors_prepares_cleanly(tmp_path):
    src = require_shared(SHARED_DATA / "hzj_colors")
    info = prepare(PrepareConfig(src=src, out=tmp_path / "hzj", store_frames=16, size=64, progress=False)).info
    assert info.skipped == ()
    assert len(info.classes) == 9 and "ljubičasta" in info.classes and "žuta" in info.classes
    assert sum(s.clips for s in info.splits.values()) == 72
    assert set(info.splits["val"].per_class.values()) == {2}  # stratified: 2 of each class's 8 clips
    records = read_records(str(info.shard_paths("val")[0]))
    assert {r.label_name for r in records} == set(info.classes)
    assert all(35 <= r.source_frames <= 142 and r.fps == pytest.approx(30.0) for r in records)
    assert all(len(r.jpegs) == 16 for r in records)


def test_cli_prepare(folder_source, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["prepare", str(folder_source), str(out), "--store-frames", "8", "--size", "32",
                 "--min-frames", "6", "--workers", "1"]) == 0
    text = capsys.readouterr().out
    assert "prepared 6 clip(s) of 2 class(es)" in text and "skipped 3 clip(s)" in text
    assert "red/short.mp4: too short" in text
    assert json.loads((out / "dataset.json").read_text(encoding="utf-8"))["source"]["layout"] == "folders"
    assert main(["prepare", str(folder_source), str(out), "--layout", "csv"]) == 2
    assert "unknown layout 'csv'" in capsys.readouterr().err
    assert main(["prepare", os.fspath(tmp_path / "nowhere"), str(out)]) == 2
