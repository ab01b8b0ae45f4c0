"""Read and edit .tflite files without TensorFlow.

A .tflite file is a FlatBuffer of LiteRT's ``schema.fbs``. We do not hand-parse it: ai-edge-litert
ships the flatc-generated Python module (``ai_edge_litert.schema_py_generated``) and the
``flatbuffers`` runtime, both of which a device install already has. Everything here works on
that generated object API and turns it into small frozen dataclasses that the GPU checker, the
runner and the benchmarks share.

Editing is limited to what the exporter needs: adding or replacing one named ``metadata`` entry
(our JSON model card) and cutting one subgraph out as a model of its own (XNNPACK statistics
for the second and later signatures of a multi-signature file).
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as schema

from edge_slr.errors import UserError
from edge_slr.utils.atomic import write_bytes

TFLITE_FILE_IDENTIFIER = b"TFL3"
# Buffer data must start on a 16-byte boundary (``force_align: 16`` in schema.fbs); the converter
# writes it that way and some kernels read weights in place.
_BUFFER_ALIGNMENT = 16

BUILTIN_OP_NAMES: Mapping[int, str] = MappingProxyType(
    {code: name for name, code in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
)
_TENSOR_TYPE_NAMES: Mapping[int, str] = MappingProxyType(
    {code: name.lower() for name, code in vars(schema.TensorType).items() if not name.startswith("_")}
)
_CUSTOM = schema.BuiltinOperator.CUSTOM


@dataclass(frozen=True)
class Quantization:
    """Affine quantization of a tensor: ``real = scale * (q - zero_point)`` (per tensor or per axis)."""

    scales: tuple[float, ...]
    zero_points: tuple[int, ...]
    quantized_dimension: int

    @property
    def per_tensor(self) -> bool:
        return len(self.scales) == 1


@dataclass(frozen=True)
class TensorInfo:
    """One tensor of a subgraph as stored in the file."""

    index: int
    name: str
    shape: tuple[int, ...]
    shape_signature: tuple[int, ...]  # -1 marks a dynamic dimension; equals ``shape`` when all are static
    dtype: str  # lower-case TensorType name: "float32", "int8", "bool", "resource", ...
    is_constant: bool  # has data in the file (weights, fixed shapes): read-only at run time
    is_variable: bool  # state kept between invokes (e.g. the h/c of a fused LSTM)
    quantization: Quantization | None

    @property
    def rank(self) -> int:
        return len(self.shape)


@dataclass(frozen=True)
class OperatorInfo:
    """One operator (node) of a subgraph, in execution order."""

    index: int
    op: str  # builtin name ("CONV_2D"), or "CUSTOM" for custom ops
    builtin_code: int
    version: int
    custom_code: str | None
    inputs: tuple[int, ...]  # tensor indices, -1 for an omitted optional input
    outputs: tuple[int, ...]
    options: Mapping[str, Any]  # builtin options with snake_case keys (e.g. "stride_w"); empty when none

    @property
    def name(self) -> str:
        """Readable op name: the builtin name, or ``CUSTOM(code)``."""
        return f"CUSTOM({self.custom_code})" if self.builtin_code == _CUSTOM else self.op


@dataclass(frozen=True)
class SubgraphInfo:
    index: int
    name: str
    tensors: tuple[TensorInfo, ...]
    operators: tuple[OperatorInfo, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


@dataclass(frozen=True)
class SignatureInfo:
    """A named entry point: its subgraph and the tensor index behind each input/output name."""

    key: str
    subgraph_index: int
    inputs: Mapping[str, int]
    outputs: Mapping[str, int]


@dataclass(frozen=True)
class TFLiteModel:
    """Everything the runtime needs to know about a .tflite file, read without running it."""

    source: str
    size_bytes: int
    schema_version: int
    description: str
    subgraphs: tuple[SubgraphInfo, ...]
    signatures: tuple[SignatureInfo, ...]
    metadata: Mapping[str, bytes]  # metadata entry name -> its buffer's bytes

    def op_counts(self) -> Counter[str]:
        """How often each op (``OperatorInfo.name``) occurs, over all subgraphs."""
        return Counter(op.name for sg in self.subgraphs for op in sg.operators)

    @property
    def has_control_flow(self) -> bool:
        """Whether any op calls another subgraph (IF, WHILE, CALL_ONCE, ...)."""
        return any(_SUBGRAPH_OPTION.search(key) for sg in self.subgraphs for op in sg.operators
                   for key in op.options)

    def metadata_json(self, name: str) -> Any | None:
        """Decode the metadata entry ``name`` as UTF-8 JSON; None when the entry is absent."""
        raw = self.metadata.get(name)
        if raw is None:
            return None
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UserError(f"metadata entry '{name}' of {self.source} is not UTF-8 JSON ({exc}); "
                            "re-export the model") from None


def read_model_bytes(path: str | os.PathLike[str]) -> bytes:
    """Read a .tflite file, failing with one line when it is missing or is not a TFLite FlatBuffer."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"model file {p} does not exist; check the path")
    if p.is_dir():
        raise UserError(f"{p} is a folder, not a .tflite file")
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {p}: {exc.strerror}") from None
    _check_identifier(data, str(p))
    return data


