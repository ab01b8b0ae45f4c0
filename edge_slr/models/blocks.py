"""Building blocks for the 3-D family, written once for both forms.

A :class:`Clip` carries a Keras tensor together with its frame count and form. In the 4-D form
the tensor is ``(B*T, H, W, C)`` and the frame count lives only here, which is why the blocks
thread a ``Clip`` through instead of a bare tensor.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from edge_slr.models.layers import SpatioTemporalConv
from edge_slr.utils.tf_env import import_tf

tf, keras = import_tf()

BN_EPSILON = 1e-5  # PyTorch's default, so converted/compared weights behave the same
BN_MOMENTUM = 0.9  # PyTorch's momentum=0.1 in Keras terms


@dataclass(frozen=True)
class Clip:
    """A clip tensor plus the facts the 4-D form cannot keep in the tensor shape."""

    x: Any
    frames: int
    form: str
    causal: bool = False  # temporal convs see only current and past frames (streamable, see layers.py)

    def with_x(self, x: Any, frames: int | None = None) -> Clip:
        return replace(self, x=x, frames=self.frames if frames is None else frames)


def width_of(channels: int, width: float) -> int:
    """Scale a channel count by the width multiplier (at least 8 channels)."""
    return max(8, int(round(channels * width)))


def conv(clip: Clip, filters: int, kernel, strides=1, padding="same", name: str = "conv") -> Clip:
    layer = SpatioTemporalConv(filters, kernel, strides, padding, form=clip.form, frames=clip.frames,
                               causal=clip.causal, name=name)
    return clip.with_x(layer(clip.x), layer.out_frames(clip.frames))


def bn(clip: Clip, name: str) -> Clip:
    return clip.with_x(keras.layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=name)(clip.x))


def relu(clip: Clip, name: str) -> Clip:
    return clip.with_x(keras.layers.ReLU(name=name)(clip.x))


def conv_bn_relu(clip: Clip, filters: int, kernel, strides=1, padding="same", name: str = "conv",
                 activate: bool = True) -> Clip:
    clip = bn(conv(clip, filters, kernel, strides, padding, name=name), name=f"{name}_bn")
    return relu(clip, name=f"{name}_relu") if activate else clip


def conv2plus1d(clip: Clip, mid: int, filters: int, stride: int, name: str) -> Clip:
    """torchvision's Conv2Plus1D: 1x3x3 spatial conv -> BN -> ReLU -> 3x1x1 temporal conv."""
    clip = conv_bn_relu(clip, mid, (1, 3, 3), (1, stride, stride), (0, 1, 1), name=f"{name}_s")
    return conv(clip, filters, (3, 1, 1), (stride, 1, 1), (1, 0, 0), name=f"{name}_t")


def r2plus1d_midplanes(in_planes: int, planes: int) -> int:
    """Mid channels giving a (2+1)D block about the parameter count of the 3x3x3 conv it replaces."""
    return (in_planes * planes * 3 * 3 * 3) // (in_planes * 3 * 3 + 3 * planes)


def basic_block(clip: Clip, in_planes: int, planes: int, stride: int, kind: str, name: str) -> Clip:
    """ResNet BasicBlock with a 3x3x3 (``kind="3d"``) or (2+1)D (``kind="2plus1d"``) conv pair."""
    shortcut = clip
    if kind == "3d":
        y = conv_bn_relu(clip, planes, 3, stride, 1, name=f"{name}_conv1")
        y = conv_bn_relu(y, planes, 3, 1, 1, name=f"{name}_conv2", activate=False)
    elif kind == "2plus1d":
        mid = r2plus1d_midplanes(in_planes, planes)  # once per block, used by both convs (as torchvision)
        y = bn(conv2plus1d(clip, mid, planes, stride, name=f"{name}_conv1"), name=f"{name}_conv1_bn")
        y = relu(y, name=f"{name}_conv1_relu")
        y = bn(conv2plus1d(y, mid, planes, 1, name=f"{name}_conv2"), name=f"{name}_conv2_bn")
    else:
        raise ValueError(f"unknown block kind {kind!r}")
    if stride != 1 or in_planes != planes:
        shortcut = conv_bn_relu(clip, planes, 1, stride, 0, name=f"{name}_down", activate=False)
    out = keras.layers.Add(name=f"{name}_add")([y.x, shortcut.x])
    return relu(y.with_x(out), name=f"{name}_out")


@keras.saving.register_keras_serializable(package="edge_slr")
class ClipGlobalAvgPool(keras.layers.Layer):
    """Average over time and space: ``(B,T,H,W,C)`` or ``(B*T,H,W,C)`` -> ``(B, C)``, 4-D ops only in 4d form."""

    def __init__(self, form: str, frames: int, **kw: Any):
        super().__init__(**kw)
        self.form, self.frames = form, int(frames)

    def call(self, x):  # noqa: D102
        if self.form == "5d":
            return tf.reduce_mean(x, axis=(1, 2, 3))
        h, w, c = x.shape[1], x.shape[2], x.shape[3]
        return tf.reduce_mean(tf.reshape(x, (-1, self.frames, h * w, c)), axis=(1, 2))

    def get_config(self) -> dict[str, Any]:  # noqa: D102
        return {**super().get_config(), "form": self.form, "frames": self.frames}


@keras.saving.register_keras_serializable(package="edge_slr")
class CausalClipPool(keras.layers.Layer):
    """Causal models' pooling: average over space, then over the newest ``window`` time positions.

    Built on a training clip, ``window`` equals its position count (a plain global average); a stream keeps
    the last ``window`` pooled positions in a ring, so its prediction covers the same span as a clip.
    """

    def __init__(self, form: str, frames: int, window: int, **kw: Any):
        super().__init__(**kw)
        self.form, self.frames, self.window = form, int(frames), int(window)

    def call(self, x):  # noqa: D102
        if self.form == "5d":
            return tf.reduce_mean(x[:, -self.window:], axis=(1, 2, 3))
        h, w, c = x.shape[1], x.shape[2], x.shape[3]
        return tf.reduce_mean(tf.reshape(x, (-1, self.frames, h * w, c))[:, -self.window:], axis=(1, 2))

    def get_config(self) -> dict[str, Any]:  # noqa: D102
        return {**super().get_config(), "form": self.form, "frames": self.frames, "window": self.window}


@keras.saving.register_keras_serializable(package="edge_slr")
class ClipFlatten(keras.layers.Layer):
    """Flatten a clip to ``(B, T*H*W*C)`` in (T, H, W, C) order for both forms."""

    def __init__(self, form: str, frames: int, **kw: Any):
        super().__init__(**kw)
        self.form, self.frames = form, int(frames)

    def call(self, x):  # noqa: D102
        size = 1
        for d in x.shape[1:]:
            size *= int(d)
        if self.form == "4d":
            size *= self.frames
        return tf.reshape(x, (-1, size))

    def get_config(self) -> dict[str, Any]:  # noqa: D102
        return {**super().get_config(), "form": self.form, "frames": self.frames}


def clip_input(frames: int, size: int, form: str, causal: bool = False) -> tuple[Any, Clip]:
    """The model input for a form: ``(B, T, H, W, 3)`` in 5d, ``(B*T, H, W, 3)`` in 4d."""
    shape = (frames, size, size, 3) if form == "5d" else (size, size, 3)
    inputs = keras.Input(shape=shape, name="frames")
    return inputs, Clip(inputs, frames, form, causal)
