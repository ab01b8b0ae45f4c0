"""`edge-slr record`: real sources (video files, synth, a capture that disappears), real clips, real manifest.

Every wait is bounded. The video-file source encodes the frame index as a bar's position, so the tests
can tell exactly which source frames each recorded clip holds.
"""

from __future__ import annotations

import csv
import hashlib
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from data_videos import write_frames_video
from test_live_window import display  # noqa: F401  (the Xvfb fixture)

from edge_slr.cli import main
from edge_slr.errors import UserError
from edge_slr.live.sources import CaptureSource
from edge_slr.record.commands import RecordConfig, record
from edge_slr.record.dataset import MANIFEST_LOCK, RecordFolder
from edge_slr.record.prompters import WINDOW_TITLE, LinePrompter
from edge_slr.record.session import Status

pytestmark = pytest.mark.usefixtures("no_thread_leaks")

FPS = 20.0
FRAMES = 160
SCREENSHOT = Path(__file__).resolve().parents[1] / "docs" / "record_window.png"


def _indexed_frame(i: int) -> np.ndarray:
    """BGR frame whose white bar sits at x = 2 i + 8: the index survives mp4v compression exactly."""
    img = np.full((48, 336, 3), 60, np.uint8)
    img[:, 2 * i + 8:2 * i + 12] = 250
    return img


