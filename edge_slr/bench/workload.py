"""What one benchmark call runs: the model's own entry point, a named signature, or a stream step.

The default is what the live pipeline pays per inference: a whole clip for a full-clip model, and
for a streaming model the per-new-frame path: for a CNN+LSTM ``encode_frame`` of one frame plus one
explicit-state ``lstm_step`` (the state is carried from call to call, starting at :func:`init_state`); for a
causal (2+1)D stream one :meth:`PhaseStream.push`, each call the next frame position of the card's schedule
(every step signature due on that frame), so the ``mean`` column is the mean cost per new frame (the median is a
frame on which only the fast steps run). Every call goes through
:class:`TFLiteRunner` (input checks, quantization of float inputs), as on a device.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from edge_slr.errors import UserError, unknown_choice
from edge_slr.runtime.model_card import ModelCard
from edge_slr.runtime.runner import TFLiteRunner
from edge_slr.runtime.streaming import CAUSAL_MODE, ENCODE_FRAME, FEATURE, LOGITS, LSTM_STEP, PhaseStream, init_state

from .inputs import random_feed, value_range

STREAM_STEP = f"{ENCODE_FRAME}+{LSTM_STEP}"


@dataclass
class Workload:
    """One benchmark call and what it covers."""

    label: str  # e.g. "serving_default", "encode_frame+lstm_step"
    signatures: tuple[str | None, ...]  # signatures it runs (None: a file without signatures)
    flops: float | None  # FLOPs of one call, from the model card; None when unknown
    flops_exact: bool  # False when derived (per-frame share of the clip's FLOPs)
    call: Callable[[], object]
    real_inputs: int = 0  # clips it cycles through (0: random inputs)


def build_workload(runner: TFLiteRunner, card: ModelCard | None, signature: str | None,
                   rng: np.random.Generator, clips: list[np.ndarray] | None = None) -> Workload:
    """The call to time for ``runner``; ``signature`` overrides the model's own entry point.

    ``clips`` (real preprocessed clips, from ``--data``) feed the default entry point; a named
    signature other than the clip/frame input gets random inputs.
    """
    lo_hi = value_range(card)
    clip_flops = float(card.raw["flops_per_clip"]) if card is not None and card.raw.get("flops_per_clip") else None
    causal = card is not None and card.streaming and (card.raw.get("stream") or {}).get("mode") == CAUSAL_MODE
    if causal and signature in (None, STREAM_STEP):
        return _phase_step(runner, card, rng, clips, clip_flops)
    streaming = card is not None and card.streaming and {ENCODE_FRAME, LSTM_STEP} <= set(runner.signatures)
    if signature is not None and signature != STREAM_STEP and signature not in runner.signatures:
        raise unknown_choice("signature", signature, [*runner.signatures, *([STREAM_STEP] if streaming else [])])
    if signature == STREAM_STEP and not streaming:
        raise UserError(f"{runner.path.name} is not a streaming export with {ENCODE_FRAME} and {LSTM_STEP}")
    if streaming and signature in (None, STREAM_STEP):
        return _stream_step(runner, card, rng, clips, clip_flops)
    key = signature if signature is not None else runner.default_signature
    if key is None and runner.signatures:  # several signatures, none named: the first is the entry point
        key = runner.signatures[0]
    specs = runner.input_specs(key)
    is_entry = signature is None and not streaming
    if is_entry and clips is not None and len(specs) == 1:
        frames = itertools.cycle(clips)
        feed_name = specs[0].name

        def call_clip() -> object:
            return runner.run({feed_name: next(frames)}, key)

        call, real = call_clip, len(clips)
    else:
        feed = random_feed(specs, rng, lo_hi)
        if key == LSTM_STEP:
            feed.update(init_state(runner))

        def call_feed() -> object:
            return runner.run(feed, key)

        call, real = call_feed, 0
    return Workload(label=key or "main", signatures=(key,), flops=clip_flops if is_entry else None,
                    flops_exact=True, call=call, real_inputs=real)


def _stream_step(runner: TFLiteRunner, card: ModelCard, rng: np.random.Generator,
                 clips: list[np.ndarray] | None, clip_flops: float | None) -> Workload:
    (spec,) = runner.input_specs(ENCODE_FRAME)
    frames = _new_frames(card, rng, clips, spec.shape)
    state = init_state(runner)

    def step() -> object:
        nonlocal state
        feature = runner.run(next(frames), ENCODE_FRAME)[FEATURE]
        out = runner.run({FEATURE: feature, **state}, LSTM_STEP)
        state = {name: out[name] for name in state}
        return out[LOGITS]

    return _per_new_frame(STREAM_STEP, (ENCODE_FRAME, LSTM_STEP), step, card, clips, clip_flops)


def _phase_step(runner: TFLiteRunner, card: ModelCard, rng: np.random.Generator,
                clips: list[np.ndarray] | None, clip_flops: float | None) -> Workload:
    """One new frame through a causal stream: each call pushes a frame, running the steps due on it."""
    stream = PhaseStream(runner, card.raw["stream"])
    frames = _new_frames(card, rng, clips, (card.size, card.size, 3))

    def step() -> object:
        stream.push(next(frames))
        return stream.logits()

    steps = tuple(dict.fromkeys(sig for entry in stream.schedule for sig in entry))
    return _per_new_frame(f"{'+'.join(steps)} as due", steps, step, card, clips, clip_flops)


def _new_frames(card: ModelCard, rng: np.random.Generator, clips: list[np.ndarray] | None,
                shape: tuple[int, ...]) -> Iterator[np.ndarray]:
    """The frames a per-new-frame workload feeds, shaped ``shape``: the real clips' frames in turn, else one
    random frame in the card's value range."""
    if clips is not None:
        return itertools.cycle(frame.reshape(shape) for clip in clips for frame in clip)
    lo, hi = value_range(card)
    return itertools.repeat(rng.uniform(lo, hi, shape).astype(np.float32))


def _per_new_frame(label: str, signatures: tuple[str, ...], step: Callable[[], object], card: ModelCard,
                   clips: list[np.ndarray] | None, clip_flops: float | None) -> Workload:
    # The card counts a whole clip; one new frame costs about 1/T of it.
    return Workload(label=label, signatures=signatures, flops=clip_flops / card.frames if clip_flops else None,
                    flops_exact=False, call=step, real_inputs=len(clips) if clips is not None else 0)