def load_model(path: str | os.PathLike[str]) -> TFLiteModel:
    """Read and parse a .tflite file."""
    return parse_model(read_model_bytes(path), source=str(path))


def parse_model(data: bytes, source: str = "<bytes>") -> TFLiteModel:
    """Parse the bytes of a .tflite file; ``source`` names it in error messages."""
    model = _unpack(data, source)
    buffers = model.buffers or []
    subgraphs = tuple(_subgraph(i, sg, model, buffers, source) for i, sg in enumerate(model.subgraphs or []))
    signatures = tuple(_signature(sd, len(subgraphs), source) for sd in model.signatureDefs or [])
    metadata = {}
    for entry in model.metadata or []:
        metadata[_text(entry.name)] = _buffer_bytes(data, buffers, entry.buffer, source)
    return TFLiteModel(
        source=source,
        size_bytes=len(data),
        schema_version=int(model.version),
        description=_text(model.description),
        subgraphs=subgraphs,
        signatures=signatures,
        metadata=MappingProxyType(metadata),
    )


def set_metadata(data: bytes, name: str, value: bytes, source: str = "<bytes>") -> bytes:
    """Return a copy of the model ``data`` whose metadata entry ``name`` holds ``value``.

    An existing entry of that name is replaced; otherwise a new buffer and entry are appended.
    Ops, tensors and weights are unchanged, so the model computes exactly what it did before.
    """
    if not name:
        raise UserError("metadata entry name must not be empty")
    model = _unpack(data, source)
    payload = np.frombuffer(bytes(value), dtype=np.uint8)
    model.buffers = model.buffers or [schema.BufferT()]  # buffer 0 is the conventional empty buffer
    model.metadata = model.metadata or []
    entry = next((m for m in model.metadata if _text(m.name) == name), None)
    if entry is None or _buffer_shared(model, entry):
        model.buffers.append(schema.BufferT(data=payload))
        if entry is None:
            entry = schema.MetadataT()
            entry.name = name
            model.metadata.append(entry)
        entry.buffer = len(model.buffers) - 1
    else:
        model.buffers[entry.buffer] = schema.BufferT(data=payload)
    return _pack(model)


def set_io_ranges(data: bytes, ranges: Mapping[str, tuple[float, float]], source: str = "<bytes>") -> bytes:
    """Return a copy of a calibrated model whose signature inputs and outputs named in ``ranges`` carry those
    ``(min, max)`` statistics, in every signature: quantized from it, each such name gets one scale everywhere
    (a causal stream's state, passed between its step signatures as it is). A CONCATENATION reading such a tensor
    gets its range on its output and every input too: quantized, they must share one scale, which the
    quantizer would otherwise take from the output's own statistics. Ops and weights are unchanged."""
    model = _unpack(data, source)
    codes = [max(code.builtinCode, code.deprecatedBuiltinCode) for code in model.operatorCodes or []]
    for sd in model.signatureDefs or []:
        sg = model.subgraphs[sd.subgraphIndex]
        tensors = sg.tensors or []
        ranged = {io.tensorIndex: ranges[_text(io.name)] for io in [*(sd.inputs or []), *(sd.outputs or [])]
                  if _text(io.name) in ranges}
        for op in sg.operators or []:
            hit = [ranged[t] for t in _ints(op.inputs) if t in ranged]
            if hit and codes[op.opcodeIndex] == schema.BuiltinOperator.CONCATENATION:
                ranged.update({t: hit[0] for t in [*_ints(op.inputs), *_ints(op.outputs)] if t >= 0})
        for index, (low, high) in ranged.items():
            tensor = tensors[index]
            tensor.quantization = tensor.quantization or schema.QuantizationParametersT()
            tensor.quantization.min, tensor.quantization.max = [low], [high]
    return _pack(model)


