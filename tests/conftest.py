"""Shared test fixtures and paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
SHARED_MODELS = ROOT.parent / "shared" / "models"

# Every test process uses tf-keras (Keras 2), like the package does.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")


def require_shared(path: Path) -> Path:
    """Skip (with the reason) when the shared real-data folder is not on this machine."""
    if not path.exists():
        pytest.skip(f"shared test data not found at {path} (only present on project machines)")
    return path


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    """A real prepared dataset: rendered 48x48 synth clips (3 classes, 2 signers) through `prepare`, stored at 96."""
    from edge_slr.data.prepare import PrepareConfig, prepare
    from edge_slr.data.synth import SynthConfig, generate_dataset

    root = tmp_path_factory.mktemp("tiny_dataset")
    generate_dataset(SynthConfig(out=root / "synth", classes=3, clips_per_class=2, signers=2, width=48, height=48,
                                 seed=3))
    prepare(PrepareConfig(src=root / "synth", out=root / "prepared", size=96, store_frames=16, progress=False))
    return root / "prepared"


@pytest.fixture()
def no_thread_leaks():
    """Fail a test that leaves a thread running: every thread needs an owner that joins it."""
    import threading
    import time

    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 2.0
    while (extra := [t for t in threading.enumerate() if t not in before and t.is_alive()]) and \
            time.monotonic() < deadline:
        time.sleep(0.05)
    assert not extra, f"threads outlived the test: {[t.name for t in extra]}"
