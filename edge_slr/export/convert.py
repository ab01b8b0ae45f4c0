"""TFLite conversion of the 4-D edge model for each quantization format.

The converter always sees a concrete function with a fixed input of one clip, ``(T, H, W, 3)``
(time in the batch axis), so every tensor has a static shape: the GPU delegate's OpenGL backend
wants one batch size everywhere, and XNNPACK plans static graphs best.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import numpy as np

from edge_slr.export.formats import get_format
from edge_slr.utils.tf_env import import_tf

RepresentativeData = Callable[[], Iterator[list[np.ndarray]]]


def _io_type(tf, io_dtype: str):
    return {"float32": tf.float32, "int8": tf.int8, "uint8": tf.uint8}[io_dtype]


def configure(converter, quant: str, representative: RepresentativeData | None, io_dtype: str,
              output_dtype: str = "float32") -> None:
    """Set ``converter`` up for format ``quant``; full-integer formats take ``io_dtype`` inputs and give
    ``output_dtype`` outputs."""
    tf, _ = import_tf()
    fmt = get_format(quant)
    if quant == "fp32":
        return
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quant == "fp16":
        converter.target_spec.supported_types = [tf.float16]
        return
    if quant == "dynamic":
        # Per-tensor weights keep FULLY_CONNECTED at version 9; the per-channel hybrid kernel (version
        # 12) is refused by the GPU delegate. Convolutions stay per-channel.
        converter._experimental_disable_per_channel_quantization_for_dense_layers = True
        return
    if fmt.needs_calibration:
        # int8 calibrates every range from these clips; a QAT model carries its own ranges, but the
        # converter still insists on a representative dataset for full-integer output.
        if representative is None:
            raise ValueError(f"{quant} needs representative data")
        converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = _io_type(tf, io_dtype)
    # Clip logits stay float (a runtime compares and softmaxes them, and dequantizing once costs nothing); a
    # causal stream's outputs are mostly state, which stays integer between its step signatures.
    converter.inference_output_type = _io_type(tf, output_dtype)


def convert_clip_model(model, input_shape: tuple[int, ...], quant: str,
                       representative: RepresentativeData | None = None, io_dtype: str = "float32") -> bytes:
    """Convert a Keras edge model that takes one clip of ``input_shape``; return the .tflite bytes."""
    tf, _ = import_tf()
    fn = tf.function(lambda frames: model(frames, training=False))
    concrete = fn.get_concrete_function(tf.TensorSpec(input_shape, tf.float32, name="frames"))
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], model)
    configure(converter, quant, representative, io_dtype)
    return converter.convert()


def representative_from(clips: Iterable[np.ndarray], limit: int) -> RepresentativeData:
    """A representative-dataset callable over up to ``limit`` clips shaped ``(T, H, W, 3)``."""

    def generate() -> Iterator[list[np.ndarray]]:
        for i, clip in enumerate(clips):
            if i >= limit:
                break
            yield [np.asarray(clip, dtype=np.float32)]

    return generate


def calibration_clips(data_dir, split: str, frames: int, size: int) -> Iterator[np.ndarray]:
    """Clips for calibration, deterministic (evaluation transforms) so exports are reproducible."""
    from edge_slr.data.pipeline import make_dataset

    for clips, _labels in make_dataset(data_dir, split, frames=frames, size=size, batch=1, training=False):
        yield clips.numpy()[0]