def write_metadata(path: str | os.PathLike[str], name: str, value: bytes,
                   output: str | os.PathLike[str] | None = None) -> Path:
    """Set metadata entry ``name`` of the .tflite at ``path``; write ``output`` (default: in place)."""
    target = Path(output) if output is not None else Path(path)
    write_bytes(target, set_metadata(read_model_bytes(path), name, value, source=str(path)))
    return target


def extract_subgraph(data: bytes, subgraph_index: int, source: str = "<bytes>") -> bytes:
    """Return a model holding only subgraph ``subgraph_index`` (as its primary subgraph) and its signature.

    The Python interpreter lists nodes of the primary subgraph only; this lets callers inspect
    how a delegate treats any other signature. Refused for models whose ops call subgraphs
    (control flow), because their subgraph references would break.
    """
    model = _unpack(data, source)
    model.subgraphs = [_cuttable_subgraph(model, subgraph_index, source, "cut out one subgraph")]
    kept = [sd for sd in model.signatureDefs or [] if sd.subgraphIndex == subgraph_index]
    for sd in kept:
        sd.subgraphIndex = 0
    model.signatureDefs = kept
    return _pack(model)


def isolated_ops(data: bytes, subgraph_index: int = 0, source: str = "<bytes>") -> Iterator[tuple[int, bytes]]:
    """Yield ``(op index, model)`` for each op of a subgraph: a model whose only op is that op.

    The op's non-constant inputs become the model's inputs and its outputs the model's outputs; the
    tensor list is kept (same indices as the original subgraph) but only the op's own weights stay in
    the file, so each model is small. ``bench --profile`` times these to split a model's time op by op
    where the installed runtime has no op profiler. The model is unpacked once for all ops.
    """
    model = _unpack(data, source)
    sg = _cuttable_subgraph(model, subgraph_index, source, "isolate its ops")
    tensors, buffers = sg.tensors or [], model.buffers or []
    metadata_buffers = {m.buffer for m in model.metadata or []}
    for index, op in enumerate(sg.operators or []):
        inputs = [t for t in _ints(op.inputs) if t >= 0]
        used = [*inputs, *_ints(op.outputs), *(t for t in _ints(op.intermediates) if t >= 0)]
        needed = {tensors[t].buffer for t in used} | metadata_buffers
        one = copy.copy(sg)
        one.operators = [op]
        one.inputs = [t for t in dict.fromkeys(inputs)
                      if not _has_data(buffers, tensors[t].buffer) and not tensors[t].isVariable]
        one.outputs = list(_ints(op.outputs))
        cut = copy.copy(model)
        cut.subgraphs = [one]
        cut.signatureDefs = []
        cut.buffers = [b if i in needed else schema.BufferT() for i, b in enumerate(buffers)]
        yield index, _pack(cut)


# ----------------------------------------------------------------------------------------------
# Internals


def _cuttable_subgraph(model: Any, index: int, source: str, purpose: str) -> Any:
    """Subgraph ``index`` of an unpacked model, refused (one line) when it does not exist or ops call subgraphs."""
    subgraphs = model.subgraphs or []
    if not 0 <= index < len(subgraphs):
        raise UserError(f"{source} has {len(subgraphs)} subgraph(s); index {index} does not exist")
    if _calls_subgraphs(model):
        raise UserError(f"{source} has control-flow ops that call subgraphs; cannot {purpose}")
    return subgraphs[index]


