"""Silence the start-up chatter that LiteRT and MediaPipe's C++ code writes straight to file descriptor 2.

Loading a .tflite prints "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." among a command's own
messages; Python's ``sys.stderr`` cannot catch it, so fd 2 is pointed at a temporary file for the call
and every line that is not known noise is printed again afterwards (real errors are never lost).
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")
NOISE = re.compile(
    r"^INFO: |Created TensorFlow Lite XNNPACK delegate|environment\.cc|accelerator_registry|cpu_registry|"
    r"compiled_model\.cc|Logging before InitGoogle|All log messages before absl::InitializeLog|"
    r"inference_feedback_manager|landmark_projection_calculator|gl_context|inference_runner_litert"
)
_LOCK = threading.RLock()  # fd 2 is process-wide: one redirection at a time


@contextmanager
def quiet_native_stderr(noise: re.Pattern[str] = NOISE) -> Iterator[None]:
    """Drop the lines matching ``noise`` written to fd 2 inside the block; keep (re-print) everything else."""
    with _LOCK:
        sys.stderr.flush()
        saved = os.dup(2)
        with tempfile.TemporaryFile(mode="w+b") as captured:
            os.dup2(captured.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
                os.close(saved)
                captured.seek(0)
                kept = [line for line in captured.read().decode(errors="replace").splitlines()
                        if line.strip() and not noise.search(line)]
                if kept:
                    print("\n".join(kept), file=sys.stderr)


def quietly(fn: Callable[[], T], noise: re.Pattern[str] = NOISE) -> T:
    """``fn()`` with :func:`quiet_native_stderr` around it."""
    with quiet_native_stderr(noise):
        return fn()
