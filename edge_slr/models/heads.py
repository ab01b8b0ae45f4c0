"""The classification head shared by the 3-D family."""

from __future__ import annotations

from edge_slr.models.blocks import CausalClipPool, Clip, ClipGlobalAvgPool
from edge_slr.models.registry import LOGITS_LAYER
from edge_slr.utils.tf_env import import_tf

tf, keras = import_tf()


def pooled_logits(clip: Clip, num_classes: int, dropout: float, pool_window: int | None = None):
    """Global average pool over time and space, dropout, then a float32 logits layer.

    Logits stay float32 under mixed precision so the softmax/loss is computed in full precision.
    """
    if clip.causal:  # the last positions of a clip-sized window, so a stream predicts over the same span
        x = CausalClipPool(clip.form, clip.frames, pool_window or clip.frames, name="pool")(clip.x)
    else:
        x = ClipGlobalAvgPool(clip.form, clip.frames, name="pool")(clip.x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    return keras.layers.Dense(num_classes, dtype="float32", name=LOGITS_LAYER)(x)