def _indices(path: Path) -> tuple[list[int], float]:
    """The source frame index of every frame of a recorded clip, and the clip's fps."""
    capture = cv2.VideoCapture(str(path))
    fps = capture.get(cv2.CAP_PROP_FPS)
    found = []
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        column = bgr.mean(axis=(0, 2))
        found.append(int(np.argmax(np.convolve(column, np.ones(4), "valid")) - 8) // 2)
    capture.release()
    return found, fps


@pytest.fixture(scope="module")
def indexed_video(tmp_path_factory) -> Path:
    return write_frames_video(tmp_path_factory.mktemp("src") / "indexed.mp4",
                              [_indexed_frame(i) for i in range(FRAMES)], FPS)


class Recorded(LinePrompter):
    """The headless prompter, also keeping the statuses it showed; ``stop_when`` sets a stop or returns False."""

    def __init__(self, stop: threading.Event | None = None, stop_when=None, quit_when=None):
        self.lines: list[str] = []
        super().__init__(self)
        self.statuses: list[Status] = []
        self._stop, self._stop_when, self._quit_when = stop, stop_when, quit_when

    def write(self, text: str) -> None:  # the prompter's output stream
        self.lines.extend(line for line in text.splitlines() if line)

    def flush(self) -> None:
        pass

    def show(self, rgb: np.ndarray, status: Status) -> bool:
        self.statuses.append(status)
        super().show(rgb, status)
        if self._stop_when and self._stop_when(status):
            self._stop.set()
        return not (self._quit_when and self._quit_when(status))


def _manifest(folder: Path) -> list[dict[str, str]]:
    with (folder / "manifest.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def _hidden(folder: Path) -> list[Path]:
    return [p for p in folder.rglob(".*") if p.name != MANIFEST_LOCK]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_video_file_clips_are_exact_runs_of_source_frames_in_the_class_folder_layout(indexed_video, tmp_path):
    out = tmp_path / "ds"
    prompter = Recorded()
    config = RecordConfig(out=out, signs=("a", "b"), clips=2, signer="alice", source=str(indexed_video), seconds=1.0,
                          countdown=0.5, every_frame=True)
    result = record(config, prompter)
    assert result.stopped is None and len(result.saved) == result.planned == 4
    rows = _manifest(out)
    assert [(r["path"], r["label"], r["signer"]) for r in rows] == [
        ("a/alice_1.mp4", "a", "alice"), ("b/alice_1.mp4", "b", "alice"),
        ("a/alice_2.mp4", "a", "alice"), ("b/alice_2.mp4", "b", "alice")]  # rounds over the signs
    # 0.5 s countdown = 10 frames, then 1.0 s = 20 frames; the frame that ends a clip starts the next countdown.
    for i, row in enumerate(rows):
        indices, fps = _indices(out / row["path"])
        start = (i + 1) * 10 + i * 20
        assert indices == list(range(start, start + 20)), row
        assert fps == pytest.approx(FPS)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == [
        MANIFEST_LOCK, "a", "a/alice_1.mp4", "a/alice_2.mp4", "b", "b/alice_1.mp4", "b/alice_2.mp4", "manifest.csv"]
    assert prompter.lines[:4] == ["record: clip 1/4: sign 'a' (1/2) in 1", "record: clip 1/4: sign 'a' (1/2) REC 1 s",
                                  "record: saved a/alice_1.mp4 (20 frames, 1.00 s)",
                                  "record: clip 2/4: sign 'b' (1/2) in 1"]


def test_countdown_steps_are_whole_seconds_and_progress_reaches_the_end(indexed_video, tmp_path):
    prompter = Recorded()
    config = RecordConfig(out=tmp_path / "ds", signs=("x",), clips=1, signer="s1", source=str(indexed_video),
                          seconds=1.0, countdown=3.0, every_frame=True)
    record(config, prompter)
    steps = [s.countdown for s in prompter.statuses if s.phase == "countdown"]
    assert steps == [3] * 20 + [2] * 20 + [1] * 20  # 60 frames at 20 fps, one line per step
    assert prompter.lines == [f"record: clip 1/1: sign 'x' (1/1) {step}" for step in ("in 3", "in 2", "in 1", "REC 1 s")
                              ] + ["record: saved x/s1_1.mp4 (20 frames, 1.00 s)"]
    progress = [s.progress for s in prompter.statuses if s.phase == "recording"]
    assert progress[0] == 0 and progress[-1] == pytest.approx(19 / 20) and progress == sorted(progress)


def test_appending_keeps_old_clips_and_rows_and_continues_the_numbering(tmp_path):
    out = tmp_path / "ds"

    def run(signer: str, clips: int, signs=("hello", "thanks")) -> None:
        record(RecordConfig(out=out, signs=signs, clips=clips, signer=signer, source="synth:1", seconds=0.4,
                            countdown=0.2, every_frame=True), Recorded())

    run("alice", 2)
    before = {p: _digest(p) for p in out.rglob("*.mp4")}
    first_rows = _manifest(out)
    run("bob", 1)
    run("alice", 1, signs=("thanks", "yes"))
    rows = _manifest(out)
    assert rows[:4] == first_rows
    assert [r["path"] for r in rows[4:]] == ["hello/bob_1.mp4", "thanks/bob_1.mp4", "thanks/alice_3.mp4",
                                             "yes/alice_1.mp4"]
    assert {p: _digest(p) for p in before} == before, "earlier clips are never rewritten"
    on_disk = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.mp4"))
    assert on_disk == sorted(r["path"] for r in rows) and len(on_disk) == 8
    assert {r["signer"] for r in rows} == {"alice", "bob"}


def test_a_clip_file_that_appeared_meanwhile_is_never_overwritten(tmp_path):
    """Another session (same signer name) wrote alice_2 without a manifest row yet: the next number is taken."""
    out = tmp_path / "ds"
    (out / "a").mkdir(parents=True)
    (out / "manifest.csv").write_text("path,label,signer,split\na/alice_1.mp4,a,alice,train\n")
    (out / "a" / "alice_1.mp4").write_bytes(b"old clip 1")
    (out / "a" / "alice_2.mp4").write_bytes(b"another session's clip")
    record(RecordConfig(out=out, signs=("a",), clips=1, signer="alice", source="synth", seconds=0.4, countdown=0,
                        every_frame=True), Recorded())
    assert (out / "a" / "alice_2.mp4").read_bytes() == b"another session's clip"
    rows = _manifest(out)
    assert rows == [{"path": "a/alice_1.mp4", "label": "a", "signer": "alice", "split": "train"},
                    {"path": "a/alice_3.mp4", "label": "a", "signer": "alice", "split": ""}]  # columns kept


def test_publishing_never_replaces_a_clip_another_session_wrote_after_the_number_was_chosen(tmp_path):
    class Racing(RecordFolder):
        def next_number(self, sign: str) -> int:
            number = super().next_number(sign)
            (self.root / sign / f"{self.signer}_{number}.mp4").write_bytes(b"the other session's clip")
            return number

    folder = Racing(tmp_path / "ds", "alice")
    tmp = folder.clip_folder("a") / ".take.mp4"
    tmp.write_bytes(b"our clip")
    assert folder.publish(tmp, "a") == folder.root / "a" / "alice_2.mp4"
    assert (folder.root / "a" / "alice_1.mp4").read_bytes() == b"the other session's clip"
    assert (folder.root / "a" / "alice_2.mp4").read_bytes() == b"our clip" and not tmp.exists()


def test_sessions_take_turns_on_the_manifest_and_a_stuck_one_gets_a_clear_line(tmp_path, monkeypatch):
    """Two sessions finishing a clip at once: the second waits for the first's rewrite and keeps its row."""
    from filelock import FileLock

    from edge_slr.record import dataset

    folder = RecordFolder(tmp_path / "ds", "alice")
    clip = folder.clip_folder("a") / "alice_1.mp4"
    clip.write_bytes(b"clip")
    other = FileLock(folder.root / MANIFEST_LOCK)  # another session, mid-rewrite
    added = threading.Event()
    with other:
        worker = threading.Thread(target=lambda: (folder.add_row(clip, "a"), added.set()))
        worker.start()
        assert not added.wait(0.5), "add_row wrote the manifest while another session held it"
        (folder.root / "manifest.csv").write_text("path,label,signer\nb/bob_1.mp4,b,bob\n")
    worker.join(timeout=10)
    assert added.is_set() and [r["path"] for r in _manifest(folder.root)] == ["b/bob_1.mp4", "a/alice_1.mp4"]

    monkeypatch.setattr(dataset, "LOCK_SECONDS", 0.2)
    with other, pytest.raises(UserError, match="add the line 'a/alice_1.mp4,a,alice'"):
        folder.add_row(clip, "a")


@pytest.mark.parametrize("how", ["stop", "quit"])
def test_stopping_mid_clip_keeps_finished_clips_and_leaves_no_half_file(indexed_video, tmp_path, how):
    out = tmp_path / "ds"
    stop = threading.Event()

    def third_clip_half_done(s: Status) -> bool:
        return s.prompt.number == 3 and s.phase == "recording" and s.progress >= 0.5

    prompter = Recorded(stop, stop_when=third_clip_half_done if how == "stop" else None,
                        quit_when=third_clip_half_done if how == "quit" else None)
    config = RecordConfig(out=out, signs=("a", "b", "c"), clips=2, signer="al", source=str(indexed_video),
                          seconds=1.0, countdown=0.25, every_frame=True)
    result = record(config, prompter, stop=stop)
    assert result.stopped == ("interrupt" if how == "stop" else "quit")
    assert [c.row.path for c in result.saved] == ["a/al_1.mp4", "b/al_1.mp4"]
    assert [r["path"] for r in _manifest(out)] == ["a/al_1.mp4", "b/al_1.mp4"]
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.mp4")) == ["a/al_1.mp4", "b/al_1.mp4"]
    assert _hidden(out) == [], "the half-recorded clip of sign c was removed"
    assert all(len(_indices(out / c.row.path)[0]) == 20 for c in result.saved)


class _PacedCapture:
    """A real ``cv2.VideoCapture`` of a file read at ``fps``, like a camera delivering frames in real time."""

    def __init__(self, path: str, fps: float):
        self._capture, self._interval, self._next = cv2.VideoCapture(path), 1.0 / fps, time.monotonic()

    def read(self):
        self._next += self._interval
        time.sleep(max(0.0, self._next - time.monotonic()))
        return self._capture.read()

    def __getattr__(self, name):
        return getattr(self._capture, name)


def test_a_camera_that_disappears_mid_clip_ends_with_one_line_and_keeps_finished_clips(indexed_video, tmp_path):
    out = tmp_path / "ds"
    opened = []

    def opener():  # the first open is the camera; reopening finds nothing
        opened.append(1)
        return _PacedCapture(str(indexed_video) if len(opened) == 1 else str(tmp_path / "gone.mp4"), 2 * FPS)

    source = CaptureSource(0, "camera 0", live=True, opener=opener, retries=2, retry_delay=0.05)
    assert source.fps == FPS  # what the file reports; the "camera" delivers twice as fast
    config = RecordConfig(out=out, signs=("a", "b"), clips=20, signer="cam", seconds=0.5, countdown=0.25)
    start = time.monotonic()
    with pytest.raises(UserError, match=r"camera 0 stopped delivering frames .*; the (\d+) finished clip\(s\) of "
                                        r"this session are kept in") as caught:
        record(config, Recorded(), source=source)
    assert time.monotonic() - start < 30
    assert "\n" not in str(caught.value)
    kept = int(str(caught.value).split("the ")[-1].split(" finished")[0])
    rows = _manifest(out)
    assert kept == len(rows) >= 3  # 4 s of camera, 0.75 s per clip
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.mp4")) == sorted(r["path"] for r in rows)
    assert _hidden(out) == []
    for row in rows:  # 10 slots of 1/20 s, each the newest of the camera's 1/40-s frames: every other one
        indices = _indices(out / row["path"])[0]
        steps = np.diff(indices)
        assert len(indices) == 10 and steps.min() >= 1 and abs(np.mean(steps) - 2) < 0.5, indices


@pytest.mark.parametrize(("argv", "message"), [
    (["--signs", ""], "--signs is empty"),
    (["--signs", "a,,b"], "has an empty name"),
    (["--signs", "a,b,a"], "names a more than once"),
    (["--signs", "../x"], "cannot be a folder name"),
    (["--signer", "a b"], "signer name 'a b' must be"),
    (["--source", "missing.mp4"], "neither a camera index, a URL, a folder nor an existing file"),
    (["--seconds", "0.2"], "gives 5 frames at 25 fps"),
    (["--countdown", "-1"], "--countdown -1 is negative"),
])
def test_bad_arguments_give_one_line_and_exit_2(tmp_path, capsys, argv, message):
    base = {"--signs": "a,b", "--clips": "1", "--signer": "me", "--source": "synth", "--countdown": "0"}
    base.update(dict(zip(argv[::2], argv[1::2], strict=True)))
    args = ["record", str(tmp_path / "ds"), "--headless", "--every-frame"] + [x for kv in base.items() for x in kv]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("edge-slr record: error: ") and message in err[0], err
    assert not list((tmp_path).rglob("*.mp4")) and not (tmp_path / "ds" / "manifest.csv").exists()


def test_a_folder_of_unlisted_videos_or_a_foreign_csv_is_refused(tmp_path, indexed_video, capsys):
    videos = tmp_path / "videos"
    (videos / "hello").mkdir(parents=True)
    (videos / "hello" / "take1.mp4").write_bytes(indexed_video.read_bytes())
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "manifest.csv").write_text("file,class\nx.mp4,a\n")
    for folder, message in ((videos, "holds videos (hello/take1.mp4, ...) but no manifest.csv"),
                            (foreign, "missing column(s) path, label; it is not an edge-slr manifest")):
        assert main(["record", str(folder), "--signs", "a", "--clips", "1", "--signer", "me", "--source", "synth",
                     "--headless"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
    assert sorted(p.name for p in videos.rglob("*")) == ["hello", "take1.mp4"]


def test_ctrl_c_in_the_cli_keeps_the_finished_clip_and_removes_the_half_one(tmp_path):
    """The real thing: `edge-slr record` headless on a real-time synth stream, SIGINT while clip 2 records."""
    out = tmp_path / "ds"
    proc = subprocess.Popen([sys.executable, "-m", "edge_slr.cli", "record", str(out), "--signs", "a,b,c",
                             "--clips", "2", "--signer", "eve", "--source", "synth:2", "--seconds", "1.0",
                             "--countdown", "0.4", "--headless"], stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "DISPLAY": ""})
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line.rstrip("\n")) for line in proc.stderr], daemon=True)
    reader.start()
    seen = []
    try:
        deadline = time.monotonic() + 60
        while not any(line.startswith("record: clip 2/6: sign 'b' (1/2) REC") for line in seen):
            seen.append(lines.get(timeout=max(0.1, deadline - time.monotonic())))
        time.sleep(0.4)  # well inside the 1-s clip
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        reader.join(timeout=10)
    while not lines.empty():
        seen.append(lines.get_nowait())
    assert proc.returncode == 130, seen
    assert "record: saved a/eve_1.mp4 (25 frames, 1.00 s)" in seen
    assert seen[-1].startswith("record: interrupted: 1 of 6 clips saved for signer eve"), seen
    assert [r["path"] for r in _manifest(out)] == ["a/eve_1.mp4"]
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == [MANIFEST_LOCK, "a", "a/eve_1.mp4", "b",
                                                                        "manifest.csv"]


