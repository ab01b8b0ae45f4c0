"""Export-time rewrites of the edge model that keep its function: input normalization folded into the first
convolution where that is exact, and integer-friendly stems for full-integer formats.

Every model starts with :class:`~edge_slr.models.layers.Normalize` (``x * s + o`` per colour channel). In the
exported graph that is a MUL and an ADD over the whole input in float, before anything else (in int8 exports,
before the QUANTIZE): per-op profiles put them at 20% of the summed op time of the int8 ``encode_frame`` of
``cnn_lstm_basic`` and 3% of the fp32 ``cnn3d`` clip, since XNNPACK's broadcast over 3 channels is slow.

An unpadded convolution reading the normalized input absorbs the map: ``W' = W * s`` along its input-channel axis,
and the constant ``sum(W * o)`` per output channel moves into the BatchNormalization that follows (its moving mean)
or into the conv's bias. A padded convolution would see its padding zeros in raw instead of normalized units, so
models whose first conv pads (the ResNets' stems, causal convs) are left as they are.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _consumers(layer) -> list[Any]:
    return [node.outbound_layer for node in layer._outbound_nodes]


def only_batchnorm_after(layer) -> Any | None:
    """The BatchNormalization that is ``layer``'s only consumer, else None (where an affine map can fold in)."""
    from edge_slr.utils.tf_env import import_tf

    _, keras = import_tf()
    after = _consumers(layer)
    return after[0] if len(after) == 1 and isinstance(after[0], keras.layers.BatchNormalization) else None


def _unpadded_conv(layer) -> int | None:
    """The input-channel axis of ``layer``'s kernel when it is an unpadded convolution, else None."""
    from edge_slr.models.layers import SpatioTemporalConv, StemConv2D
    from edge_slr.utils.tf_env import import_tf

    _, keras = import_tf()
    if isinstance(layer, SpatioTemporalConv):
        return 3 if layer.padding == (0, 0, 0) and not layer.causal else None
    if type(layer) in (keras.layers.Conv2D, StemConv2D) and layer.groups == 1:
        return 2 if layer.padding == "valid" or tuple(layer.kernel_size) == (1, 1) else None
    return None


def fold_input_normalization(model) -> bool:
    """Fold ``model``'s Normalize layer into its first convolution in place; False when that would not be exact."""
    from edge_slr.models.layers import Normalize

    norms = [layer for layer in model.layers if isinstance(layer, Normalize)]
    if len(norms) != 1 or norms[0].folded or len(_consumers(norms[0])) != 1:
        return False
    norm, conv = norms[0], _consumers(norms[0])[0]
    axis = _unpadded_conv(conv)
    bn = only_batchnorm_after(conv)
    if axis is None or (bn is None and not getattr(conv, "use_bias", False)):
        return False
    scale, offset = (np.asarray(v, np.float64) for v in norm.affine())
    kernel = conv.kernel.numpy().astype(np.float64)
    shape = [1] * kernel.ndim
    shape[axis] = -1
    constant = (kernel * offset.reshape(shape)).sum(axis=tuple(range(kernel.ndim - 1)))  # per output channel
    conv.kernel.assign((kernel * scale.reshape(shape)).astype(np.float32))
    if bn is not None and not getattr(conv, "use_bias", False):
        bn.moving_mean.assign((bn.moving_mean.numpy() - constant).astype(np.float32))
    else:
        conv.bias.assign((conv.bias.numpy() + constant).astype(np.float32))
    norm.folded = True
    return True


def prefer_integer_kernels(model) -> int:
    """Switch ``model``'s :class:`~edge_slr.models.layers.StemConv2D` layers to their space-to-depth form, which
    XNNPACK's int8 kernels run faster (and its fp32 kernels slower); returns how many were switched."""
    from edge_slr.models.layers import StemConv2D

    stems = [layer for layer in model.layers if isinstance(layer, StemConv2D)]
    for layer in stems:
        layer.space_to_depth = True
    return len(stems)
