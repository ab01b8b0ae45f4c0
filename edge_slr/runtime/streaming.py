"""Streaming models at run time: signature names, zero state, and frame-by-frame recognition.

One module used by export (parity checks), evaluation (:class:`~edge_slr.runtime.clip_classifier.ClipClassifier`),
bench and the live pipeline, so the signature contract and the zero state are written down once.

A streaming CNN+LSTM export holds three signatures (see ``edge_slr.export.streaming``):

* ``encode_frame``: one frame ``(1, H, W, 3)`` -> ``feature (1, F)``;
* ``lstm_step``: ``feature`` plus explicit state ``h_*``/``c_*`` -> ``logits`` plus the new state;
* ``classify``: a window of features ``(T, F)`` -> ``logits``.

:class:`FrameStream` encodes each new frame exactly once and keeps the last ``T`` features in a ring, so
a prediction costs one frame encoding plus one ``classify`` over cached features, instead of a whole clip.
It classifies the feature window rather than stepping ``lstm_step`` forever: the LSTM was trained on
``T``-frame clips that start from the zero state, and a sliding window keeps every prediction on that
footing however long the stream runs. :meth:`FrameStream.step_state` is the explicit-state step for
callers that want it (bench times it as the per-new-frame path).
"""

from __future__ import annotations

import math

import numpy as np

from edge_slr.errors import UserError
from edge_slr.runtime.model_card import ModelCard
from edge_slr.runtime.runner import BoundSignature, TensorSpec, TFLiteRunner

ENCODE_FRAME = "encode_frame"
LSTM_STEP = "lstm_step"
CLASSIFY = "classify"
SIGNATURES = (ENCODE_FRAME, LSTM_STEP, CLASSIFY)
FEATURE = "feature"  # the per-frame input of ``lstm_step`` and output of ``encode_frame``
LOGITS = "logits"


def state_names(runner: TFLiteRunner, signature: str = LSTM_STEP, data_inputs: tuple[str, ...] = (FEATURE,)
                ) -> tuple[str, ...]:
    """Names of the explicit state inputs of ``signature``: every input that is not a data input."""
    return tuple(s.name for s in runner.input_specs(signature) if s.name not in data_inputs)


def init_state(runner: TFLiteRunner, signature: str = LSTM_STEP, data_inputs: tuple[str, ...] = (FEATURE,)
               ) -> dict[str, np.ndarray]:
    """The zero state of ``signature``: one float32 zero array per state input, shaped as the model says.

    Shared by both kinds of stream: a CNN+LSTM's ``lstm_step`` (data input ``feature``) and each step signature of
    a causal (2+1)D stream (data input: the card's ``stream.frame_input``). Float even for quantized state inputs:
    the runner (or :class:`PhaseStream`) quantizes them with the tensor's own scale, so zero lands on its zero point.
    """
    specs = {s.name: s for s in runner.input_specs(signature)}
    return {name: np.zeros(specs[name].shape, np.float32) for name in state_names(runner, signature, data_inputs)}


def require_streaming(runner: TFLiteRunner) -> None:
    """One-line error when ``runner``'s file lacks the streaming signatures."""
    missing = [name for name in (ENCODE_FRAME, CLASSIFY) if name not in runner.signatures]
    if missing:
        raise UserError(f"{runner.path.name} is marked streaming but lacks the signature(s) {', '.join(missing)}; "
                        "re-export it with `edge-slr export-tflite --streaming`")


class FrameStream:
    """Frame-by-frame recognition with a streaming export: each frame is encoded once.

    ``push(frame)`` encodes one preprocessed frame ``(H, W, 3)`` (or ``(1, H, W, 3)``) into the feature
    ring; :meth:`logits` classifies the newest ``window`` features once the ring is full.
    """

    def __init__(self, runner: TFLiteRunner, window: int):
        require_streaming(runner)
        self.runner = runner
        self.window = window
        self._ring: np.ndarray | None = None  # (window, F), allocated on the first frame
        self._count = 0  # frames pushed since the last reset
        self._state = init_state(runner) if LSTM_STEP in runner.signatures else {}

    @property
    def ready(self) -> bool:
        """Whether a full window of frames has been pushed since the last reset."""
        return self._count >= self.window

    def reset(self) -> None:
        """Forget every frame (e.g. when the signer's hands go down): the next window starts empty."""
        self._count = 0
        self._state = {k: np.zeros_like(v) for k, v in self._state.items()}

    def push(self, frame: np.ndarray) -> np.ndarray:
        """Encode one new frame and return its feature ``(F,)``."""
        frame = np.asarray(frame, dtype=np.float32)
        if frame.ndim == 3:
            frame = frame[None]
        feature = self.runner.run(frame, ENCODE_FRAME)[FEATURE][0]
        if self._ring is None:
            self._ring = np.zeros((self.window, feature.shape[-1]), np.float32)
        self._ring[self._count % self.window] = feature
        self._count += 1
        return feature

    def features(self) -> np.ndarray:
        """The newest ``window`` features in time order ``(window, F)``."""
        if not self.ready or self._ring is None:
            raise RuntimeError(f"need {self.window} frames, have {self._count}")
        start = self._count % self.window
        return np.concatenate([self._ring[start:], self._ring[:start]]) if start else self._ring.copy()

    def logits(self) -> np.ndarray | None:
        """Logits ``(num_classes,)`` of the newest window, or None until the window is full."""
        if not self.ready:
            return None
        return self.runner.run(self.features(), CLASSIFY)[LOGITS].reshape(-1)

    def step_state(self, feature: np.ndarray) -> np.ndarray:
        """One explicit-state ``lstm_step`` on ``feature (F,)``; returns its logits and keeps the new state."""
        if LSTM_STEP not in self.runner.signatures:
            raise UserError(f"{self.runner.path.name} has no {LSTM_STEP} signature")
        out = self.runner.run({FEATURE: np.asarray(feature, np.float32).reshape(1, -1), **self._state}, LSTM_STEP)
        self._state = {name: out[name] for name in self._state}
        return out[LOGITS].reshape(-1)


