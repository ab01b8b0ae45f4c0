"""The one TFLite runner used by the live pipeline, the demo and the benchmarks.

Wraps ``ai_edge_litert.interpreter.Interpreter`` (no TensorFlow) with what every caller needs and
the bare interpreter leaves to them:

- inputs are checked against the model (names, rank, shape, dtype) and rejected with one line
  instead of a C++ error or, worse, a silent broadcast;
- quantized int8/uint8/int16 inputs accept float arrays and are quantized with the tensor's own
  scale and zero point; quantized outputs come back as float32 (``dequantize=False`` for raw);
- any signature of a multi-signature file (``encode_frame``, ``lstm_step``, ...) runs by name on
  one interpreter, through ``get_signature_runner``;
- models with variable tensors (the fused LSTM keeps h/c between invokes) are reset before each
  run by default, so the same input always gives the same output;
- XNNPACK on or off, extra delegates (e.g. a GPU delegate from ``load_delegate``), thread count,
  explicit ``close()`` and a context manager (no ``__del__``).

A runner is not thread-safe: use one per thread (the live pipeline has one inference worker).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from edge_slr.errors import UserError, unknown_choice
from edge_slr.runtime.tflite_file import TFLiteModel, parse_model, read_model_bytes
from edge_slr.utils.native_stderr import quiet_native_stderr

_QUANTIZED_DTYPES = (np.int8, np.uint8, np.int16)


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of a signature, as the interpreter reports it."""

    name: str  # signature name of the input/output (tensor name for models without signatures)
    index: int  # tensor index in the signature's subgraph
    shape: tuple[int, ...]
    shape_signature: tuple[int, ...]  # -1 marks a dynamic dimension
    dtype: np.dtype
    scale: float  # 0.0 when the tensor is not (per-tensor) quantized
    zero_point: int

    @property
    def quantized(self) -> bool:
        return self.scale != 0.0 and self.dtype.type in _QUANTIZED_DTYPES

    def describe(self) -> str:
        dims = ", ".join("?" if d < 0 else str(d) for d in self.shape_signature)
        return f"({dims}) {self.dtype.name}" + (f" quantized (scale {self.scale:g}, zero point "
                                                 f"{self.zero_point})" if self.quantized else "")

    def quantize(self, x: np.ndarray) -> np.ndarray:
        """Real values -> this tensor's integer type: ``round(x / scale) + zero_point``, saturated."""
        info = np.iinfo(self.dtype)
        q = np.round(np.asarray(x, dtype=np.float32) / np.float32(self.scale)) + self.zero_point
        return np.clip(q, info.min, info.max).astype(self.dtype)

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        """This tensor's integers -> real values: ``scale * (q - zero_point)`` as float32."""
        return (np.float32(self.scale) * (q.astype(np.int32) - self.zero_point)).astype(np.float32)


