"""Tiny .tflite models for the runtime tests, converted with TensorFlow once per test process.

Tests may use TensorFlow to *make* models; the runtime modules under test never import it.
Each builder is cached, so the three runtime test files share one conversion of each model.
"""

from __future__ import annotations

import functools

import numpy as np

from edge_slr.utils.tf_env import import_tf

SEED = 0


def _tf():
    tf, keras = import_tf()
    keras.utils.set_random_seed(SEED)
    return tf, keras


def _convert_keras(model, quantize: str = "none") -> bytes:
    tf, _ = import_tf()
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if quantize == "int8":
        shape = tuple(model.input_shape)
        rng = np.random.default_rng(SEED)

        def representative():
            for _ in range(8):
                yield [rng.uniform(0, 1, shape).astype(np.float32)]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    elif quantize == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    return converter.convert()


@functools.cache
def conv_keras():
    """Conv2D -> ReLU -> global mean -> Dense: every op the GPU delegate and XNNPACK take."""
    _, keras = _tf()
    layers = keras.layers
    return keras.Sequential([keras.Input((16, 16, 3), batch_size=1), layers.Conv2D(4, 3, activation="relu"),
                             layers.GlobalAveragePooling2D(), layers.Dense(5)])


@functools.cache
def conv_model(quantize: str = "none") -> bytes:
    return _convert_keras(conv_keras(), quantize)


@functools.cache
def conv3d_model() -> bytes:
    _, keras = _tf()
    layers = keras.layers
    return _convert_keras(keras.Sequential([keras.Input((4, 8, 8, 3), batch_size=1),
                                            layers.Conv3D(4, 3, activation="relu"),
                                            layers.GlobalAveragePooling3D(), layers.Dense(5)]))


@functools.cache
def rank5_reshape_model() -> bytes:
    """Conv2D -> RESHAPE to 5-D -> MUL -> RESHAPE back to 4-D -> Conv2D."""
    _, keras = _tf()
    layers = keras.layers
    x = keras.Input((8, 8, 4), batch_size=1)
    y = layers.Conv2D(4, 1)(x)
    y = layers.Reshape((8, 8, 2, 2))(y)
    y = layers.Lambda(lambda t: t * 2.0)(y)
    y = layers.Reshape((8, 8, 4))(y)
    y = layers.Conv2D(2, 1)(y)
    return _convert_keras(keras.Model(x, y))


@functools.cache
def lstm_keras():
    _, keras = _tf()
    layers = keras.layers
    return keras.Sequential([keras.Input((6, 8), batch_size=1), layers.LSTM(4), layers.Dense(3)])


@functools.cache
def lstm_model() -> bytes:
    """A Keras LSTM converts to the fused UNIDIRECTIONAL_SEQUENCE_LSTM op."""
    return _convert_keras(lstm_keras())


@functools.cache
def split_model() -> bytes:
    """SPLIT -> ADD -> RELU: SPLIT is refused by the GPU delegate's OpenGL backend only."""
    tf, _ = _tf()

    @tf.function(input_signature=[tf.TensorSpec((1, 4, 4, 8), tf.float32)])
    def split_add(x):
        a, b = tf.split(x, 2, axis=3)
        return tf.nn.relu(a + b)

    return tf.lite.TFLiteConverter.from_concrete_functions([split_add.get_concrete_function()]).convert()


@functools.cache
def multi_signature_model() -> tuple[bytes, np.ndarray]:
    """Two signatures in one file: ``encode(x) -> y = x @ w`` and ``combine(a, b) -> s = relu(a + b)``.

    Returns the model and ``w``, so tests can compute the expected outputs.
    """
    tf, _ = _tf()
    w = np.random.default_rng(SEED).normal(size=(4, 3)).astype(np.float32)

    class TwoSignatures(tf.Module):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable(w)

        @tf.function(input_signature=[tf.TensorSpec((1, 4), tf.float32)])
        def encode(self, x):
            return {"y": tf.matmul(x, self.w)}

        @tf.function(input_signature=[tf.TensorSpec((1, 3), tf.float32), tf.TensorSpec((1, 3), tf.float32)])
        def combine(self, a, b):
            return {"s": tf.nn.relu(a + b)}

    module = TwoSignatures()
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [module.encode.get_concrete_function(), module.combine.get_concrete_function()], module)
    return converter.convert(), w


@functools.cache
def strided_slice_model() -> bytes:
    """Two branches with stride-2 slices, which XNNPACK does not take: it splits this graph into
    partitions, which the tests compare with our partitioning of the same supported ops."""
    tf, _ = _tf()

    @tf.function(input_signature=[tf.TensorSpec((1, 8, 8, 4), tf.float32)])
    def slices(x):
        a = tf.nn.relu(x) * 2.0
        b = tf.tanh(x[:, ::2] + 1.0)
        return a, b[:, :, ::2] - 1.0

    return tf.lite.TFLiteConverter.from_concrete_functions([slices.get_concrete_function()]).convert()