CAUSAL_MODE = "causal_phases"  # the card's stream.mode of causal (2+1)D exports (edge_slr.export.causal_stream)


class PhaseStream:
    """Frame-by-frame recognition with a causal (2+1)D streaming export: step signatures per frame.

    The card's ``stream`` entry lists, per frame position ``n % len(schedule)``, the signatures to call in order
    (``schedule``): each gets the state inputs it names (and the frame
    where it takes one); every output named like a state replaces it; the newest ``logits`` output is the
    prediction. No architecture knowledge here: temporal strides live in the schedule.
    Same surface as :class:`FrameStream`: ``push``, ``ready``, ``logits()``, ``reset()``.

    The state lives in the signatures' own input buffers (:meth:`TFLiteRunner.bind`): after a call, each state it
    writes is copied once, straight into the input of every signature that reads it before its next writer,
    through numpy views taken when this stream takes the buffers over (TFLite moves a buffer only when it
    re-allocates, which only a bind or ``run()`` does, and either makes this stream refuse to push). R(2+1)D-18 at
    112 px carries megabytes of state per frame; ``run()`` would copy it in, copy it out into fresh arrays and
    check every input, which cost about a tenth of a step. So one stream owns its runner's buffers: a second
    stream or a ``run()`` on the same runner takes them over (this one then refuses to push).
    """

    def __init__(self, runner: TFLiteRunner, stream: dict):
        self.runner = runner
        if any(isinstance(entry, str) for entry in stream["schedule"]):  # one phase signature per frame position
            raise UserError(f"{runner.path.name} is a causal stream from an older edge-slr (one signature per phase); "
                            "re-export it with `edge-slr export-tflite --streaming`")
        self.schedule = tuple(tuple(entry) for entry in stream["schedule"])
        self.frame_input = str(stream["frame_input"])
        self.logits_output = str(stream["logits_output"])
        self.window = int(stream["ready_after_frames"])
        names = list(dict.fromkeys(sig for entry in self.schedule for sig in entry))
        missing = [s for s in names if s not in runner.signatures]
        if missing:
            raise UserError(f"{runner.path.name} lacks the step signature(s) {', '.join(missing)} its card names")
        self._bound = {sig: runner.bind(sig) for sig in names}
        self.reset()

    def _plan(self) -> list[list[tuple[BoundSignature, list[_Copy]]]]:
        """Per frame position: each call's signature and the ordered copies that follow it, decided once."""
        calls = [sig for entry in self.schedule for sig in entry]
        reads = [set(self._bound[sig].inputs) - {self.frame_input} for sig in calls]
        plan: list[list[tuple[BoundSignature, list[_Copy]]]] = []
        c = 0
        for entry in self.schedule:
            plan.append([])
            for sig in entry:
                bound = self._bound[sig]
                copies = []
                for name in bound.outputs:
                    if name == self.logits_output:
                        continue
                    targets: dict[str, None] = {}
                    for step in range(1, len(calls) + 1):  # readers until the next writer, wrapping around
                        d = (c + step) % len(calls)
                        if name in reads[d]:
                            targets[calls[d]] = None
                        if name in self._bound[calls[d]].outputs:
                            break
                    copies += [_Copy(bound, name, self._bound[t]) for t in targets]
                plan[-1].append((bound, _ordered(sig, [cp for cp in copies if cp.src_key != cp.dst_key])))
                c += 1
        return plan

    @property
    def steps(self) -> dict[str, BoundSignature]:
        """The bound step signatures by name (tools time them one by one; invoking one outside :meth:`push`
        leaves this stream's state undefined until :meth:`reset`)."""
        return dict(self._bound)

    @property
    def ready(self) -> bool:
        """Whether a clip's worth of frames has been pushed since the last reset."""
        return self._count >= self.window

    def reset(self) -> None:
        """Back to the zero state (e.g. when the signer's hands go down); takes over the runner's buffers."""
        for sig, bound in self._bound.items():
            for name, zero in init_state(self.runner, sig, (self.frame_input,)).items():
                spec = bound.inputs[name]
                bound.input(name)[...] = spec.quantize(zero) if spec.quantized else zero
        self.runner.buffer_owner = self
        self._calls = self._plan()  # views re-read on every takeover
        self._frames = {sig: (bound.inputs[self.frame_input], bound.input(self.frame_input))
                        for sig, bound in self._bound.items() if self.frame_input in bound.inputs}
        self._outs = {sig: (bound.outputs[self.logits_output], bound.output(self.logits_output))
                      for sig, bound in self._bound.items() if self.logits_output in bound.outputs}
        self._count = 0
        self._logits: np.ndarray | None = None

    def push(self, frame: np.ndarray) -> None:
        """Run the next frame position's calls on one preprocessed frame ``(H, W, 3)`` (or ``(1, H, W, 3)``)."""
        if self.runner.buffer_owner is not self:
            raise RuntimeError("another stream or run() used this runner's buffers; open a new stream")
        frame = np.asarray(frame)
        for bound, copies in self._calls[self._count % len(self._calls)]:
            if bound.key in self._frames:
                spec, view = self._frames[bound.key]
                if frame.shape not in (spec.shape, spec.shape[1:]):
                    raise UserError(f"{self.runner.path.name}: a frame must be {spec.shape[1:]}, got {frame.shape}")
                view[...] = (spec.quantize(frame) if spec.quantized else frame).reshape(spec.shape)
            bound.invoke()
            for copy in copies:
                copy.run()
            if bound.key in self._outs:
                spec, view = self._outs[bound.key]
                self._logits = (spec.dequantize(view) if spec.quantized else view.astype(np.float32)).reshape(-1)
        self._count += 1

    def logits(self) -> np.ndarray | None:
        """Logits ``(num_classes,)`` over the newest clip-long span, or None before a full clip."""
        return self._logits if self.ready else None