class TFLiteRunner:
    """Run a .tflite model: validated inputs, (de)quantization, named signatures.

    ``signature`` picks the default entry point of :meth:`run`; it may be left out when the file
    has at most one signature. ``num_threads=None`` uses every CPU core. ``delegates`` are
    ``ai_edge_litert.interpreter.load_delegate`` objects applied before XNNPACK (which then takes
    what they leave, unless ``use_xnnpack=False``); the runner keeps them alive while it lives.
    """

    def __init__(self, model_path: str | os.PathLike[str], *, num_threads: int | None = None,
                 use_xnnpack: bool = True, signature: str | None = None, reset_variables: bool = True,
                 delegates: Sequence[Any] = ()):
        if num_threads is not None and num_threads < 1:
            raise UserError(f"num_threads must be >= 1, got {num_threads}")
        self.path = Path(model_path)
        data = read_model_bytes(self.path)
        self.model: TFLiteModel = parse_model(data, source=str(self.path))
        self.num_threads = num_threads or os.cpu_count() or 1
        self.use_xnnpack = use_xnnpack
        self.reset_variables = reset_variables
        keys = [s.key for s in self.model.signatures]
        if signature is not None and signature not in keys:
            raise unknown_choice("signature", signature, keys)
        self._default = signature if signature is not None else (keys[0] if len(keys) == 1 else None)
        resolver = (OpResolverType.BUILTIN if use_xnnpack
                    else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        try:
            with quiet_native_stderr():  # "INFO: Created TensorFlow Lite XNNPACK delegate" is not for users
                self._interpreter: Interpreter | None = Interpreter(
                    model_content=data, num_threads=self.num_threads, experimental_op_resolver_type=resolver,
                    experimental_delegates=list(delegates) or None)
                self._interpreter.allocate_tensors()
        except (RuntimeError, ValueError) as exc:
            raise UserError(f"ai-edge-litert cannot load {self.path}: {_first_line(exc)}") from None
        self._sig_runners: dict[str, Any] = {}
        self._specs: dict[str | None, tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]] = {}
        self._primary_shapes: dict[int, tuple[int, ...]] = {}  # resized inputs, no-signature models
        #: Whoever keeps state in this runner's input buffers between calls (a ``PhaseStream``, see :meth:`bind`);
        #: :meth:`run` clears it, because it overwrites inputs.
        self.buffer_owner: object | None = None

    # -- what the model expects --------------------------------------------------------------

    @property
    def signatures(self) -> tuple[str, ...]:
        return tuple(s.key for s in self.model.signatures)

    @property
    def default_signature(self) -> str | None:
        return self._default

    @property
    def stateful(self) -> bool:
        """Whether the model keeps variable tensors between invokes (e.g. a fused LSTM's h and c)."""
        return any(t.is_variable for sg in self.model.subgraphs for t in sg.tensors)

    def input_specs(self, signature: str | None = None) -> tuple[TensorSpec, ...]:
        return self._io_specs(signature)[0]

    def output_specs(self, signature: str | None = None) -> tuple[TensorSpec, ...]:
        return self._io_specs(signature)[1]

    # -- running -----------------------------------------------------------------------------

    def run(self, inputs: np.ndarray | Mapping[str, np.ndarray], signature: str | None = None, *,
            dequantize: bool = True) -> dict[str, np.ndarray]:
        """Run one signature (default: the runner's) and return its outputs by name.

        ``inputs`` is one array for a single-input signature, else a mapping name -> array.
        Float arrays for quantized inputs are quantized; arrays already in the input's integer
        dtype are passed through as quantized values.
        """
        interpreter = self._live()
        key = self._resolve(signature)
        in_specs, out_specs = self._io_specs(key)
        feed = self._prepare(inputs, in_specs, key)
        self.buffer_owner = None
        if self.reset_variables and self.stateful:
            interpreter.reset_all_variables()
        try:
            if key is None:
                raw = self._run_primary(interpreter, feed, in_specs, out_specs)
            else:
                raw = self._signature_runner(key)(**feed)
        except (RuntimeError, ValueError) as exc:
            raise UserError(f"{self.path.name}: inference failed: {_first_line(exc)}") from None
        outputs = {}
        for spec in out_specs:
            value = raw[spec.name]
            outputs[spec.name] = spec.dequantize(value) if dequantize and spec.quantized else value
        return outputs

    def bind(self, signature: str) -> BoundSignature:
        """In-place access to one signature: numpy views of its input and output buffers, and ``invoke()``.

        For per-frame loops whose state is tens of MB (a causal (2+1)D stream): :meth:`run` checks every input,
        copies it in and returns a freshly allocated copy of every output, which for R(2+1)D-18 cost about a
        tenth of a step. Callers of ``bind`` copy into the views themselves, in the tensor's own dtype.
        ai-edge-litert's ``Interpreter.tensor()`` reaches only the primary subgraph; its wrapper's ``tensor``
        takes a subgraph index, which is what the views use.
        """
        key = self._resolve(signature)
        if key is None:
            raise UserError(f"{self.path.name} has no signatures to bind")
        sig_runner = self._signature_runner(key)
        ins, outs = self._io_specs(key)
        wrapper = self._live()._interpreter
        subgraph = int(sig_runner._subgraph_index)
        wrapper.AllocateTensors(subgraph)
        return BoundSignature(self, key, wrapper, subgraph, ins, outs)

    def reset_state(self) -> None:
        """Zero all variable tensors (only needed with ``reset_variables=False``)."""
        self._live().reset_all_variables()

    def close(self) -> None:
        """Release the interpreter; the runner cannot run afterwards. Safe to call twice."""
        self._sig_runners.clear()
        self._interpreter = None

    def __enter__(self) -> TFLiteRunner:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- internals ---------------------------------------------------------------------------

    def _live(self) -> Interpreter:
        if self._interpreter is None:
            raise RuntimeError(f"TFLiteRunner for {self.path} is closed")
        return self._interpreter

    def _resolve(self, signature: str | None) -> str | None:
        if signature is not None:
            if signature not in self.signatures:
                raise unknown_choice("signature", signature, self.signatures)
            return signature
        if self._default is None and self.signatures:
            names = ", ".join(self.signatures)
            raise UserError(f"{self.path.name} has signatures {names}; name the one to run")
        return self._default

    def _signature_runner(self, key: str) -> Any:
        if key not in self._sig_runners:
            self._sig_runners[key] = self._live().get_signature_runner(key)
        return self._sig_runners[key]

    def _io_specs(self, signature: str | None) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
        key = self._resolve(signature)
        if key not in self._specs:
            if key is None:
                interpreter = self._live()
                ins = tuple(_spec(d["name"], d) for d in interpreter.get_input_details())
                outs = tuple(_spec(d["name"], d) for d in interpreter.get_output_details())
            else:
                runner = self._signature_runner(key)
                ins = tuple(_spec(n, d) for n, d in runner.get_input_details().items())
                outs = tuple(_spec(n, d) for n, d in runner.get_output_details().items())
            self._specs[key] = (ins, outs)
        return self._specs[key]

    def _prepare(self, inputs: np.ndarray | Mapping[str, np.ndarray], specs: tuple[TensorSpec, ...],
                 key: str | None) -> dict[str, np.ndarray]:
        where = f"{self.path.name}" + (f" signature '{key}'" if key else "")
        names = [s.name for s in specs]
        if not isinstance(inputs, Mapping):
            if len(specs) != 1:
                raise UserError(f"{where} has {len(specs)} inputs ({', '.join(names)}); "
                                "pass a dict name -> array")
            inputs = {specs[0].name: inputs}
        unknown = sorted(set(inputs) - set(names))
        missing = [n for n in names if n not in inputs]
        if unknown or missing:
            problem = f"missing {', '.join(missing)}" if missing else f"unknown {', '.join(unknown)}"
            raise UserError(f"{where} takes inputs {', '.join(names)}; {problem}")
        return {s.name: _convert(np.asarray(inputs[s.name]), s, where) for s in specs}

    def _run_primary(self, interpreter: Interpreter, feed: dict[str, np.ndarray],
                     in_specs: tuple[TensorSpec, ...],
                     out_specs: tuple[TensorSpec, ...]) -> dict[str, np.ndarray]:
        """Models without signatures: set tensors of the primary subgraph directly."""
        resized = False
        for spec in in_specs:
            shape = feed[spec.name].shape
            if self._primary_shapes.get(spec.index, spec.shape) != shape:
                interpreter.resize_tensor_input(spec.index, shape)
                self._primary_shapes[spec.index] = shape
                resized = True
        if resized:
            interpreter.allocate_tensors()
        for spec in in_specs:
            interpreter.set_tensor(spec.index, feed[spec.name])
        interpreter.invoke()
        return {spec.name: interpreter.get_tensor(spec.index) for spec in out_specs}


