"""The live window as a person sees it: a real OpenCV window on a virtual X screen (Xvfb), screenshot, `q` quits."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from edge_slr.live.commands import demo_model_path

pytestmark = pytest.mark.skipif(not (shutil.which("Xvfb") and shutil.which("xdotool")),
                                reason="needs Xvfb and xdotool (.ci/run installs them)")
SCREENSHOT = Path(__file__).resolve().parents[1] / "docs" / "live_window.png"


@pytest.fixture()
def display():
    number = 90 + os.getpid() % 9
    server = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", "800x600x24", "-nolisten", "tcp"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not Path(f"/tmp/.X11-unix/X{number}").exists():
            assert time.monotonic() < deadline and server.poll() is None, "Xvfb did not start"
            time.sleep(0.1)
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(timeout=10)


def _window_id(env: dict, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = subprocess.run(["xdotool", "search", "--name", "edge-slr live"], env=env, capture_output=True,
                               text=True)
        if found.stdout.strip():
            return found.stdout.split()[0]
        time.sleep(0.2)
    raise AssertionError("the live window never appeared")


def test_live_window_shows_the_annotated_stream_and_q_quits(display, tmp_path):
    from PIL import ImageGrab

    env = {**os.environ, "DISPLAY": display}
    proc = subprocess.Popen([sys.executable, "-m", "edge_slr.cli", "live", "--source", "synth:3:12", "--model",
                             str(demo_model_path()), "--threads", "1"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        window = _window_id(env, timeout=60)
        time.sleep(12)  # a few signs in: the panel shows a label, top-3 and the last event
        screen = np.asarray(ImageGrab.grab(xdisplay=display))
        rows, cols = np.nonzero(screen.max(axis=2) > 0)  # the window on the black root window
        shot = screen[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        subprocess.run(["xdotool", "windowactivate", "--sync", window], env=env, capture_output=True, timeout=10)
        pressed = time.monotonic()
        subprocess.run(["xdotool", "key", "--window", window, "q"], env=env, check=True, timeout=10)
        proc.wait(timeout=10)
        assert time.monotonic() - pressed < 5
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode == 0, proc.stderr.read()
    assert shot.shape[0] >= 480 and shot.shape[1] >= 480, shot.shape
    panel, scene = shot[:90], shot[100:440]
    assert panel.std() > 10 and scene.std() > 10, "the window shows the annotated frame"
    assert (np.abs(panel.astype(int) - [80, 220, 80]).sum(-1) < 60).any() or \
        (np.abs(panel.astype(int) - [255, 210, 0]).sum(-1) < 60).any(), "the confidence bar is drawn"
    if os.environ.get("EDGE_SLR_UPDATE_SCREENSHOT"):  # refresh the README's screenshot
        from PIL import Image

        SCREENSHOT.parent.mkdir(exist_ok=True)
        Image.fromarray(shot).save(SCREENSHOT)
