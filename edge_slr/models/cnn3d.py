"""``cnn3d``: the plain three-layer Conv3D network (VALID padding, stride 2 in time and space)."""

from __future__ import annotations

from edge_slr.models.registry import LOGITS_LAYER, register_model


@register_model("cnn3d", "3d", "3 Conv3D layers (32/48/48, 3x7x7/3x7x7/3x5x5, stride 2) + FC 512 -> 256",
                min_frames=15, min_size=35, min_frames_reason="three unpadded stride-2 temporal convs of size 3")
def cnn3d(num_classes: int, frames: int, size: int, width: float, form: str, dropout: float = 0.3):
    from edge_slr.models.blocks import ClipFlatten, clip_input, conv_bn_relu, keras, width_of
    from edge_slr.models.layers import Normalize

    inputs, clip = clip_input(frames, size, form)
    clip = clip.with_x(Normalize(name="normalize")(clip.x))
    for i, (filters, kernel) in enumerate([(32, (3, 7, 7)), (48, (3, 7, 7)), (48, (3, 5, 5))], start=1):
        clip = conv_bn_relu(clip, width_of(filters, width), kernel, 2, "valid", name=f"conv{i}")
    x = ClipFlatten(clip.form, clip.frames, name="flatten")(clip.x)
    x = keras.layers.Dense(width_of(512, width), activation="relu", name="fc1")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    x = keras.layers.Dense(width_of(256, width), activation="relu", name="fc2")(x)
    outputs = keras.layers.Dense(num_classes, dtype="float32", name=LOGITS_LAYER)(x)
    return keras.Model(inputs, outputs, name="cnn3d")