class BoundSignature:
    """One signature's buffers, bound by :meth:`TFLiteRunner.bind`. A view stays valid until TFLite re-allocates
    that signature's tensors (only binding it again or :meth:`TFLiteRunner.run` on it may); a caller that keeps
    views re-reads them whenever it takes the buffers over (see ``PhaseStream.reset``)."""

    def __init__(self, runner: TFLiteRunner, key: str, wrapper: Any, subgraph: int,
                 inputs: tuple[TensorSpec, ...], outputs: tuple[TensorSpec, ...]):
        self.runner, self.key = runner, key
        self._wrapper, self._subgraph = wrapper, subgraph
        self.inputs = {s.name: s for s in inputs}
        self.outputs = {s.name: s for s in outputs}

    def input(self, name: str) -> np.ndarray:
        """Writable view of input ``name``'s buffer (the tensor's own dtype and shape)."""
        return self._wrapper.tensor(self._wrapper, self.inputs[name].index, self._subgraph)

    def output(self, name: str) -> np.ndarray:
        """View of output ``name``'s buffer; it holds the newest ``invoke()``'s values."""
        return self._wrapper.tensor(self._wrapper, self.outputs[name].index, self._subgraph)

    def invoke(self) -> None:
        self.runner._live()  # a closed runner refuses
        try:
            self._wrapper.Invoke(self._subgraph)
        except (RuntimeError, ValueError) as exc:
            raise UserError(f"{self.runner.path.name}: inference failed in '{self.key}': {_first_line(exc)}") from None


def _spec(name: str, details: Mapping[str, Any]) -> TensorSpec:
    params = details.get("quantization_parameters", {})
    scales, zero_points = params.get("scales", ()), params.get("zero_points", ())
    per_tensor = len(scales) == 1
    return TensorSpec(
        name=name,
        index=int(details["index"]),
        shape=tuple(int(d) for d in details["shape"]),
        shape_signature=tuple(int(d) for d in details.get("shape_signature", details["shape"])),
        dtype=np.dtype(details["dtype"]),
        scale=float(scales[0]) if per_tensor else 0.0,
        zero_point=int(zero_points[0]) if per_tensor and len(zero_points) else 0,
    )


def _convert(x: np.ndarray, spec: TensorSpec, where: str) -> np.ndarray:
    """Check one input against its spec and convert it to the tensor's dtype."""
    expected = spec.shape_signature
    if x.ndim != len(expected) or any(e >= 0 and e != d for e, d in zip(expected, x.shape, strict=True)):
        raise UserError(f"{where}: input '{spec.name}' expects shape {spec.describe()}, "
                        f"got {tuple(x.shape)} {x.dtype.name}")
    if x.dtype == spec.dtype:
        return np.ascontiguousarray(x)
    if spec.quantized and np.issubdtype(x.dtype, np.floating):
        return spec.quantize(x)
    if np.issubdtype(spec.dtype, np.floating) and np.issubdtype(x.dtype, np.floating):
        return np.ascontiguousarray(x, dtype=spec.dtype)
    if np.issubdtype(spec.dtype, np.integer) and np.issubdtype(x.dtype, np.integer) and not spec.quantized \
            and np.can_cast(x.dtype, spec.dtype, casting="same_kind"):
        return np.ascontiguousarray(x, dtype=spec.dtype)
    raise UserError(f"{where}: input '{spec.name}' expects {spec.describe()}, got {x.dtype.name} values; "
                    "convert them first (e.g. pixels to normalized float32)")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