class _Copy:
    """One state output copied into a reader's input: as it is when both hold the same numbers the same way,
    else through real values (float <-> quantized, or two different scales)."""

    def __init__(self, src: BoundSignature, name: str, dst: BoundSignature):
        self.src_spec, self.dst_spec = src.outputs[name], dst.inputs[name]
        # The buffers' identities: an output that passes an input on unchanged is that input's tensor.
        self.src_key, self.dst_key = (src.key, self.src_spec.index), (dst.key, self.dst_spec.index)
        self.src, self.dst = src.output(name), dst.input(name)
        self.same = _same_numbers(self.src_spec, self.dst_spec)

    def run(self) -> None:
        value = self.src
        if not self.same:
            real = self.src_spec.dequantize(value) if self.src_spec.quantized else value
            value = self.dst_spec.quantize(real) if self.dst_spec.quantized else real
        np.copyto(self.dst, value, casting="unsafe")


def _ordered(signature: str, copies: list[_Copy]) -> list[_Copy]:
    """``copies`` ordered so that each buffer is read before it is written (a kept frame passed on as the next
    older one is copied out of its input before the newer one lands there)."""
    ordered, left = [], list(copies)
    while left:
        ready = [cp for cp in left if not any(other is not cp and other.src_key == cp.dst_key for other in left)]
        if not ready:
            raise UserError(f"the state copies after '{signature}' form a cycle; re-export the model with "
                            "`edge-slr export-tflite --streaming`")
        ordered += ready
        left = [cp for cp in left if all(cp is not r for r in ready)]
    return ordered


def _same_numbers(src: TensorSpec, dst: TensorSpec) -> bool:
    """Whether a state output can be copied into an input as it is: same dtype and quantization. Scales that
    differ in the last float32 digits (the quantizer derives each signature's from the same range) count as equal."""
    return src.dtype == dst.dtype and src.zero_point == dst.zero_point and \
        math.isclose(src.scale, dst.scale, rel_tol=1e-6)


def open_frame_stream(runner: TFLiteRunner, card: ModelCard) -> FrameStream | PhaseStream:
    """The frame streamer for a streaming export: :class:`PhaseStream` when the card has a causal
    ``stream`` schedule, else :class:`FrameStream` (CNN+LSTM ``encode_frame``/``classify``)."""
    if not card.streaming:
        raise UserError(f"{runner.path.name} is a full-clip model; frame streaming needs a --streaming export")
    stream = card.raw.get("stream")
    if isinstance(stream, dict) and stream.get("mode") == CAUSAL_MODE:
        return PhaseStream(runner, stream)
    return FrameStream(runner, card.frames)
