"""`edge-slr demo`, the README's first command: scored live recognition with the built-in model, and from a wheel."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SUMMARY_KEYS = {"precision", "recall", "events", "signs", "event_latency_ms_median", "frames_captured",
                "frames_processed", "frames_dropped", "stages"}


def _demo(*args: str, python: str = sys.executable, timeout: int = 240) -> subprocess.CompletedProcess:
    return subprocess.run([python, "-m", "edge_slr.cli", "demo", "--headless", *args], capture_output=True, text=True,
                          timeout=timeout, cwd="/")


def test_demo_json_summary_scores_an_unseen_signer():
    proc = _demo("--json", "--every-frame", "--signs", "8", "--seed", "3", "--threads", "1")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert SUMMARY_KEYS <= set(summary)
    assert summary["signs"] == 8 and summary["frames_dropped"] == 0
    assert summary["precision"] >= 0.8 and summary["recall"] >= 0.8, summary
    assert {"inference", "preprocess", "smoothing"} <= set(summary["stages"])


def test_demo_prints_each_sign_beside_the_truth():
    proc = _demo("--every-frame", "--signs", "4", "--seed", "1", "--threads", "1")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "signs by a signer not seen in training" in out and "recognized" in out
    assert " ok" in out and "precision" in out and "stage" in out


@pytest.mark.skipif(shutil.which("uv") is None and not (Path(sys.executable).parent / "uv").exists(),
                    reason="needs uv to build and install the wheel")
def test_wheel_with_only_the_live_extra_runs_the_demo(tmp_path):
    uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    subprocess.run([uv, "build", "--wheel", "--out-dir", str(tmp_path / "dist"), str(ROOT)], check=True,
                   capture_output=True, timeout=300)
    wheel = next((tmp_path / "dist").glob("edge_slr-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([uv, "venv", "--python", sys.executable, str(venv)], check=True, capture_output=True, timeout=120)
    python = str(venv / "bin" / "python")
    install = subprocess.run([uv, "pip", "install", "--python", python, f"{wheel}[live]"], capture_output=True,
                             text=True, timeout=600)
    assert install.returncode == 0, install.stderr
    check = subprocess.run([python, "-c", "import importlib.util as u; print(u.find_spec('tensorflow'))"],
                           capture_output=True, text=True, timeout=60)
    assert check.stdout.strip() == "None", "the live extra must not pull TensorFlow"
    proc = _demo("--json", "--every-frame", "--signs", "3", "--threads", "1", python=python)
    assert proc.returncode == 0, proc.stderr
    assert SUMMARY_KEYS <= set(json.loads(proc.stdout))
