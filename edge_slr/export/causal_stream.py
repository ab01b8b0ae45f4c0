"""Streaming export of causal (2+1)D models: one-frame step signatures with explicit 4-D state.

A causal temporal conv (``SpatioTemporalConv(causal=True)``) keeps its last ``kt - 1`` input frames as state, one
``(1, H, W, C)`` tensor per frame (``<layer>_prev1`` the newest): a step concatenates them with the new frame on
the channel axis for one conv, returns the new frame as ``_prev1`` and each ``_prev{i}`` as ``_prev{i+1}``
unchanged, so the graph slices nothing (one ``(kt-1, H, W, C)`` tensor cost a CONCATENATION on the batch axis, a
STRIDED_SLICE for the kept tail and one per tap, each a full copy). A temporal-only conv at temporal stride 1 whose
output is narrower than its input (the (2+1)D blocks' mid -> planes convs) keeps instead what the past inputs owe
its next ``kt - 1`` outputs (``<layer>_acc1`` .. ``_acc{kt-1}``, output channels, its BatchNormalization folded
in): one 1x1 conv per tap and ADDs, no concatenation, and less state (R(2+1)D-18 layer1: 64 instead of 144 channels
per kept frame), the same function. A layer with temporal stride ``st`` fires on the last frame of every group of
``st`` input frames. With cumulative stride ``P`` (4 for ``r2plus1d_small``, 8 for ``r2plus1d_18``) the pattern
repeats every ``P`` frames, so the export holds ``P`` fixed graphs ``phase_0 .. phase_{P-1}`` (no control flow):
the host calls ``phase_{n % P}`` for frame ``n``. Each takes ``frame (1, H, W, 3)`` plus only the state it reads
and returns ``logits`` plus only the state it writes. The head keeps a ring ``pool_ring (W, 1, 1, C)`` of the last
``W`` pooled positions (``W`` = positions of one training clip), so after ``T`` frames from the zero state the
logits equal the causal full-clip model's. Every phase returns logits (from the ring), so the newest prediction is
always available. The schedule goes into the model card (``stream``), so a runtime needs no architecture knowledge.
A phase in which a layer's conv does not fire only shifts its taps, so it does not read the oldest one.

Full-integer exports keep the state in int8 tensors, so a host moves a quarter of the bytes and the phases lose a
QUANTIZE/DEQUANTIZE per state (R(2+1)D-18 at 112 px carries about 17 MB of float state per frame). Calibration
runs the float phases over clips as a stream, and the quantizer gets every state's range as the range of its
owning layer over everything read and written (the frame: 0..255): the same range everywhere, so each state has
one scale in every phase and a host copies it as it is.
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


def phase_name(p: int) -> str:
    return f"phase_{p}"


def tap_name(layer: str, age: int) -> str:
    """State name of the input frame a temporal conv saw ``age`` frames of its input rate ago."""
    return f"{layer}_prev{age}"


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


@dataclass
class StreamPlan:
    """Which layers carry state, at which frame rate they run, and which phase reads/writes what."""

    period: int
    rates: dict[str, int]  # layer name -> input period (frames between two inputs)
    states: dict[str, tuple[int, ...]] = field(default_factory=dict)  # state name -> shape
    owners: dict[str, str] = field(default_factory=dict)  # state name -> the layer that keeps it
    reads: list[list[str]] = field(default_factory=list)
    writes: list[list[str]] = field(default_factory=list)


def _inputs_of(layer) -> list[Any]:
    inputs = layer.input
    return list(inputs) if isinstance(inputs, list | tuple) else [inputs]


def _is_temporal(layer) -> bool:
    from edge_slr.models.layers import SpatioTemporalConv

    return isinstance(layer, SpatioTemporalConv) and (layer.kernel_size[0] > 1 or layer.strides[0] > 1)


def plan_stream(edge) -> StreamPlan:
    """Walk the 4-D causal model once: input periods, state shapes, per-phase reads and writes."""
    from edge_slr.models.blocks import CausalClipPool
    from edge_slr.models.layers import SpatioTemporalConv

    rate_of: dict[int, int] = {id(edge.input): 1}
    rates: dict[str, int] = {}
    states: dict[str, tuple[int, ...]] = {}
    owners: dict[str, str] = {}
    fire_period: dict[str, int] = {}  # a layer's oldest kept input -> frames between two firings of its conv
    pool = None
    for layer in edge.layers[1:]:
        ins = [rate_of[id(t)] for t in _inputs_of(layer)]
        if len(set(ins)) != 1:
            raise UserError(f"{edge.name}: layer {layer.name} joins branches at different frame rates")
        rates[layer.name] = rate = ins[0]
        if isinstance(layer, SpatioTemporalConv):
            if not layer.causal and _is_temporal(layer):
                raise UserError(f"{edge.name} is not causal ({layer.name}); --streaming needs a *_causal model")
            for age in range(1, layer.kernel_size[0]):
                if _keeps_sums(layer):
                    name, shape = sum_name(layer.name, age), (1, *layer.input.shape[1:3], layer.filters)
                else:
                    name, shape = tap_name(layer.name, age), (1, *layer.input.shape[1:])
                states[name] = shape
                owners[name] = layer.name
            if not _keeps_sums(layer) and layer.kernel_size[0] > 1:
                fire_period[tap_name(layer.name, layer.kernel_size[0] - 1)] = rate * layer.strides[0]
            rate *= layer.strides[0]
        if isinstance(layer, CausalClipPool):
            pool = layer
            # 4-D (W, 1, 1, C): the GPU delegate slices only 3-D/4-D tensors
            states[RING] = (layer.window, 1, 1, int(layer.input.shape[-1]))
            owners[RING] = layer.name
        rate_of[id(layer.output)] = rate
    if pool is None:
        raise UserError(f"{edge.name} has no causal pooling; --streaming applies to *_causal and CNN+LSTM models")
    period = rates[pool.name]
    plan = StreamPlan(period, rates, states, owners)
    for p in range(period):
        live = [name for name in states if (p + 1) % rates[owners[name]] == 0]
        idle = {name for name in live if (p + 1) % fire_period.get(name, 1)}  # shifted out unread
        plan.reads.append(sorted((set(live) - idle) | {RING}))
        plan.writes.append(sorted(live))
    return plan


def _bn_affine(bn) -> tuple[np.ndarray, np.ndarray]:
    """Inference BatchNormalization as ``x * scale + shift`` per channel."""
    gamma = bn.gamma.numpy() if bn.scale else np.ones(bn.moving_mean.shape, np.float32)
    beta = bn.beta.numpy() if bn.center else np.zeros(bn.moving_mean.shape, np.float32)
    scale = gamma / np.sqrt(bn.moving_variance.numpy() + bn.epsilon)
    return scale.astype(np.float32), (beta - bn.moving_mean.numpy() * scale).astype(np.float32)


def build_causal_module(edge, size: int):
    """A ``tf.Module`` with one tf.function per phase, reusing the trained 4-D layers themselves."""
    tf, _ = import_tf()
    from edge_slr.export.fold import only_batchnorm_after
    from edge_slr.models.blocks import CausalClipPool

    plan = plan_stream(edge)
    frame_spec = tf.TensorSpec((1, size, size, 3), tf.float32, name=FRAME)
    # BatchNormalizations folded into the sum-keeping conv before them: conv name -> (scale, shift)
    affine = {layer.name: _bn_affine(bn) for layer in edge.layers if _is_temporal(layer) and _keeps_sums(layer)
              for bn in [only_batchnorm_after(layer)] if bn is not None}
    folded = {only_batchnorm_after(layer).name for layer in edge.layers if layer.name in affine}

    def step(p: int, frame, state: dict[str, Any]) -> dict[str, Any]:
        values = {id(edge.input): frame}
        new_state: dict[str, Any] = {}
        for layer in edge.layers[1:]:
            args = [values.get(id(t)) for t in _inputs_of(layer)]
            rate = plan.rates[layer.name]
            if isinstance(layer, CausalClipPool):
                ring = state[RING]
                if args[0] is not None:  # a new final position: push its spatial mean into the ring
                    pooled = tf.reduce_mean(args[0], axis=(1, 2), keepdims=True)
                    ring = tf.concat([ring[1:], pooled], axis=0) if layer.window > 1 else pooled
                    new_state[RING] = ring
                out = tf.reshape(tf.reduce_mean(ring, axis=0, keepdims=True), (1, -1))
            elif any(a is None for a in args):
                out = None  # this layer's input did not fire on this phase
            elif layer.name in folded:
                out = args[0]  # applied inside the sum-keeping conv before it
            elif _is_temporal(layer) and _keeps_sums(layer):
                kt = layer.kernel_size[0]
                sums = [state[sum_name(layer.name, ahead)] for ahead in range(1, kt)]
                scale, shift = affine.get(layer.name, (None, None))
                out, pending = layer.stream_sums(args[0], sums, scale, shift)
                new_state.update({sum_name(layer.name, ahead): v for ahead, v in enumerate(pending, start=1)})
            elif _is_temporal(layer):
                kt = layer.kernel_size[0]
                seen = [args[0], *(state.get(tap_name(layer.name, age)) for age in range(1, kt))]  # by age
                for age in range(1, kt):
                    new_state[tap_name(layer.name, age)] = seen[age - 1]
                fires = (p + 1) % (rate * layer.strides[0]) == 0
                out = layer.stream_step(seen[::-1]) if fires else None  # oldest first
            else:
                out = layer(args if len(args) > 1 else args[0], training=False)
            values[id(layer.output)] = out
        return {LOGITS: values[id(edge.output)], **new_state}

    class CausalStreaming(tf.Module):
        def __init__(self):
            super().__init__()
            self.model = edge
            self.plan = plan
            self.functions = {}
            for p in range(plan.period):
                spec = {n: tf.TensorSpec(plan.states[n], tf.float32, name=n) for n in plan.reads[p]}
                self.functions[phase_name(p)] = tf.function(
                    lambda frame, state, p=p: step(p, frame, state), input_signature=[frame_spec, spec])

    return CausalStreaming()


def stream_card(plan: StreamPlan, frames: int) -> dict[str, Any]:
    """The card's ``stream`` entry: everything a runtime needs to run the phases, no architecture."""
    return {"mode": MODE, "schedule": [phase_name(p) for p in range(plan.period)], "frame_input": FRAME,
            "logits_output": LOGITS, "ready_after_frames": frames,
            "note": "call schedule[n % len(schedule)] for frame n with the frame and the state inputs it names; "
                    "outputs named like a state replace it; zero state at start and after reset"}


def calibrate(module, clips: Iterable[np.ndarray], limit: int) -> tuple[list[tuple], dict[str, tuple[float, float]]]:
    """Each phase's real inputs from streaming float clips (representative data for full-integer PTQ), and
    the range each state and the frame get in every phase: its owning layer's over all states it keeps,
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
            key = phase_name(n % plan.period)
            inputs = {name: state[name] for name in plan.reads[n % plan.period]}
            samples.append((key, {FRAME: frame[None], **inputs}))
            out = module.functions[key](tf.constant(frame[None]), {k: tf.constant(v) for k, v in inputs.items()})
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
    """SavedModel with one signature per phase -> one .tflite; ``configure(converter, representative)``."""
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
    # The converter's own PTQ would calibrate each phase's copy of a state separately (a different scale in
    # every phase); so calibrate only, give every state its one range, and quantize from those statistics.
    converter._experimental_calibrate_only = True
    calibrated = set_io_ranges(converter.convert(), ranges)
    quantized = mlir_quantize(calibrated, disable_per_channel=converter._experimental_disable_per_channel,
                              input_data_type=converter.inference_input_type,
                              output_data_type=converter.inference_output_type)
    return quantized, module.plan
