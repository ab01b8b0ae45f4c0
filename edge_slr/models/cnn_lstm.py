"""The CNN+LSTM family: a 2-D CNN encodes every frame, an LSTM reads the sequence of features.

Frames are folded into the batch (``(B*T, H, W, 3)``) for the encoder instead of wrapping it in
``TimeDistributed``: tfmot rejects TimeDistributed, and the folded form is exactly what the 4-D
edge graph and the streaming ``encode_frame`` signature run. In the 5d form the model takes
``(B, T, H, W, 3)`` and folds internally; in the 4d form it takes ``(B*T, H, W, 3)`` directly and
its LSTMs are :class:`~edge_slr.models.lstm.ExplicitLSTM` (no fused LSTM op).
"""

from __future__ import annotations

from edge_slr.models.registry import LOGITS_LAYER, register_model

LSTM_MIN_FRAMES = 2
LSTM_REASON = "a sequence model needs at least 2 frames"


def _conv_bn_relu(x, filters: int, kernel: int, stride: int, name: str, padding: str = "same", conv_cls=None):
    from edge_slr.models.blocks import BN_EPSILON, BN_MOMENTUM, keras

    conv_cls = conv_cls or keras.layers.Conv2D
    x = conv_cls(filters, kernel, stride, padding=padding, use_bias=False, name=name)(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def _frames_input(frames: int, size: int, form: str):
    """Model input and the folded, normalized per-frame tensor ``(B*T, H, W, 3)``."""
    from edge_slr.models.blocks import keras
    from edge_slr.models.layers import FoldFrames, Normalize

    if form == "5d":
        inputs = keras.Input(shape=(frames, size, size, 3), name="frames")
        x = FoldFrames(name="fold_frames")(inputs)
    else:
        inputs = keras.Input(shape=(size, size, 3), name="frames")
        x = inputs
    return inputs, Normalize(name="normalize")(x)


def _classifier(x, num_classes: int, dropout: float):
    from edge_slr.models.blocks import keras

    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    return keras.layers.Dense(num_classes, dtype="float32", name=LOGITS_LAYER)(x)


@register_model("cnn_lstm", "lstm", "4 Conv2D layers per frame -> LSTM -> residual block -> LSTM",
                min_frames=LSTM_MIN_FRAMES, min_size=32, min_frames_reason=LSTM_REASON)
def cnn_lstm(num_classes: int, frames: int, size: int, width: float, form: str, dropout: float = 0.2):
    """The first network: the feature keeps the spatial layout (flatten, not global pool), so where the hands
    are relative to the body reaches the LSTM."""
    from edge_slr.models.blocks import keras, width_of
    from edge_slr.models.layers import UnfoldFrames
    from edge_slr.models.lstm import lstm_layer

    inputs, x = _frames_input(frames, size, form)
    for i, filters in enumerate([32, 64, 128, 128], start=1):
        x = _conv_bn_relu(x, width_of(filters, width), 3, 2, name=f"enc_conv{i}")
    x = keras.layers.Conv2D(width_of(32, width), 1, name="enc_squeeze")(x)
    x = keras.layers.Flatten(name="enc_flatten")(x)
    units = width_of(256, width)
    x = keras.layers.Dense(units, activation="relu", name="enc_fc")(x)
    x = UnfoldFrames(frames, name="unfold_frames")(x)
    x = lstm_layer(units, form, return_sequences=True, name="lstm1")(x)
    y = keras.layers.Dense(units, activation="relu", name="res_fc1")(x)
    y = keras.layers.Dense(units, name="res_fc2")(y)
    x = keras.layers.ReLU(name="res_relu")(keras.layers.Add(name="res_add")([x, y]))
    x = lstm_layer(units, form, return_sequences=False, name="lstm2")(x)
    return keras.Model(inputs, _classifier(x, num_classes, dropout), name="cnn_lstm")


@register_model("cnn_lstm_basic", "lstm", "4 Conv2D blocks (64/128/256/512, k 7/3/3/3, 1x1 conv, max-pool) + LSTM 512",
                min_frames=LSTM_MIN_FRAMES, min_size=93, min_frames_reason=LSTM_REASON)
def cnn_lstm_basic(num_classes: int, frames: int, size: int, width: float, form: str, dropout: float = 0.2):
    """Unpadded convs (0.39 GFLOPs per 128x128 frame, as in the peer benchmarks of GUIDE.md)."""
    from edge_slr.models.blocks import keras, width_of
    from edge_slr.models.layers import StemConv2D, UnfoldFrames
    from edge_slr.models.lstm import lstm_layer

    inputs, x = _frames_input(frames, size, form)
    for i, (filters, kernel) in enumerate([(64, 7), (128, 3), (256, 3), (512, 3)], start=1):
        filters = width_of(filters, width)
        stem = StemConv2D if i == 1 and form == "4d" else None  # the edge form's stem may run as space-to-depth
        x = _conv_bn_relu(x, filters, kernel, 2 if i == 1 else 1, name=f"block{i}_conv", padding="valid",
                          conv_cls=stem)
        x = _conv_bn_relu(x, filters, 1, 1, name=f"block{i}_pointwise")
        x = keras.layers.MaxPooling2D(2, name=f"block{i}_pool")(x)
    x = keras.layers.GlobalAveragePooling2D(name="enc_pool")(x)
    x = UnfoldFrames(frames, name="unfold_frames")(x)
    x = lstm_layer(width_of(512, width), form, return_sequences=False, name="lstm")(x)
    return keras.Model(inputs, _classifier(x, num_classes, dropout), name="cnn_lstm_basic")


def _basic_block_2d(x, in_planes: int, planes: int, stride: int, name: str):
    from edge_slr.models.blocks import BN_EPSILON, BN_MOMENTUM, keras

    y = _conv_bn_relu(x, planes, 3, stride, name=f"{name}_conv1")
    y = keras.layers.Conv2D(planes, 3, padding="same", use_bias=False, name=f"{name}_conv2")(y)
    y = keras.layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=f"{name}_conv2_bn")(y)
    if stride != 1 or in_planes != planes:
        x = keras.layers.Conv2D(planes, 1, stride, use_bias=False, name=f"{name}_down")(x)
        x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=f"{name}_down_bn")(x)
    return keras.layers.ReLU(name=f"{name}_out")(keras.layers.Add(name=f"{name}_add")([x, y]))


