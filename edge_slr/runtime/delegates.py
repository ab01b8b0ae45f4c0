"""External TFLite delegates (e.g. a GPU delegate library) for the one runner, with one-line failures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge_slr.errors import UserError


def load_external_delegate(path: str) -> Any:
    """``load_delegate(path)`` with a one-line reason when the library cannot be loaded.

    The library is opened with ctypes first: ai-edge-litert's ``Delegate`` raises a second error from
    its ``__del__`` when the library itself cannot be opened, and its message does not say why.
    """
    import ctypes

    from ai_edge_litert.interpreter import load_delegate

    if not Path(path).exists():
        raise UserError(f"delegate library {path} not found")
    try:
        library = ctypes.CDLL(str(Path(path).resolve()))
    except OSError as exc:
        raise UserError(f"cannot load delegate {path}: {str(exc).strip().splitlines()[0]}") from None
    if not hasattr(library, "tflite_plugin_create_delegate"):
        raise UserError(f"cannot load delegate {path}: it is not a TFLite external delegate "
                        "(no tflite_plugin_create_delegate symbol)")
    try:
        return load_delegate(path)
    except (ValueError, OSError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"cannot load delegate {path}: {first}") from None