def _check_identifier(data: bytes, source: str) -> None:
    if not data:
        raise UserError(f"{source} is empty; re-export or re-copy the model")
    if len(data) < 8 or data[4:8] != TFLITE_FILE_IDENTIFIER:
        found = data[4:8] if len(data) >= 8 else data[:8]
        raise UserError(f"{source} is not a TFLite model (file identifier {found!r}, expected b'TFL3'); "
                        "pass a .tflite file")


def _unpack(data: bytes, source: str) -> Any:
    """Unpack the whole model with the generated object API, or raise a one-line UserError."""
    _check_identifier(data, source)
    try:
        model = schema.ModelT.InitFromPackedBuf(data, 0)
    except Exception:  # the generated reader raises whatever a bad offset triggers (struct.error, ...)
        raise UserError(f"{source} is a corrupt TFLite file (its FlatBuffer cannot be decoded); "
                        "re-export or re-copy the model") from None
    if not model.subgraphs:
        raise UserError(f"{source} is a corrupt TFLite file (no subgraphs); re-export the model")
    return model


def _pack(model: Any) -> bytes:
    if any(int(b.offset) > 1 for b in model.buffers or []):
        raise UserError("this model keeps its weights outside the FlatBuffer (files over 2 GB); "
                        "editing such files is not supported")
    model.buffers = [_AlignedBufferT.of(b) for b in model.buffers or []]
    builder = flatbuffers.Builder(sum(len(b.data) for b in model.buffers if b.data is not None) + 4096)
    builder.Finish(model.Pack(builder), file_identifier=TFLITE_FILE_IDENTIFIER)
    return bytes(builder.Output())


class _AlignedBufferT(schema.BufferT):
    """A BufferT whose data vector is packed 16-byte aligned.

    The generated ``BufferT.Pack`` aligns uint8 data to 1 byte only, ignoring the schema's
    ``force_align: 16`` that flatc honours in C++. Weights must stay aligned after we edit a file.
    """

    @classmethod
    def of(cls, buffer: Any) -> _AlignedBufferT:
        return cls(data=buffer.data, offset=buffer.offset, size=buffer.size)

    def Pack(self, builder: flatbuffers.Builder) -> int:  # noqa: N802 (name fixed by the generated API)
        data_offset = None
        if self.data is not None:
            payload = np.asarray(self.data, dtype=np.uint8).tobytes()
            builder.StartVector(1, len(payload), _BUFFER_ALIGNMENT)
            builder.head -= len(payload)
            builder.Bytes[builder.head:builder.head + len(payload)] = payload
            data_offset = builder.EndVector()
        schema.BufferStart(builder)
        if data_offset is not None:
            schema.BufferAddData(builder, data_offset)
        schema.BufferAddOffset(builder, self.offset)
        schema.BufferAddSize(builder, self.size)
        return schema.BufferEnd(builder)


def _buffer_shared(model: Any, entry: Any) -> bool:
    """Whether a metadata entry's buffer is also used elsewhere (then it is not ours to overwrite)."""
    if entry.buffer <= 0:
        return True
    users = sum(1 for m in model.metadata if m.buffer == entry.buffer)
    users += sum(1 for sg in model.subgraphs for t in sg.tensors or [] if t.buffer == entry.buffer)
    return users > 1


# Option fields through which an op calls another subgraph (IF, WHILE, CALL_ONCE, StableHLO regions).
_SUBGRAPH_OPTION = re.compile(r"(^|_)subgraph(_|$)")


def _calls_subgraphs(model: Any) -> bool:
    return any(_SUBGRAPH_OPTION.search(key) for sg in model.subgraphs or [] for op in sg.operators or []
               for key in _options(op))


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value


def _ints(values: Any) -> tuple[int, ...]:
    return () if values is None else tuple(int(v) for v in values)


def _buffer_bytes(data: bytes, buffers: list[Any], index: int, source: str) -> bytes:
    if not 0 <= index < len(buffers):
        raise UserError(f"{source} is a corrupt TFLite file (buffer index {index} out of range)")
    buf = buffers[index]
    if buf.data is not None:
        return np.asarray(buf.data, dtype=np.uint8).tobytes()
    if int(buf.offset) > 1:
        return data[int(buf.offset):int(buf.offset) + int(buf.size)]
    return b""