def test_record_runs_without_tensorflow(tmp_path):
    code = ("import sys\n"
            "from edge_slr.cli import main\n"
            f"rc = main(['record', {str(tmp_path / 'ds')!r}, '--signs', 'a', '--clips', '1', '--signer', 'me', "
            "'--source', 'synth', '--seconds', '0.4', '--countdown', '0', '--every-frame', '--headless'])\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'tensorflow', 'tf_keras', 'keras'})\n"
            "assert rc == 0 and not bad, (rc, bad[:5])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert (tmp_path / "ds" / "a" / "me_1.mp4").is_file()


@pytest.mark.skipif(not (shutil.which("Xvfb") and shutil.which("xdotool")),
                    reason="needs Xvfb and xdotool (.ci/run installs them)")
def test_the_record_window_shows_prompt_countdown_and_rec_and_q_stops(display, tmp_path):  # noqa: F811
    """A real OpenCV window on a virtual X screen: screenshots of the countdown and of REC, then `q`."""
    from PIL import ImageGrab

    def grab() -> np.ndarray:
        screen = np.asarray(ImageGrab.grab(xdisplay=display))
        rows, cols = np.nonzero(screen.max(axis=2) > 0)  # the window on the black root window
        return screen[rows.min():rows.max() + 1, cols.min():cols.max() + 1] if len(rows) else screen

    def near(image: np.ndarray, rgb: tuple[int, int, int]) -> np.ndarray:
        return np.abs(image.astype(int) - rgb).sum(-1) < 60

    def wait_for(condition, what: str) -> np.ndarray:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            shot = grab()
            if shot.shape[0] >= 480 and condition(shot):
                return shot
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(0.1)
        raise AssertionError(f"the window never showed {what}")

    env = {**os.environ, "DISPLAY": display}
    out = tmp_path / "ds"
    proc = subprocess.Popen([sys.executable, "-m", "edge_slr.cli", "record", str(out), "--signs", "hello,thanks",
                             "--clips", "1", "--signer", "me", "--source", "synth:5", "--seconds", "2",
                             "--countdown", "3"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (found := subprocess.run(["xdotool", "search", "--name", WINDOW_TITLE], env=env,
                                           capture_output=True, text=True).stdout.split()):
            assert time.monotonic() < deadline and proc.poll() is None, "the record window never appeared"
            time.sleep(0.2)
        # The countdown digit (yellow) in the middle of the picture; REC (red) top right with a red frame.
        countdown = wait_for(lambda s: near(s[100:-20, s.shape[1] // 4:-s.shape[1] // 4], (255, 210, 0)).sum() > 500,
                             "a countdown")
        recording = wait_for(lambda s: near(s[:84, -120:], (230, 40, 40)).sum() > 100 and
                             near(s[-6:, s.shape[1] // 4:s.shape[1] // 3], (230, 40, 40)).all(), "REC, a third done")
        wait_for(lambda s: not near(s[:84, -120:], (230, 40, 40)).any(), "the second prompt's countdown")
        subprocess.run(["xdotool", "windowactivate", "--sync", found[0]], env=env, capture_output=True, timeout=10)
        subprocess.run(["xdotool", "key", "--window", found[0], "q"], env=env, check=True, timeout=10)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    err = proc.stderr.read()
    assert proc.returncode == 0, err
    assert "record: saved hello/me_1.mp4 (50 frames, 2.00 s)" in err and "stopped: 1 of 2 clips" in err, err
    assert [r["path"] for r in _manifest(out)] == ["hello/me_1.mp4"] and _hidden(out) == []
    for shot in (countdown, recording):
        assert shot.shape[0] >= 480 and shot[:84].std() > 10 and shot[100:].std() > 10, "prompt panel over the scene"
    if os.environ.get("EDGE_SLR_UPDATE_SCREENSHOT"):  # refresh the README's screenshot
        from PIL import Image

        gap = np.full((countdown.shape[0], 12, 3), 255, np.uint8)
        Image.fromarray(np.hstack([countdown, gap, recording])).save(SCREENSHOT)
