"""Load saved zoo models: the custom layers must be registered with Keras before deserializing."""

from __future__ import annotations

from pathlib import Path

from edge_slr.errors import UserError


def load_keras_model(path: str | Path):
    """Load a ``.keras`` file written by ``edge-slr train`` (uncompiled, for inference or export)."""
    from edge_slr.models import blocks, layers, lstm  # noqa: F401  (registers the custom layers)
    from edge_slr.utils.tf_env import import_tf

    _, keras = import_tf()
    try:
        return keras.models.load_model(path, compile=False)
    except (OSError, ValueError, TypeError) as exc:
        raise UserError(f"cannot load {path} as an edge-slr Keras model: {str(exc).splitlines()[0]}") from None
