"""Model summary: layer table, parameter counts and FLOPs per clip counted from the built graph.

FLOPs are counted by TensorFlow's graph profiler on the frozen inference graph of the 4-D edge form
at one clip: convolutions and matrix multiplies count 2 FLOPs per multiply-add, elementwise ops
(folded batch norm, ReLU, residual adds) 1 per output element. The 4-D form is used because it
unrolls the LSTMs (the profiler does not look inside the fused LSTM's loop) and computes the same
linear maps as the Conv3D form.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from edge_slr.models.registry import create_model, input_spec, validate_model_args
from edge_slr.utils.tf_env import import_tf

FLOPS_METHOD = ("TensorFlow graph profiler on the frozen batch-1 inference graph; conv/matmul = "
                "2 x multiply-adds, elementwise ops = 1 per element")


@dataclass(frozen=True)
class LayerRow:
    name: str
    kind: str
    output_shape: str
    params: int


@dataclass
class ModelSummary:
    arch: str
    classes: int
    frames: int
    size: int
    width: float
    form: str
    params: int
    non_trainable_params: int
    flops: int
    conv_matmul_flops: int
    input_shape: list[int]
    input_spec: dict[str, Any]
    flops_method: str = FLOPS_METHOD
    layers: list[LayerRow] = field(default_factory=list)

    def to_dict(self, with_layers: bool = True) -> dict[str, Any]:
        d = asdict(self)
        if not with_layers:
            d.pop("layers")
        return d


def _count(weights) -> int:
    return int(sum(np.prod(w.shape) for w in weights))


def count_flops(model, input_shape: tuple[int, ...]) -> tuple[int, int]:
    """``(all FLOPs, conv+matmul FLOPs)`` of one forward pass of ``model`` on ``input_shape``."""
    tf, _ = import_tf()
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    fn = tf.function(lambda x: model(x, training=False))
    frozen = convert_variables_to_constants_v2(fn.get_concrete_function(tf.TensorSpec(input_shape, tf.float32)))
    builder = tf.compat.v1.profiler.ProfileOptionBuilder
    options = builder(builder.float_operation()).with_empty_output().build()
    total = tf.compat.v1.profiler.profile(graph=frozen.graph, options=options).total_float_ops
    options["account_type_regexes"] = ["Conv2D", "Conv3D", "MatMul", "BatchMatMul.*"]
    dense = tf.compat.v1.profiler.profile(graph=frozen.graph, options=options).total_float_ops
    return int(total), int(dense)


def summarize(arch: str, classes: int = 400, frames: int = 16, size: int = 112, width: float = 1.0,
              form: str = "5d") -> ModelSummary:
    """Build ``arch`` and describe it; FLOPs always come from the 4-D form (see module docstring)."""
    validate_model_args(arch, classes, frames, size, width, form)
    model = create_model(arch, classes, frames=frames, size=size, width=width, form=form)
    layers = [LayerRow(layer.name, type(layer).__name__, str(tuple(layer.output_shape)), layer.count_params())
              for layer in model.layers]
    edge = model if form == "4d" else create_model(arch, classes, frames=frames, size=size, width=width, form="4d")
    spec = input_spec(frames, size, "4d")
    flops, dense_flops = count_flops(edge, spec.shape)
    user_spec = input_spec(frames, size, form)
    return ModelSummary(
        arch=arch, classes=classes, frames=frames, size=size, width=width, form=form,
        params=_count(model.trainable_weights), non_trainable_params=_count(model.non_trainable_weights),
        flops=flops, conv_matmul_flops=dense_flops, input_shape=list(user_spec.shape),
        input_spec=user_spec.to_dict(), layers=layers)


def format_summary(s: ModelSummary) -> str:
    """Human-readable layer table and totals."""
    widths = (max(len(r.name) for r in s.layers), max(len(r.kind) for r in s.layers),
              max(len(r.output_shape) for r in s.layers))
    header = f"{'layer':<{widths[0]}}  {'type':<{widths[1]}}  {'output shape':<{widths[2]}}  {'params':>11}"
    lines = [f"{s.arch}  (classes={s.classes}, frames={s.frames}, size={s.size}, width={s.width:g}, form={s.form})",
             header, "-" * len(header)]
    lines += [f"{r.name:<{widths[0]}}  {r.kind:<{widths[1]}}  {r.output_shape:<{widths[2]}}  {r.params:>11,}"
              for r in s.layers]
    spec = s.input_spec
    lines += [
        "-" * len(header),
        f"total params:         {s.params + s.non_trainable_params:,}",
        f"trainable params:     {s.params:,}",
        f"non-trainable params: {s.non_trainable_params:,} (batch-norm running statistics)",
        f"FLOPs per clip:       {s.flops / 1e9:.2f} G ({s.conv_matmul_flops / 2e9:.2f} G multiply-adds in conv/matmul)",
        f"  counted by:         {s.flops_method}",
        f"input:                {tuple(s.input_shape)} {spec['layout']}, raw RGB in "
        f"[{spec['value_range'][0]:g}, {spec['value_range'][1]:g}] (the model normalizes with Kinetics mean/std)",
    ]
    return "\n".join(lines)
