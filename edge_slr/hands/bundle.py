"""Find and verify the MediaPipe hand landmarker bundle (``hand_landmarker.task``) before anything loads it.

MediaPipe >= 0.10.30 ships no models, so the user downloads the bundle and tells us where it is:
``--hands-model PATH``, else the environment variable :data:`HANDS_MODEL_ENV`. A failed download is
often a tiny HTML/XML error page saved under the right name; MediaPipe would then fail deep inside its
C++ graph with a message that names neither the file nor the cure. So the file is checked here first
(exists, plausible size, a zip holding the two hand models, MediaPipe's published sha256 when the name
says it is that file) and every problem becomes one :class:`~edge_slr.errors.UserError` line.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path

from edge_slr.errors import UserError

HANDS_MODEL_ENV = "EDGE_SLR_HANDS_MODEL"
# Where users get it (MediaPipe's model page); printed in error messages, no download happens here.
HANDS_MODEL_PAGE = "https://ai.google.dev/edge/mediapipe/solutions/vision/hand_landmarker#models"
# MediaPipe's published hand_landmarker.task (float16/1, 7,819,105 bytes). A file with that name and
# another digest is a damaged or different download; bundles under other names are checked structurally only.
KNOWN_SHA256 = {"hand_landmarker.task": "fbc2a30080c3c557093b5ddfc334698132eb341044ccee322ccf8bcf3607cde1"}
# The two TFLite models a hand landmarker bundle holds (palm detector + landmark model).
REQUIRED_MEMBERS = ("hand_detector.tflite", "hand_landmarks_detector.tflite")
# The published bundle is 7.8 MB; anything under 1 MB cannot hold the two models, anything over 200 MB is not one.
MIN_BYTES, MAX_BYTES = 1_000_000, 200_000_000


def resolve_hands_model(path: str | os.PathLike[str] | None) -> Path | None:
    """The hand landmarker bundle to use: ``path`` (``--hands-model``), else ``$EDGE_SLR_HANDS_MODEL``, else None.

    The chosen file is verified with :func:`verify_hands_model`; a broken one raises a one-line UserError
    that says where the path came from, so a stale environment variable is easy to spot.
    """
    origin = "--hands-model"
    if path is None or str(path) == "":
        env = os.environ.get(HANDS_MODEL_ENV, "").strip()
        if not env:
            return None
        path, origin = env, f"${HANDS_MODEL_ENV}"
    return verify_hands_model(Path(path).expanduser(), origin)


def verify_hands_model(path: Path, origin: str = "--hands-model") -> Path:
    """Check that ``path`` is a usable MediaPipe hand landmarker bundle; return it resolved."""
    cure = f"download hand_landmarker.task from {HANDS_MODEL_PAGE} and pass its path"
    if not path.exists():
        raise UserError(f"{origin}: hand landmarker bundle {path} does not exist; {cure}")
    if path.is_dir():
        raise UserError(f"{origin}: {path} is a folder, not a hand_landmarker.task file")
    size = path.stat().st_size
    if size < MIN_BYTES or size > MAX_BYTES:
        head = path.read_bytes()[:60] if size < MIN_BYTES else b""
        what = f" (starts with {_printable(head)!r}: an error page saved instead of the model?)" if head else ""
        raise UserError(f"{origin}: {path} is {size:,} bytes, not a hand landmarker bundle (~7.8 MB){what}; "
                        f"{cure}")
    with path.open("rb") as f:
        head = f.read(64)
    # MediaPipe's bundles are zips with a short prefix (the published one starts with two zero bytes).
    if b"PK\x03\x04" not in head:
        raise UserError(f"{origin}: {path} is not a MediaPipe .task bundle (no zip signature, starts with "
                        f"{_printable(head[:16])!r}); {cure}")
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
    except zipfile.BadZipFile as exc:
        raise UserError(f"{origin}: {path} is a damaged .task bundle ({exc}: an interrupted download?); "
                        f"{cure}") from None
    missing = [m for m in REQUIRED_MEMBERS if m not in names]
    if missing:
        raise UserError(f"{origin}: {path} is a MediaPipe bundle but not a hand landmarker (it lacks "
                        f"{', '.join(missing)}; has {', '.join(sorted(names)) or 'nothing'})")
    expected = KNOWN_SHA256.get(path.name)
    if expected is not None:
        digest = sha256_file(path)
        if digest != expected:
            raise UserError(f"{origin}: {path} has sha256 {digest[:16]}..., not MediaPipe's published "
                            f"{path.name} ({expected[:16]}...): a damaged download; {cure}")
    return path.resolve()


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MB blocks."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _printable(data: bytes) -> str:
    """The first bytes of a file as short readable text for an error message."""
    return data.decode("latin-1").replace("\n", " ").replace("\r", " ")[:40]
