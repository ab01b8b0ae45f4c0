"""Streaming export of causal (2+1)D models: one-frame step signatures with explicit 4-D state.

A layer with temporal stride ``st`` fires on the last frame of every group of ``st`` input frames, so every layer
runs at a fixed frame period: 1 up to the first temporal stride, then 2, 4, ... up to the cumulative stride ``P``
(4 for ``r2plus1d_small``, 8 for ``r2plus1d_18``). The export holds one signature per period, ``every_1``,
``every_2``, ... ``every_P``, each holding exactly the layers that run at that period (no control flow, no layer
in two graphs): the host calls, for frame ``n``, ``every_R`` for every ``R`` with ``(n + 1) % R == 0``, in order
(``every_1`` every frame, ``every_P`` on the last frame of each group of ``P``). So the per-frame graph is the same
graph on every frame, its buffers and packed weights warm. (One signature per phase of the stride pattern held the
per-frame layers ``P`` times; invoked in turn, those phases cost R(2+1)D-18 int8 1.0 ms per frame more than each
invoked alone, 4.6 vs 3.6 ms, their copies evicting each other.)

State, one ``(1, H, W, C)`` tensor per kept frame (the GPU delegate takes tensors of rank <= 4):

* a temporal conv at stride 1 keeps its last ``kt - 1`` inputs (``<layer>_prev1`` the newest), or, when it is
  temporal-only and narrows the channels (the (2+1)D blocks' mid -> planes convs), what the past inputs owe its
  next ``kt - 1`` outputs (``<layer>_acc1`` .. ``_acc{kt-1}``, output channels, its BatchNormalization folded
  in): one 1x1 conv per tap and ADDs, less state (R(2+1)D-18 layer1: 64 instead of 144 channels per kept frame);
* a temporal conv at stride ``st > 1`` runs at ``st`` times its input's period, so its input comes from a faster
  signature: that one writes the newest input as ``<layer>_in0`` and passes ``_in{i}`` on as ``_in{i+1}`` (kept
  ``kt`` deep), and the strided conv's own signature reads ``_in0 .. _in{kt-1}``;
* the head keeps a ring ``pool_ring (W, 1, 1, C)`` of the last ``W`` pooled positions (``W`` = positions of one
  training clip), so after ``T`` frames from the zero state the logits equal the causal full-clip model's.

Only ``every_P`` returns ``logits``; a host keeps the newest. The schedule goes into the model card (``stream``),
so a runtime needs no architecture knowledge.

Full-integer exports keep the state in int8 tensors, so a host moves a quarter of the bytes and no signature has a
QUANTIZE/DEQUANTIZE per state. Calibration runs the float signatures over clips as a stream, and the quantizer
gets every state's range as the range of its owning layer over everything read and written (the frame: 0..255):
the same range in every signature, so each state has one scale and a host copies it as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge_slr.errors import UserError
from edge_slr.utils.tf_env import import_tf

FRAME = "frame"
LOGITS = "logits"
RING = "pool_ring"
MODE = "causal_phases"


def step_name(period: int) -> str:
    """Signature holding the layers that run once every ``period`` frames."""
    return f"every_{period}"


def tap_name(layer: str, age: int) -> str:
    """State name of the input frame a stride-1 temporal conv saw ``age`` inputs ago."""
    return f"{layer}_prev{age}"


def input_name(layer: str, age: int) -> str:
    """State name of a strided temporal conv's input ``age`` inputs back from the newest (``0``), written by the
    faster signature that computes it."""
    return f"{layer}_in{age}"


def sum_name(layer: str, ahead: int) -> str:
    """State name of the part of a temporal conv's output ``ahead`` inputs from now that past inputs already gave."""
    return f"{layer}_acc{ahead}"


def _keeps_sums(layer) -> bool:
    """Whether a temporal conv streams pending output sums instead of past inputs: a temporal-only kernel at
    temporal stride 1 whose output is narrower than its input (the (2+1)D blocks: mid -> planes channels), so
    the state is smaller (R(2+1)D-18 layer1: 64 instead of 144 channels per kept frame) and no tap
    concatenation is needed. Equal function: output ``t`` is ``sum_i W_i x_{t-kt+1+i}`` either way."""
    kt, kh, kw = layer.kernel_size
    return (kt > 1 and kh == kw == 1 and tuple(layer.strides) == (1, 1, 1) and tuple(layer.padding[1:]) == (0, 0)
            and layer.filters < int(layer.input.shape[-1]))


