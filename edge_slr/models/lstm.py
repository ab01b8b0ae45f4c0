"""An LSTM with explicit state, built from ops that XNNPACK and the TFLite GPU delegate run.

Keras' ``LSTM`` converts to the fused UNIDIRECTIONAL_SEQUENCE_LSTM op, which neither XNNPACK nor
the GPU delegate runs and which hides h/c in variable tensors that survive between invokes
(GUIDE.md). :class:`ExplicitLSTM` owns the same weights as ``keras.layers.LSTM`` (kernel,
recurrent_kernel, bias; gates i, f, c, o) but unrolls the time steps into FULLY_CONNECTED, ADD,
SPLIT, LOGISTIC, TANH and MUL. Its :meth:`step` is the streaming ``lstm_step`` of the exporter.
"""

from __future__ import annotations

from typing import Any

from edge_slr.utils.tf_env import import_tf

tf, keras = import_tf()


@keras.saving.register_keras_serializable(package="edge_slr")
class ExplicitLSTM(keras.layers.Layer):
    """Unrolled LSTM over a static number of steps; weights interchangeable with ``keras.layers.LSTM``."""

    def __init__(self, units: int, return_sequences: bool = False, **kw: Any):
        super().__init__(**kw)
        self.units = int(units)
        self.return_sequences = return_sequences

    def build(self, input_shape) -> None:  # noqa: D102
        features, units = int(input_shape[-1]), self.units
        self.kernel = self.add_weight(name="kernel", shape=(features, 4 * units), initializer="glorot_uniform")
        self.recurrent_kernel = self.add_weight(name="recurrent_kernel", shape=(units, 4 * units),
                                                initializer="orthogonal")
        self.bias = self.add_weight(name="bias", shape=(4 * units,), initializer="zeros")
        super().build(input_shape)

    def step(self, x_t, h, c):
        """One time step: ``(x_t (B, F), h (B, U), c (B, U)) -> (h, c)``; ``h = c = None`` is the zero state."""
        return self._recur(tf.matmul(x_t, self.kernel) + self.bias, h, c)

    def _recur(self, z, h, c):
        """The step after the input projection ``z = x_t W + b`` (B, 4U)."""
        if h is not None:
            z = z + tf.matmul(h, self.recurrent_kernel)
        i, f, g, o = tf.split(z, 4, axis=-1)
        c = tf.sigmoid(i) * tf.tanh(g) if c is None else tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
        h = tf.sigmoid(o) * tf.tanh(c)
        return h, c

    def call(self, x):  # noqa: D102
        # The input projection of all steps is one FULLY_CONNECTED over (B*T, F): it reads the (F, 4U) kernel
        # once instead of once per step (4 MB per read at F = U = 512, more than a core's L2 holds).
        # Unit-stride slices + reshapes, concatenation instead of stack: shrinking STRIDED_SLICE and
        # PACK are ops that the GPU delegate or XNNPACK refuse.
        steps, features = int(x.shape[1]), int(x.shape[2])
        gates = 4 * self.units
        projected = tf.reshape(tf.matmul(tf.reshape(x, (-1, features)), self.kernel) + self.bias, (-1, steps, gates))
        h = c = None
        outputs = []
        for t in range(steps):
            h, c = self._recur(tf.reshape(projected[:, t:t + 1], (-1, gates)), h, c)
            outputs.append(tf.reshape(h, (-1, 1, self.units)))
        return _concat_in_groups(outputs, axis=1) if self.return_sequences else h

    def compute_output_shape(self, input_shape):  # noqa: D102
        input_shape = tf.TensorShape(input_shape)
        if self.return_sequences:
            return tf.TensorShape((input_shape[0], input_shape[1], self.units))
        return tf.TensorShape((input_shape[0], self.units))

    def get_config(self) -> dict[str, Any]:  # noqa: D102
        return {**super().get_config(), "units": self.units, "return_sequences": self.return_sequences}


def _concat_in_groups(tensors: list, axis: int, group: int = 4):
    """Concatenate as a tree of CONCATENATIONs with at most ``group`` inputs (XNNPACK's limit is 5)."""
    while len(tensors) > 1:
        tensors = [tensors[i] if len(tensors[i:i + group]) == 1 else tf.concat(tensors[i:i + group], axis=axis)
                   for i in range(0, len(tensors), group)]
    return tensors[0]


def lstm_layer(units: int, form: str, return_sequences: bool, name: str):
    """Keras' fused LSTM for training (5d form), the explicit one for the edge (4d form); same weights."""
    if form == "5d":
        return keras.layers.LSTM(units, return_sequences=return_sequences, name=name)
    return ExplicitLSTM(units, return_sequences=return_sequences, name=name)

