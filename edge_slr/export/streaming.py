"""Streaming export of the CNN+LSTM family: one .tflite file with three signatures.

* ``encode_frame``: one frame ``(1, H, W, 3)`` -> its feature ``(1, F)``; the runtime calls it once
  per new camera frame and keeps features in a ring buffer.
* ``lstm_step``: ``(feature, h/c of every LSTM) -> (logits, new h/c)``; state is explicit inputs and
  outputs, never variable tensors, so nothing leaks between invokes (GUIDE.md's fused-LSTM trap).
* ``classify``: a window of features ``(T, F)`` -> logits, for sliding-window recognition.

The signatures are cut out of the 4-D edge model by walking its functional graph from the
``unfold_frames`` layer on, so they reuse the trained layers themselves, not copies.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from edge_slr.errors import UserError
from edge_slr.utils.tf_env import import_tf

SIGNATURES = ("encode_frame", "lstm_step", "classify")
SPLIT_LAYER = "unfold_frames"


def _head_layers(edge) -> list[Any]:
    names = [layer.name for layer in edge.layers]
    if SPLIT_LAYER not in names:
        raise UserError(f"{edge.name} is not a CNN+LSTM model; --streaming applies to the LSTM family only")
    return edge.layers[names.index(SPLIT_LAYER) + 1:]


def _inputs_of(layer) -> list[Any]:
    inputs = layer.input
    return list(inputs) if isinstance(inputs, list | tuple) else [inputs]


def _walk(edge, start_value, apply):
    """Evaluate the layers after ``unfold_frames``; ``apply(layer, args)`` computes one layer."""
    values = {id(edge.get_layer(SPLIT_LAYER).output): start_value}
    for layer in _head_layers(edge):
        args = [values[id(t)] for t in _inputs_of(layer)]
        values[id(layer.output)] = apply(layer, args)
    return values[id(edge.output)]


def lstm_layers(edge) -> list[Any]:
    """The ExplicitLSTM layers of the head, in order (their state makes up ``lstm_step``'s state)."""
    from edge_slr.models.lstm import ExplicitLSTM

    return [layer for layer in _head_layers(edge) if isinstance(layer, ExplicitLSTM)]


def build_streaming_module(edge, size: int, frames: int):
    """A ``tf.Module`` whose three tf.functions are the streaming signatures of ``edge``."""
    tf, keras = import_tf()
    from edge_slr.models.lstm import ExplicitLSTM

    encoder = keras.Model(edge.input, edge.get_layer(SPLIT_LAYER).input, name="encoder")
    features = int(encoder.output_shape[-1])
    lstms = lstm_layers(edge)
    state_spec = {}
    for layer in lstms:
        state_spec[f"h_{layer.name}"] = tf.TensorSpec((1, layer.units), tf.float32, name=f"h_{layer.name}")
        state_spec[f"c_{layer.name}"] = tf.TensorSpec((1, layer.units), tf.float32, name=f"c_{layer.name}")

    class Streaming(tf.Module):
        def __init__(self):
            super().__init__()
            self.model = edge
            self.state_spec = state_spec

        @tf.function(input_signature=[tf.TensorSpec((1, size, size, 3), tf.float32, name="frame")])
        def encode_frame(self, frame):
            return {"feature": encoder(frame, training=False)}

        @tf.function(input_signature=[tf.TensorSpec((1, features), tf.float32, name="feature"), state_spec])
        def lstm_step(self, feature, state):
            new_state = {}

            def apply(layer, args):
                if isinstance(layer, ExplicitLSTM):
                    h, c = layer.step(args[0], state[f"h_{layer.name}"], state[f"c_{layer.name}"])
                    new_state[f"h_{layer.name}"], new_state[f"c_{layer.name}"] = h, c
                    return h
                return layer(args if len(args) > 1 else args[0], training=False)

            logits = _walk(edge, feature, apply)
            return {"logits": logits, **new_state}

        @tf.function(input_signature=[tf.TensorSpec((frames, features), tf.float32, name="features")])
        def classify(self, features_window):
            sequence = tf.reshape(features_window, (1, frames, features))
            logits = _walk(edge, sequence, lambda layer, args: layer(args if len(args) > 1 else args[0],
                                                                      training=False))
            return {"logits": logits}

    return Streaming()


def calibration_samples(module, clips: Iterable[np.ndarray], limit: int) -> Callable[[], Iterator[tuple]]:
    """Representative data for full-integer PTQ of every signature, from float clips ``(T, H, W, 3)``:
    each frame for ``encode_frame``, each step's feature and running state for ``lstm_step`` (the state the
    float model reaches on that clip), and the clip's feature window for ``classify``."""
    tf, _ = import_tf()
    samples = []
    for i, clip in enumerate(clips):
        if i >= limit:
            break
        clip = np.asarray(clip, np.float32)
        state = {name: np.zeros(spec.shape, np.float32) for name, spec in module.state_spec.items()}
        features = []
        for frame in clip:
            samples.append(("encode_frame", {"frame": frame[None]}))
            feature = module.encode_frame(tf.constant(frame[None]))["feature"].numpy()
            features.append(feature[0])
            samples.append(("lstm_step", {"feature": feature, **state}))
            out = module.lstm_step(tf.constant(feature), {k: tf.constant(v) for k, v in state.items()})
            state = {name: out[name].numpy() for name in state}
        samples.append(("classify", {"features": np.stack(features)}))

    def generate() -> Iterator[tuple]:
        yield from samples

    return generate


def convert_streaming(edge, size: int, frames: int, workdir, configure: Callable[[Any, Any], None],
                      calib_clips: Iterable[np.ndarray] | None = None, calib: int = 0) -> bytes:
    """Save the streaming module as a SavedModel with three signatures and convert it.

    ``configure(converter, representative)`` applies the quantization format (see
    :func:`edge_slr.export.convert.configure`); ``representative`` calibrates every signature from
    ``calib_clips`` (full-integer formats), else it is None.
    """
    tf, _ = import_tf()
    module = build_streaming_module(edge, size, frames)
    signatures = {name: getattr(module, name).get_concrete_function() for name in SIGNATURES}
    path = str(workdir / "streaming_savedmodel")
    tf.saved_model.save(module, path, signatures=signatures)
    representative = calibration_samples(module, calib_clips, calib) if calib_clips is not None else None
    converter = tf.lite.TFLiteConverter.from_saved_model(path, signature_keys=list(SIGNATURES))
    configure(converter, representative)
    return converter.convert()
