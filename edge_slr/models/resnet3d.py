"""3-D ResNets and (2+1)-D ResNets: ``r3d_18``, ``r3d_small``, ``r2plus1d_18``, ``r2plus1d_small``, ``r3d_r2plus1d``.

``r3d_18`` and ``r2plus1d_18`` follow torchvision's ``video.resnet`` definitions layer for layer
(bias-free convs, BN after every conv, 1x1x1 strided projection shortcuts), so their trainable
parameter counts equal torchvision's. The small variants keep three residual stages, which is what
fits real time on a phone-class CPU.
"""

from __future__ import annotations

from typing import Any

from edge_slr.models.registry import register_model

TIME_REASON_3 = "three stages halve time, so fewer than 8 frames leaves stages with no real frame"
TIME_REASON_2 = "two stages halve time, so fewer than 4 frames leaves a stage with no real frame"


def _stem_3d(clip: Any, width: float) -> Any:
    """torchvision's BasicStem: 3x7x7 conv, stride (1, 2, 2), to 64 channels."""
    from edge_slr.models.blocks import conv_bn_relu, width_of

    return conv_bn_relu(clip, width_of(64, width), (3, 7, 7), (1, 2, 2), (1, 3, 3), name="stem")


def _stem_2plus1d(clip: Any, width: float) -> Any:
    """torchvision's R2Plus1dStem: 1x7x7 conv to 45 channels, then 3x1x1 conv to 64."""
    from edge_slr.models.blocks import conv_bn_relu, width_of

    clip = conv_bn_relu(clip, width_of(45, width), (1, 7, 7), (1, 2, 2), (0, 3, 3), name="stem_s")
    return conv_bn_relu(clip, width_of(64, width), (3, 1, 1), 1, (1, 0, 0), name="stem_t")


def _resnet(name: str, num_classes: int, frames: int, size: int, width: float, form: str, dropout: float,
            stem, stages: list[tuple[int, int, int, str]], causal: bool = False, pool_window: int | None = None):
    """Stem, then ``(planes, blocks, stride, kind)`` stages, then the pooled head.

    ``causal`` left-pads every temporal conv (streamable); ``pool_window`` is then how many final time
    positions the head averages (default: all of this clip's).
    """
    from edge_slr.models.blocks import basic_block, clip_input, keras, width_of
    from edge_slr.models.heads import pooled_logits
    from edge_slr.models.layers import Normalize

    inputs, clip = clip_input(frames, size, form, causal)
    clip = stem(clip.with_x(Normalize(name="normalize")(clip.x)), width)
    in_planes = width_of(64, width)
    for s, (planes, blocks, stride, kind) in enumerate(stages, start=1):
        planes = width_of(planes, width)
        for b in range(blocks):
            clip = basic_block(clip, in_planes, planes, stride if b == 0 else 1, kind, name=f"layer{s}_{b}")
            in_planes = planes
    return keras.Model(inputs, pooled_logits(clip, num_classes, dropout, pool_window), name=name)


@register_model("r3d_18", "3d", "3D ResNet-18 (torchvision r3d_18: 3x3x3 BasicBlocks [2,2,2,2], 64..512)",
                min_frames=8, min_size=32, min_frames_reason=TIME_REASON_3)
def r3d_18(num_classes: int, frames: int, size: int, width: float, form: str, dropout: float = 0.0):
    stages = [(64, 2, 1, "3d"), (128, 2, 2, "3d"), (256, 2, 2, "3d"), (512, 2, 2, "3d")]
    return _resnet("r3d_18", num_classes, frames, size, width, form, dropout, _stem_3d, stages)


@register_model("r3d_small", "3d", "three-stage 3D ResNet (3x3x3 BasicBlocks 64/128/256)",
                min_frames=4, min_size=32, min_frames_reason=TIME_REASON_2)
def r3d_small(num_classes: int, frames: int, size: int, width: float, form: str, dropout: float = 0.2):
    stages = [(64, 1, 1, "3d"), (128, 1, 2, "3d"), (256, 1, 2, "3d")]
    return _resnet("r3d_small", num_classes, frames, size, width, form, dropout, _stem_3d, stages)


@register_model("r2plus1d_18", "3d", "R(2+1)D-18, exactly torchvision's r2plus1d_18 (flagship accurate model)",
                min_frames=8, min_size=32, min_frames_reason=TIME_REASON_3)
def r2plus1d_18(num_classes: int, frames: int, size: int, width: float, form: str, dropout: float = 0.0):
    stages = [(64, 2, 1, "2plus1d"), (128, 2, 2, "2plus1d"), (256, 2, 2, "2plus1d"), (512, 2, 2, "2plus1d")]
    return _resnet("r2plus1d_18", num_classes, frames, size, width, form, dropout, _stem_2plus1d, stages)


@register_model("r2plus1d_small", "3d", "three (2+1)D residual blocks 64/128/256 (edge-sized R(2+1)D)",
                min_frames=4, min_size=32, min_frames_reason=TIME_REASON_2)
def r2plus1d_small(num_classes: int, frames: int, size: int, width: float, form: str, dropout: float = 0.2):
    stages = [(64, 1, 1, "2plus1d"), (128, 1, 2, "2plus1d"), (256, 1, 2, "2plus1d")]
    return _resnet("r2plus1d_small", num_classes, frames, size, width, form, dropout, _stem_2plus1d, stages)


@register_model("r3d_r2plus1d", "3d", "3D ResNet block (64) followed by (2+1)D blocks (128, 256)",
                min_frames=4, min_size=32, min_frames_reason=TIME_REASON_2)
def r3d_r2plus1d(num_classes: int, frames: int, size: int, width: float, form: str, dropout: float = 0.2):
    stages = [(64, 1, 1, "3d"), (128, 1, 2, "2plus1d"), (256, 1, 2, "2plus1d")]
    return _resnet("r3d_r2plus1d", num_classes, frames, size, width, form, dropout, _stem_3d, stages)



CAUSAL_NOTE = ("causal (streamable) twin: temporal convs see only past frames; `export-tflite --streaming` "
               "gives one-frame step signatures")


@register_model("r2plus1d_18_causal", "3d", f"R(2+1)D-18, {CAUSAL_NOTE}",
                min_frames=8, min_size=32, min_frames_reason=TIME_REASON_3)
def r2plus1d_18_causal(num_classes: int, frames: int, size: int, width: float, form: str, dropout: float = 0.0,
                       pool_window: int | None = None):
    stages = [(64, 2, 1, "2plus1d"), (128, 2, 2, "2plus1d"), (256, 2, 2, "2plus1d"), (512, 2, 2, "2plus1d")]
    return _resnet("r2plus1d_18_causal", num_classes, frames, size, width, form, dropout, _stem_2plus1d, stages,
                   causal=True, pool_window=pool_window)


@register_model("r2plus1d_small_causal", "3d", f"r2plus1d_small, {CAUSAL_NOTE}",
                min_frames=4, min_size=32, min_frames_reason=TIME_REASON_2)
def r2plus1d_small_causal(num_classes: int, frames: int, size: int, width: float, form: str, dropout: float = 0.2,
                          pool_window: int | None = None):
    stages = [(64, 1, 1, "2plus1d"), (128, 1, 2, "2plus1d"), (256, 1, 2, "2plus1d")]
    return _resnet("r2plus1d_small_causal", num_classes, frames, size, width, form, dropout, _stem_2plus1d, stages,
                   causal=True, pool_window=pool_window)