def _has_data(buffers: list[Any], index: int) -> bool:
    if index <= 0 or index >= len(buffers):
        return False
    buf = buffers[index]
    return (buf.data is not None and len(buf.data) > 0) or (int(buf.offset) > 1 and int(buf.size) > 0)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _options(op: Any) -> Mapping[str, Any]:
    out: dict[str, Any] = {}
    for options in (op.builtinOptions, getattr(op, "builtinOptions2", None)):
        if options is None:
            continue
        for key, value in vars(options).items():
            out[_snake(key)] = tuple(value.tolist()) if isinstance(value, np.ndarray) else value
    return MappingProxyType(out)


def _quantization(q: Any) -> Quantization | None:
    if q is None or q.scale is None or len(q.scale) == 0:
        return None
    zero_points = _ints(q.zeroPoint) or (0,) * len(q.scale)
    return Quantization(tuple(float(s) for s in q.scale), zero_points, int(q.quantizedDimension))


def _subgraph(index: int, sg: Any, model: Any, buffers: list[Any], source: str) -> SubgraphInfo:
    codes = model.operatorCodes or []
    raw_tensors = sg.tensors or []
    n_tensors = len(raw_tensors)

    def check(indices: tuple[int, ...], what: str) -> tuple[int, ...]:
        bad = [i for i in indices if not -1 <= i < n_tensors]
        if bad:
            raise UserError(f"{source} is a corrupt TFLite file ({what} refers to tensor {bad[0]} "
                            f"of {n_tensors} in subgraph {index})")
        return indices

    tensors = []
    for i, t in enumerate(raw_tensors):
        shape = _ints(t.shape)
        signature = _ints(t.shapeSignature) or shape
        tensors.append(TensorInfo(
            index=i,
            name=_text(t.name),
            shape=shape,
            shape_signature=signature,
            dtype=_TENSOR_TYPE_NAMES.get(int(t.type), f"type{int(t.type)}"),
            is_constant=_has_data(buffers, int(t.buffer)),
            is_variable=bool(t.isVariable),
            quantization=_quantization(t.quantization),
        ))
    operators = []
    for i, op in enumerate(sg.operators or []):
        if not 0 <= op.opcodeIndex < len(codes):
            raise UserError(f"{source} is a corrupt TFLite file (operator {i} of subgraph {index} "
                            f"has opcode index {op.opcodeIndex} of {len(codes)})")
        code = codes[op.opcodeIndex]
        # Files written before builtin codes outgrew int8 only fill deprecated_builtin_code;
        # newer ones fill both (the deprecated one capped at 127). TFLite takes the larger.
        builtin = max(int(code.builtinCode), int(code.deprecatedBuiltinCode))
        operators.append(OperatorInfo(
            index=i,
            op=BUILTIN_OP_NAMES.get(builtin, f"BUILTIN_{builtin}"),
            builtin_code=builtin,
            version=int(code.version),
            custom_code=_text(code.customCode) if builtin == _CUSTOM else None,
            inputs=check(_ints(op.inputs), f"operator {i}"),
            outputs=check(_ints(op.outputs), f"operator {i}"),
            options=_options(op),
        ))
    return SubgraphInfo(
        index=index,
        name=_text(sg.name),
        tensors=tuple(tensors),
        operators=tuple(operators),
        inputs=check(_ints(sg.inputs), "subgraph inputs"),
        outputs=check(_ints(sg.outputs), "subgraph outputs"),
    )


def _signature(sd: Any, n_subgraphs: int, source: str) -> SignatureInfo:
    if not 0 <= sd.subgraphIndex < n_subgraphs:
        raise UserError(f"{source} is a corrupt TFLite file (signature '{_text(sd.signatureKey)}' "
                        f"points to subgraph {sd.subgraphIndex} of {n_subgraphs})")
    return SignatureInfo(
        key=_text(sd.signatureKey),
        subgraph_index=int(sd.subgraphIndex),
        inputs=MappingProxyType({_text(m.name): int(m.tensorIndex) for m in sd.inputs or []}),
        outputs=MappingProxyType({_text(m.name): int(m.tensorIndex) for m in sd.outputs or []}),
    )
