"""User-facing errors.

Anything the user can fix (a missing file, an unknown name, an impossible size) is raised as
:class:`UserError`; the CLI prints its message on one line and exits with status 2, without a
traceback. Everything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UserError(Exception):
    """An error caused by the user's input, reported as one line without a traceback."""


def unknown_choice(kind: str, value: str, allowed: Iterable[str]) -> UserError:
    """Build the error for an unknown name, with close-match suggestions and the allowed values."""
    allowed = sorted(allowed)
    close = difflib.get_close_matches(value, allowed, n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    return UserError(f"unknown {kind} '{value}'.{hint} Allowed: {', '.join(allowed)}")
