"""End-to-end tests of ``edge-slr train`` as real subprocesses: the CLI chain, kill + resume, two-worker training."""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

EDGE_SLR = Path(sys.executable).parent / "edge-slr"
TINY_MODEL = ["--arch", "cnn_lstm", "--frames", "4", "--size", "32", "--width", "0.25"]


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    result = subprocess.run([str(EDGE_SLR), *args], capture_output=True, text=True, timeout=timeout, env=env)
    assert result.returncode == 0, f"edge-slr {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def history(run: Path) -> list[dict[str, str]]:
    path = run / "history.csv"
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def cli_data(tmp_path_factory) -> Path:
    """``edge-slr synth`` then ``edge-slr prepare``, as a user would run them."""
    root = tmp_path_factory.mktemp("cli")
    run_cli("synth", str(root / "synth"), "--classes", "3", "--clips-per-class", "3", "--signers", "2",
            "--size", "48x48", "--seed", "5")
    run_cli("prepare", str(root / "synth"), str(root / "data"), "--size", "40", "--store-frames", "16",
            "--val", "0.5")
    return root / "data"


@pytest.mark.slow
def test_synth_prepare_train_killed_resumed_evaluate(cli_data, tmp_path):
    """The whole CLI chain; training is SIGKILLed mid-run and ``--resume`` continues from the backup."""
    run = tmp_path / "runs" / "tiny"
    epochs = 12
    command = [str(EDGE_SLR), "train", *TINY_MODEL, "--data", str(cli_data), "--out", str(run),
               "--epochs", str(epochs), "--batch", "1"]
    # A killed process runs no atexit: TensorFlow's autograph temp files go to the test's folder, not /tmp.
    (tmp_path / "tmp").mkdir()
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env={**os.environ, "TMPDIR": str(tmp_path / "tmp")})
    deadline = time.monotonic() + 240
    while len(history(run)) < 2 and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.communicate()
    before = history(run)
    assert 2 <= len(before) < epochs, f"kill came too late or too early: {len(before)} epoch(s) done"
    assert (run / "backup").is_dir() and not (run / "metrics.json").exists()

    refused = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "--resume" in refused.stderr and "Traceback" not in refused.stderr

    resumed = run_cli(*command[1:], "--resume")
    assert "resumed after epoch" in resumed.stdout
    restart = int(resumed.stdout.split("resumed after epoch ")[1].split()[0])
    assert restart >= len(before) - 1 >= 1  # at most one epoch of work lost, never back to epoch 0
    after = history(run)
    assert [int(r["epoch"]) for r in after] == list(range(1, epochs + 1))  # no duplicated or missing epoch
    assert after[:restart] == before[:restart]  # completed epochs were kept, not trained again
    first_epoch_line = next(line for line in resumed.stdout.splitlines() if line.startswith("epoch "))
    assert first_epoch_line.startswith(f"epoch {restart + 1}/{epochs}")
    metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["epochs"] == epochs and not (run / "backup").exists()

    report = run_cli("evaluate", str(run), "--json")
    data = json.loads(report.stdout)
    assert data["clips"] == 9 and data["format"] == "keras" and len(data["per_class"]) == 3
    assert abs(data["top1"] - metrics["best_val_top1"]) < 1e-6  # same clips, same model as training's validation
    assert (run / "eval-best-val.json").is_file() and (run / "eval-best-val-confusion.png").is_file()


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow
def test_two_worker_multiworker_training_on_loopback(cli_data, tmp_path):
    """MultiWorkerMirroredStrategy with two local processes; only the chief writes the run folder."""
    run = tmp_path / "runs" / "mw"
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    procs = []
    for index in range(2):
        env = {**os.environ, "TF_CONFIG": json.dumps({"cluster": {"worker": workers},
                                                      "task": {"type": "worker", "index": index}})}
        procs.append(subprocess.Popen(
            [str(EDGE_SLR), "train", *TINY_MODEL, "--data", str(cli_data), "--out", str(run), "--epochs", "2",
             "--batch", "4", "--strategy", "multiworker"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env))
    outputs = []
    try:
        for proc in procs:
            outputs.append(proc.communicate(timeout=300)[0])
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    report = "\n".join(f"--- worker {i}:\n{out}" for i, out in enumerate(outputs))
    for proc in procs:
        assert proc.returncode == 0, report
    assert "multiworker strategy, 2 replica(s), 2 worker(s)" in outputs[0], report
    assert "epoch 2/2" in outputs[0] and "epoch " not in outputs[1], report  # only the chief reports
    assert [int(r["epoch"]) for r in history(run)] == [1, 2], report
    for name in ("config.json", "labels.txt", "best.keras", "last.keras", "curves.png", "metrics.json"):
        assert (run / name).is_file(), name
    # No worker left backup state behind (a worker may remove its own empty scratch folder after
    # the chief has looked, so an empty folder can remain).
    assert not [p for p in (run / "backup").rglob("*") if p.is_file()]
    assert json.loads((run / "config.json").read_text(encoding="utf-8"))["strategy"] == "multiworker"
