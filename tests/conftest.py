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