@register_model("resnet18_lstm", "lstm", "2D ResNet-18 per frame + LSTM 512",
                min_frames=LSTM_MIN_FRAMES, min_size=32, min_frames_reason=LSTM_REASON)
def resnet18_lstm(num_classes: int, frames: int, size: int, width: float, form: str, dropout: float = 0.2):
    from edge_slr.models.blocks import keras, width_of
    from edge_slr.models.layers import UnfoldFrames
    from edge_slr.models.lstm import lstm_layer

    inputs, x = _frames_input(frames, size, form)
    x = _conv_bn_relu(x, width_of(64, width), 7, 2, name="stem")
    x = keras.layers.MaxPooling2D(3, 2, padding="same", name="stem_pool")(x)
    in_planes = width_of(64, width)
    for s, (planes, stride) in enumerate([(64, 1), (128, 2), (256, 2), (512, 2)], start=1):
        planes = width_of(planes, width)
        for b in range(2):
            x = _basic_block_2d(x, in_planes, planes, stride if b == 0 else 1, name=f"layer{s}_{b}")
            in_planes = planes
    x = keras.layers.GlobalAveragePooling2D(name="enc_pool")(x)
    x = UnfoldFrames(frames, name="unfold_frames")(x)
    x = lstm_layer(width_of(512, width), form, return_sequences=False, name="lstm")(x)
    return keras.Model(inputs, _classifier(x, num_classes, dropout), name="resnet18_lstm")