def _is_strided(layer) -> bool:
    """A temporal stride: the layer runs less often than its input arrives (its input comes from a faster step)."""
    return _is_temporal(layer) and layer.strides[0] > 1


@dataclass
class StreamPlan:
    """At which period every layer runs, which layers carry state, and what each step signature reads."""

    period: int
    levels: list[int]  # the step periods, fastest first: 1, 2, ..., period
    runs_every: dict[str, int]  # layer name -> period of the step that computes it
    feeds: dict[int, list[Any]] = field(default_factory=dict)  # id(tensor) -> strided convs reading it
    states: dict[str, tuple[int, ...]] = field(default_factory=dict)  # state name -> shape
    owners: dict[str, str] = field(default_factory=dict)  # state name -> the layer that keeps it
    reads: dict[int, list[str]] = field(default_factory=dict)  # step period -> state it reads (its outputs follow)

    def due(self, n: int) -> list[int]:
        """Periods of the steps that run on frame ``n`` (from 0), fastest first: the order to call them in."""
        return [every for every in self.levels if (n + 1) % every == 0]

    def schedule(self) -> list[list[str]]:
        """The step signatures to call for frame ``n``, at ``n % period``, in order."""
        return [[step_name(every) for every in self.due(p)] for p in range(self.period)]


def _inputs_of(layer) -> list[Any]:
    inputs = layer.input
    return list(inputs) if isinstance(inputs, list | tuple) else [inputs]


def _is_temporal(layer) -> bool:
    from edge_slr.models.layers import SpatioTemporalConv

    return isinstance(layer, SpatioTemporalConv) and (layer.kernel_size[0] > 1 or layer.strides[0] > 1)


def plan_stream(edge) -> StreamPlan:
    """Walk the 4-D causal model once: each layer's period, state shapes, what each step reads."""
    from edge_slr.models.blocks import CausalClipPool
    from edge_slr.models.layers import SpatioTemporalConv

    rate_of: dict[int, int] = {id(edge.input): 1}
    runs_every: dict[str, int] = {}
    feeds: dict[int, list[Any]] = {}
    states: dict[str, tuple[int, ...]] = {}
    owners: dict[str, str] = {}
    reads: dict[int, set[str]] = {}
    pool = None
    for layer in edge.layers[1:]:
        ins = [rate_of[id(t)] for t in _inputs_of(layer)]
        if len(set(ins)) != 1:
            raise UserError(f"{edge.name}: layer {layer.name} joins branches at different frame rates")
        rate = ins[0]
        if isinstance(layer, SpatioTemporalConv):
            if not layer.causal and _is_temporal(layer):
                raise UserError(f"{edge.name} is not causal ({layer.name}); --streaming needs a *_causal model")
            kt = layer.kernel_size[0]
            if _is_strided(layer):  # kt inputs from the step at `rate`, which writes them all and reads all but one
                feeds.setdefault(id(layer.input), []).append(layer)
                names = [input_name(layer.name, age) for age in range(kt)]
                reads.setdefault(rate, set()).update(names[:-1])
                reads.setdefault(rate * layer.strides[0], set()).update(names)
                shape = (1, *layer.input.shape[1:])
            else:
                names = [(sum_name if _keeps_sums(layer) else tap_name)(layer.name, age) for age in range(1, kt)]
                reads.setdefault(rate, set()).update(names)
                channels = layer.filters if _keeps_sums(layer) else int(layer.input.shape[-1])
                shape = (1, *layer.input.shape[1:3], channels)
            states.update({name: shape for name in names})
            owners.update({name: layer.name for name in names})
            rate *= layer.strides[0]
        if isinstance(layer, CausalClipPool):
            pool = layer
            # 4-D (W, 1, 1, C): the GPU delegate slices only 3-D/4-D tensors
            states[RING] = (layer.window, 1, 1, int(layer.input.shape[-1]))
            owners[RING] = layer.name
            reads.setdefault(rate, set()).add(RING)
        runs_every[layer.name] = rate_of[id(layer.output)] = rate
    if pool is None:
        raise UserError(f"{edge.name} has no causal pooling; --streaming applies to *_causal and CNN+LSTM models")
    period = runs_every[pool.name]
    levels = sorted({1, *runs_every.values()})
    return StreamPlan(period, levels, runs_every, feeds, states, owners, {r: sorted(reads.get(r, ())) for r in levels})


