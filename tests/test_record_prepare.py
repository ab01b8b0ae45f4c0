"""A folder written by `edge-slr record` (several signers, one session each) is what `prepare` reads."""

from __future__ import annotations

import io

import pytest

from edge_slr.record.commands import RecordConfig, record
from edge_slr.record.prompters import LinePrompter


@pytest.mark.slow  # prepare imports TensorFlow
def test_a_recorded_folder_is_prepared_with_a_split_by_signer(tmp_path):
    from edge_slr.data.prepare import PrepareConfig, prepare

    out = tmp_path / "ds"
    for signer in ("ann", "ben", "cy"):
        record(RecordConfig(out=out, signs=("one", "two"), clips=2, signer=signer, source="synth:4", seconds=0.4,
                            countdown=0.2, every_frame=True), LinePrompter(io.StringIO()))
    info = prepare(PrepareConfig(src=out, out=tmp_path / "prepared", size=32, store_frames=8, workers=1,
                                 progress=False)).info
    assert info.layout == "manifest" and info.classes == ("one", "two") and info.split["mode"] == "signer"
    assert sum(s.clips for s in info.splits.values()) == 12 and not info.skipped
    val, train = set(info.split["val_signers"]), set(info.split["train_signers"])
    assert val and train and not (val & train) and val | train == {"ann", "ben", "cy"}
