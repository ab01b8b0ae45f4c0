"""Quantization-aware fine-tuning with tensorflow-model-optimization (3-D family).

tfmot knows Keras' built-in layers, not ours, and it folds batch norm only into its own Conv2D.
So the edge model is first *lowered*: every :class:`SpatioTemporalConv` (4-D form) becomes the
same computation written with a Keras ``Conv2D`` (kernel reshaped from the Conv3D kernel), after
``ZeroPadding2D`` and, for kernels with a temporal extent, a weightless layer stacking the temporal
neighbours of each frame on the channel axis (so the Conv2D is directly followed by its batch
norm). tfmot then sees Conv2D -> BatchNormalization -> ReLU patterns and applies its
standard per-channel weight fake-quant with batch-norm folding; the converter gets constant
Conv2D weights it can quantize. Our two weightless layers with arithmetic (input normalization,
clip pooling) get an output fake-quant.

The CNN+LSTM family is refused: tfmot has no QAT for recurrent cells (GUIDE.md); ``--quant int8``
quantizes the explicit LSTM after training instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge_slr.export.edge_model import LoadedModel
from edge_slr.utils.tf_env import import_tf

tf, keras = import_tf()
import tensorflow_model_optimization as tfmot  # noqa: E402  (after import_tf selects Keras 2)
from tensorflow_model_optimization.python.core.quantization.keras.default_8bit.default_8bit_quantize_configs import (  # noqa: E402,E501
    NoOpQuantizeConfig,
)

from edge_slr.models.blocks import ClipGlobalAvgPool  # noqa: E402
from edge_slr.models.layers import Normalize, SpatioTemporalConv, temporal_taps  # noqa: E402

Q = tfmot.quantization.keras


class TemporalTaps(keras.layers.Layer):
    """``(B*T, H, W, C) -> (B*T', H, W, kt*C)``: the kt temporal neighbours of each output frame, stacked."""

    def __init__(self, frames: int, kernel_t: int, stride_t: int, pad_t: int, t_out: int, **kw: Any):
        super().__init__(**kw)
        self.frames, self.kernel_t, self.stride_t, self.pad_t, self.t_out = frames, kernel_t, stride_t, pad_t, t_out

    def call(self, x):  # noqa: D102
        h, w, c = x.shape[1], x.shape[2], x.shape[3]
        seq = tf.reshape(x, (-1, self.frames, h * w, c))
        taps = temporal_taps(seq, self.frames, self.t_out, self.kernel_t, self.stride_t, self.pad_t)
        stacked = taps[0] if len(taps) == 1 else tf.concat(taps, axis=-1)
        return tf.reshape(stacked, (-1, h, w, self.kernel_t * c))

    def get_config(self) -> dict[str, Any]:  # noqa: D102
        return {**super().get_config(), "frames": self.frames, "kernel_t": self.kernel_t,
                "stride_t": self.stride_t, "pad_t": self.pad_t, "t_out": self.t_out}


_WEIGHTLESS = (TemporalTaps,)


def _lower_conv(layer: SpatioTemporalConv, x):
    """Apply ``layer``'s 4-D computation to ``x`` with Keras Conv2D layers carrying its weights."""
    kt, kh, kw = layer.kernel_size
    st, sh, sw = layer.strides
    pt, ph, pw = layer.padding
    frames = int(layer.frames)
    kernel = layer.get_weights()[0]
    c_in, filters = kernel.shape[3], kernel.shape[4]
    weights_tail = layer.get_weights()[1:]
    name = layer.name
    if kt == 1 and st == 1 and pt == 0:
        conv_kernel, pre = kernel[0], None
    else:  # temporal and full kernels alike: stacked temporal taps, then one Conv2D right before its BN
        conv_kernel = kernel.transpose(1, 2, 0, 3, 4).reshape(kh, kw, kt * c_in, filters)
        pre = TemporalTaps(frames, kt, st, pt, layer.out_frames(frames), name=f"{name}_taps")
    pad, strides = (ph, pw), (sh, sw)
    if pre is not None:
        x = pre(x)
    if pad != (0, 0):
        x = keras.layers.ZeroPadding2D(pad, name=f"{name}_pad")(x)
    conv = keras.layers.Conv2D(filters, (kh, kw), strides, use_bias=layer.use_bias, name=name)
    y = conv(x)
    conv.set_weights([conv_kernel, *weights_tail])
    return y


def _inputs_of(layer) -> list[Any]:
    inputs = layer.input
    return list(inputs) if isinstance(inputs, list | tuple) else [inputs]


def lower_to_conv2d(model):
    """Rebuild a 4-D-form functional model with every SpatioTemporalConv as a Keras Conv2D (same outputs)."""
    new_input = keras.Input(batch_shape=model.input_shape, name="frames")
    values = {id(model.input): new_input}
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        args = [values[id(t)] for t in _inputs_of(layer)]
        if isinstance(layer, SpatioTemporalConv):
            values[id(layer.output)] = _lower_conv(layer, args[0])
            continue
        clone = layer.__class__.from_config(layer.get_config())
        values[id(layer.output)] = clone(args if len(args) > 1 else args[0])
        clone.set_weights(layer.get_weights())
    return keras.Model(new_input, values[id(model.output)], name=f"{model.name}_lowered")


class OutputQuantizeConfig(Q.QuantizeConfig):
    """Fake-quantize only a layer's output (our weightless layers that compute new values)."""

    def get_weights_and_quantizers(self, layer):
        return []

    def get_activations_and_quantizers(self, layer):
        return []

    def set_quantize_weights(self, layer, quantize_weights):
        pass

    def set_quantize_activations(self, layer, quantize_activations):
        pass

    def get_output_quantizers(self, layer):
        return [Q.quantizers.MovingAverageQuantizer(num_bits=8, per_axis=False, symmetric=False, narrow_range=False)]

    def get_config(self):
        return {}


_SCOPE = {"OutputQuantizeConfig": OutputQuantizeConfig, "NoOpQuantizeConfig": NoOpQuantizeConfig,
          "Normalize": Normalize, "ClipGlobalAvgPool": ClipGlobalAvgPool,
          **{cls.__name__: cls for cls in _WEIGHTLESS}}


def quantization_aware_model(edge):
    """Lowered, fake-quantized twin of a 3-D-family edge model, ready to fine-tune."""

    def annotate(layer):
        if isinstance(layer, _WEIGHTLESS):
            return Q.quantize_annotate_layer(layer, NoOpQuantizeConfig())
        if isinstance(layer, Normalize | ClipGlobalAvgPool):
            return Q.quantize_annotate_layer(layer, OutputQuantizeConfig())
        if isinstance(layer, keras.layers.InputLayer):
            return layer
        return Q.quantize_annotate_layer(layer)

    with keras.utils.custom_object_scope(_SCOPE):
        annotated = keras.models.clone_model(lower_to_conv2d(edge), clone_function=annotate)
    with Q.quantize_scope(_SCOPE):
        return Q.quantize_apply(annotated)


def _edge_batches(data: Path, split: str, loaded: LoadedModel, training: bool):
    """Batches of the 4-D input ``(B*T, H, W, 3)`` with their labels ``(B,)``."""
    from edge_slr.data.pipeline import AugmentConfig, make_dataset

    size = loaded.size
    ds = make_dataset(data, split, frames=loaded.frames, size=size, batch=4, training=training,
                      augment=AugmentConfig(crop_scale=(0.8, 1.0), max_rotation_deg=5.0) if training else None,
                      drop_remainder=training)
    return ds.map(lambda x, y: (tf.reshape(x, (-1, size, size, 3)), y))


def quantize_aware_finetune(loaded: LoadedModel, data: Path, epochs: int, lr: float = 1e-4):
    """Fine-tune the fake-quantized edge model on the run's training split; returns the QAT model."""
    model = quantization_aware_model(loaded.edge)
    model.compile(optimizer=keras.optimizers.Adam(lr),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[keras.metrics.SparseCategoricalAccuracy(name="top1")])
    print(f"QAT: fine-tuning {loaded.arch} for {epochs} epoch(s) with fake-quantized weights and activations",
          flush=True)
    model.fit(_edge_batches(data, "train", loaded, training=True), epochs=epochs, verbose=2)
    return model