def _bn_affine(bn) -> tuple[np.ndarray, np.ndarray]:
    """Inference BatchNormalization as ``x * scale + shift`` per channel."""
    gamma = bn.gamma.numpy() if bn.scale else np.ones(bn.moving_mean.shape, np.float32)
    beta = bn.beta.numpy() if bn.center else np.zeros(bn.moving_mean.shape, np.float32)
    scale = gamma / np.sqrt(bn.moving_variance.numpy() + bn.epsilon)
    return scale.astype(np.float32), (beta - bn.moving_mean.numpy() * scale).astype(np.float32)


def build_causal_module(edge, size: int):
    """A ``tf.Module`` with one tf.function per step period, reusing the trained 4-D layers themselves."""
    tf, _ = import_tf()
    from edge_slr.export.fold import only_batchnorm_after
    from edge_slr.models.blocks import CausalClipPool

    plan = plan_stream(edge)
    frame_spec = tf.TensorSpec((1, size, size, 3), tf.float32, name=FRAME)
    # BatchNormalizations folded into the sum-keeping conv before them: conv name -> (scale, shift)
    affine = {layer.name: _bn_affine(bn) for layer in edge.layers if _is_temporal(layer) and _keeps_sums(layer)
              for bn in [only_batchnorm_after(layer)] if bn is not None}
    folded = {only_batchnorm_after(layer).name for layer in edge.layers if layer.name in affine}

    def step(every: int, state: dict[str, Any], frame=None) -> dict[str, Any]:
        values = {id(edge.input): frame}
        new_state: dict[str, Any] = {}
        for layer in edge.layers[1:]:
            if plan.runs_every[layer.name] != every:
                continue
            args = [values.get(id(t)) for t in _inputs_of(layer)]
            if isinstance(layer, CausalClipPool):  # a new final position: push its spatial mean into the ring
                pooled = tf.reduce_mean(args[0], axis=(1, 2), keepdims=True)
                ring = tf.concat([state[RING][1:], pooled], axis=0) if layer.window > 1 else pooled
                new_state[RING] = ring
                out = tf.reshape(tf.reduce_mean(ring, axis=0, keepdims=True), (1, -1))
            elif layer.name in folded:
                out = args[0]  # applied inside the sum-keeping conv before it
            elif _is_strided(layer):  # its inputs were written by the faster step that computes them
                kt = layer.kernel_size[0]
                out = layer.stream_step([state[input_name(layer.name, age)] for age in reversed(range(kt))])
            elif _is_temporal(layer) and _keeps_sums(layer):
                kt = layer.kernel_size[0]
                sums = [state[sum_name(layer.name, ahead)] for ahead in range(1, kt)]
                scale, shift = affine.get(layer.name, (None, None))
                out, pending = layer.stream_sums(args[0], sums, scale, shift)
                new_state.update({sum_name(layer.name, ahead): v for ahead, v in enumerate(pending, start=1)})
            elif _is_temporal(layer):
                kt = layer.kernel_size[0]
                seen = [args[0], *(state[tap_name(layer.name, age)] for age in range(1, kt))]  # by age
                new_state.update({tap_name(layer.name, age): seen[age - 1] for age in range(1, kt)})
                out = layer.stream_step(seen[::-1])  # oldest first
            else:
                out = layer(args if len(args) > 1 else args[0], training=False)
            values[id(layer.output)] = out
            for consumer in plan.feeds.get(id(layer.output), ()):  # inputs of a slower strided conv: shift them
                kt = consumer.kernel_size[0]
                new_state[input_name(consumer.name, 0)] = out
                new_state.update({input_name(consumer.name, age): state[input_name(consumer.name, age - 1)]
                                  for age in range(1, kt)})
        if every == plan.period:
            new_state[LOGITS] = values[id(edge.output)]
        return new_state

    class CausalStreaming(tf.Module):
        def __init__(self):
            super().__init__()
            self.model = edge
            self.plan = plan
            self.functions = {}
            for every in plan.levels:
                spec = {n: tf.TensorSpec(plan.states[n], tf.float32, name=n) for n in plan.reads[every]}
                if every == 1:
                    fn = tf.function(lambda frame, state: step(1, state, frame), input_signature=[frame_spec, spec])
                else:
                    fn = tf.function(lambda state, every=every: step(every, state), input_signature=[spec])
                self.functions[step_name(every)] = fn

    return CausalStreaming()


def stream_card(plan: StreamPlan, frames: int) -> dict[str, Any]:
    """The card's ``stream`` entry: everything a runtime needs to run the steps, no architecture."""
    return {"mode": MODE, "schedule": plan.schedule(), "frame_input": FRAME, "logits_output": LOGITS,
            "ready_after_frames": frames,
            "note": "for frame n call the signatures in schedule[n % len(schedule)] in order, each with the state "
                    "inputs it names (and the frame where it takes one); outputs named like a state replace it; "
                    "the newest logits output is the prediction; zero state at start and after reset"}


def calibrate(module, clips: Iterable[np.ndarray], limit: int) -> tuple[list[tuple], dict[str, tuple[float, float]]]:
    """Each step's real inputs from streaming float clips (representative data for full-integer PTQ), and
    the range each state and the frame get in every step: its owning layer's over all states it keeps,
    read and written (always including 0, the reset state), and 0..255 for the frame."""
    tf, _ = import_tf()
    plan = module.plan
    samples = []
    low: dict[str, float] = {}
    high: dict[str, float] = {}
    for i, clip in enumerate(clips):
        if i >= limit:
            break
        state = {n: np.zeros(s, np.float32) for n, s in plan.states.items()}
        for n, frame in enumerate(np.asarray(clip, np.float32)):
            for every in plan.due(n):
                key = step_name(every)
                inputs = {name: state[name] for name in plan.reads[every]}
                tensors = {k: tf.constant(v) for k, v in inputs.items()}
                if every == 1:
                    samples.append((key, {FRAME: frame[None], **inputs}))
                    out = module.functions[key](tf.constant(frame[None]), tensors)
                else:
                    samples.append((key, inputs))
                    out = module.functions[key](tensors)
                state.update({k: v.numpy() for k, v in out.items() if k != LOGITS})
                for name, value in [*inputs.items(), *((k, state[k]) for k in out if k != LOGITS)]:
                    owner = plan.owners[name]
                    low[owner] = min(low.get(owner, 0.0), float(value.min()))
                    high[owner] = max(high.get(owner, 0.0), float(value.max()))
    ranges = {name: (low[owner], max(high[owner], low[owner] + 1e-6))  # an all-zero state still gets a scale
              for name, owner in plan.owners.items() if owner in low}
    return samples, {FRAME: (0.0, 255.0), **ranges}


def convert_causal_streaming(edge, size: int, workdir, configure: Callable[[Any, Any], None],
                             calib_clips: Iterable[np.ndarray] | None = None, calib: int = 0
                             ) -> tuple[bytes, StreamPlan]:
    """SavedModel with one signature per step period -> one .tflite; ``configure(converter, representative)``."""
    tf, _ = import_tf()
    from tensorflow.lite.python.convert import mlir_quantize

    from edge_slr.runtime.tflite_file import set_io_ranges

    module = build_causal_module(edge, size)
    signatures = {key: fn.get_concrete_function() for key, fn in module.functions.items()}
    path = str(workdir / "causal_savedmodel")
    tf.saved_model.save(module, path, signatures=signatures)
    converter = tf.lite.TFLiteConverter.from_saved_model(path, signature_keys=list(signatures))
    if calib_clips is None:
        configure(converter, None)
        return converter.convert(), module.plan
    samples, ranges = calibrate(module, calib_clips, calib)
    configure(converter, lambda: iter(samples))
    # The converter's own PTQ would calibrate each signature's copy of a state separately (a different scale
    # in every signature); so calibrate only, give every state its one range, and quantize from those statistics.
    converter._experimental_calibrate_only = True
    calibrated = set_io_ranges(converter.convert(), ranges)
    quantized = mlir_quantize(calibrated, disable_per_channel=converter._experimental_disable_per_channel,
                              input_data_type=converter.inference_input_type,
                              output_data_type=converter.inference_output_type)
    return quantized, module.plan
