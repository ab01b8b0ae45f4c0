"""Static check: which ops of a .tflite file the TFLite GPU delegate would refuse, and why.

No GPU delegate library ships in any wheel we use and most machines here have no GPU, and
``tf.lite.experimental.Analyzer(gpu_compatibility=True)`` passes graphs the delegate refuses
(see the design guide). So we re-implement the delegate's decision from its source, reading
only the FlatBuffer:

1. per op: is the op in the delegate's parser switch, is its version at most what the parser
   accepts, and does it pass the op's compatibility rule (inputs, options, shapes);
2. per tensor of the op: rank <= 4 (every tensor), and an allowed dtype for run-time tensors;
3. partitioning: the supported ops are grouped the way TFLite groups nodes for a delegate
   (greedy epochs in execution order), and the delegate keeps only the largest
   ``max_delegated_partitions`` of them (1 by default).

The tables below are our own transcription (read, not copied) of LiteRT at commit
``f67457790c9c2ab67347d6fe53270e8d3df20868`` (github.com/google-ai-edge/LiteRT, 2026-08-21):
  - tflite/delegates/gpu/common/model_builder.cc: ``NewOperationParser`` (supported ops and
    their max versions), ``GetOpsToReplace`` and ``IsAllAllowedTensors`` (rank and dtype rules),
    the logical-op / CAST special cases;
  - tflite/tools/versioning/gpu_compatibility.cc: ``CheckGpuDelegateCompatibility`` (per-op rules,
    with ``GpuCompatibilityFlags::kStandard`` as the delegate uses at run time);
  - tflite/delegates/utils.cc: ``FP16GraphPartitionHelper`` (fp16 weight DEQUANTIZE handling,
    "largest N partitions");
  - tflite/graph_info.cc: ``PartitionGraphIntoIndependentNodeSubsets`` (greedy partitioning);
  - tflite/delegates/gpu/delegate_options.cc: defaults (quantized ops allowed, 1 partition);
  - tflite/delegates/gpu/delegate.cc: SPLIT/SPLIT_V excluded when OpenCL is unavailable (OpenGL).
Not modelled: failures that only show up when the delegate builds its GPU graph (``Parse``),
e.g. unusual padding or grouped convolutions; those make delegate creation fail on the device.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from edge_slr.errors import unknown_choice
from edge_slr.runtime.tflite_file import OperatorInfo, SubgraphInfo, TensorInfo, TFLiteModel, load_model

LITERT_COMMIT = "f67457790c9c2ab67347d6fe53270e8d3df20868"
BACKENDS = ("opencl", "opengl")

# ActivationFunctionType in schema.fbs; SIGN_BIT is the only one the delegate cannot fuse.
_ACT_SIGN_BIT = 5
_ACT_TANH = 4
_LSTM_FULL_KERNEL, _LSTM_BASIC_KERNEL = 0, 1
_MIRROR_PAD_REFLECT = 0
_COMPARISONS = frozenset({"GREATER", "GREATER_EQUAL", "LESS", "LESS_EQUAL", "EQUAL", "NOT_EQUAL"})
_FLOATS = frozenset({"float32", "float16"})


@dataclass(frozen=True)
class GpuCheckConfig:
    """Delegate settings that change the verdict; defaults are the delegate's own defaults."""

    allow_quant_ops: bool = True  # TFLITE_GPU_EXPERIMENTAL_FLAGS_ENABLE_QUANT, set by default
    max_delegated_partitions: int = 1
    backend: str = "opencl"  # "opengl": devices without OpenCL, where SPLIT/SPLIT_V are excluded


@dataclass(frozen=True)
class OpVerdict:
    index: int
    op: str  # OperatorInfo.name, e.g. "CONV_2D" or "CUSTOM(MaxUnpooling2D)"
    version: int
    verdict: str  # "ok", "refused", or "folded" (fp16 weight DEQUANTIZE, see FP16GraphPartitionHelper)
    runs_on: str  # "gpu" or "cpu" under the checked settings
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class SubgraphReport:
    index: int
    name: str
    signatures: tuple[str, ...]
    ops: tuple[OpVerdict, ...]
    partitions: tuple[tuple[int, ...], ...]  # op indices of each delegable partition, in graph order
    max_delegated_partitions: int

    @property
    def n_ops(self) -> int:
        return len(self.ops)

    @property
    def n_supported(self) -> int:
        return sum(op.verdict != "refused" for op in self.ops)

    @property
    def n_on_gpu(self) -> int:
        return sum(op.runs_on == "gpu" for op in self.ops)

    @property
    def fully_delegable(self) -> bool:
        return self.n_supported == self.n_ops

    def summary(self) -> str:
        if self.n_ops == 0:
            return "no ops"
        if self.fully_delegable:
            return f"all {self.n_ops} ops can run on the GPU delegate in 1 partition"
        k = len(self.partitions)
        line = f"would delegate {self.n_supported} of {self.n_ops} ops in {k} partition(s)"
        if k > self.max_delegated_partitions:
            what = "partition runs" if self.max_delegated_partitions == 1 else "partitions run"
            line += (f"; with max_delegated_partitions={self.max_delegated_partitions} only the largest "
                     f"{what} on GPU ({self.n_on_gpu} ops)")
        return line


@dataclass(frozen=True)
class GpuReport:
    model: str
    config: GpuCheckConfig
    subgraphs: tuple[SubgraphReport, ...]
    litert_commit: str = LITERT_COMMIT

    @property
    def fully_delegable(self) -> bool:
        return all(sg.fully_delegable for sg in self.subgraphs)

    def refused_counts(self) -> Counter[str]:
        return Counter(op.op for sg in self.subgraphs for op in sg.ops if op.verdict == "refused")

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "litert_commit": self.litert_commit,
            "config": asdict(self.config),
            "fully_delegable": self.fully_delegable,
            "refused": dict(self.refused_counts()),
            "subgraphs": [
                {
                    "index": sg.index, "name": sg.name, "signatures": list(sg.signatures),
                    "n_ops": sg.n_ops, "n_supported": sg.n_supported, "n_on_gpu": sg.n_on_gpu,
                    "partition_sizes": [len(p) for p in sg.partitions], "summary": sg.summary(),
                    "ops": [asdict(op) | {"reasons": list(op.reasons)} for op in sg.ops],
                }
                for sg in self.subgraphs
            ],
        }

    def format_text(self) -> str:
        c = self.config
        lines = [f"{self.model}: GPU delegate check (rules of LiteRT {self.litert_commit[:12]}; "
                 f"quantized ops {'allowed' if c.allow_quant_ops else 'off'}, "
                 f"max_delegated_partitions={c.max_delegated_partitions}, backend={c.backend})"]
        for sg in self.subgraphs:
            sig = f" (signature {', '.join(sg.signatures)})" if sg.signatures else ""
            lines.append(f"subgraph {sg.index} '{sg.name}'{sig}: {sg.n_ops} ops")
            width = max([len(op.op) for op in sg.ops] + [2])
            lines.append(f"  {'#':>4}  {'op':<{width}}  ver  verdict  runs on  reason")
            for op in sg.ops:
                lines.append(f"  {op.index:>4}  {op.op:<{width}}  {op.version:>3}  {op.verdict:<7}  "
                             f"{op.runs_on:<7}  {'; '.join(op.reasons)}".rstrip())
            lines.append(f"  {sg.summary()}")
        if self.fully_delegable:
            lines.append("result: the whole model can run on the GPU delegate")
        else:
            refused = ", ".join(f"{name} x{n}" for name, n in self.refused_counts().most_common())
            lines.append(f"result: NOT fully delegable; refused: {refused}")
        return "\n".join(lines)


def check_model(model: TFLiteModel, config: GpuCheckConfig | None = None) -> GpuReport:
    """Check every subgraph of ``model`` against the GPU delegate's rules."""
    config = config or GpuCheckConfig()
    if config.backend not in BACKENDS:
        raise unknown_choice("GPU backend", config.backend, BACKENDS)
    by_subgraph: dict[int, list[str]] = {}
    for sig in model.signatures:
        by_subgraph.setdefault(sig.subgraph_index, []).append(sig.key)
    return GpuReport(
        model=model.source,
        config=config,
        subgraphs=tuple(_check_subgraph(sg, tuple(by_subgraph.get(sg.index, ())), config)
                        for sg in model.subgraphs),
    )


def check_file(path: str, config: GpuCheckConfig | None = None) -> GpuReport:
    """Read a .tflite file and check it (UserError for missing, corrupt or non-TFLite files)."""
    return check_model(load_model(path), config)


def check_gpu_cmd(args: argparse.Namespace) -> int:
    """``edge-slr check-gpu``: print the report; exit 0 when fully delegable, 1 otherwise."""
    config = GpuCheckConfig(allow_quant_ops=not args.no_quant, max_delegated_partitions=args.max_partitions,
                            backend=args.backend)
    report = check_file(args.model, config)
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.format_text())
    return 0 if report.fully_delegable else 1


# ----------------------------------------------------------------------------------------------
# Graph view used by the rules


@dataclass
class _Graph:
    sg: SubgraphInfo
    fp16_weights: dict[int, int]  # output tensor of a constant fp16 DEQUANTIZE -> its fp16 constant input
    producers: dict[int, list[int]] = field(default_factory=dict)
    consumers: dict[int, list[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for op in self.sg.operators:
            for t in op.outputs:
                if t >= 0:
                    self.producers.setdefault(t, []).append(op.index)
            for t in op.inputs:
                if t >= 0:
                    self.consumers.setdefault(t, []).append(op.index)

    def tensor(self, index: int) -> TensorInfo:
        return self.sg.tensors[index]

    def is_const(self, index: int) -> bool:
        # The delegate checks ops with fp16 weights as if they read the fp16 constant directly.
        return self.sg.tensors[index].is_constant or index in self.fp16_weights

    def runtime_inputs(self, op: OperatorInfo) -> list[int]:
        return [t for t in op.inputs if t >= 0 and not self.is_const(t)]

    def const_inputs(self, op: OperatorInfo) -> list[int]:
        return [t for t in op.inputs if t >= 0 and self.is_const(t)]

    def dims(self, op: OperatorInfo, position: int) -> tuple[int, ...]:
        t = op.inputs[position] if position < len(op.inputs) else -1
        return () if t < 0 else self.tensor(t).shape

    def dtype(self, op: OperatorInfo, position: int) -> str:
        t = op.inputs[position] if position < len(op.inputs) else -1
        return "none" if t < 0 else self.tensor(t).dtype


_Check = Callable[[OperatorInfo, _Graph], list[str]]


def _io(op: OperatorInfo, g: _Graph, runtime: int, outputs: int, consts: int | None = None) -> list[str]:
    """CheckInputsOutputs / CheckInputsConstsOutputs: counts of run-time inputs, constant inputs, outputs."""
    reasons = []
    n_runtime, n_const = len(g.runtime_inputs(op)), len(g.const_inputs(op))
    if consts is not None and n_const != consts:
        reasons.append(f"expects {consts} constant input(s), has {n_const}")
    if n_runtime != runtime:
        reasons.append(f"expects {runtime} run-time input(s), has {n_runtime}")
    if len(op.outputs) != outputs:
        reasons.append(f"expects {outputs} output(s), has {len(op.outputs)}")
    return reasons


def _activation(op: OperatorInfo) -> list[str]:
    act = op.options.get("fused_activation_function", 0)
    return ["fused SIGN_BIT activation is not supported"] if act == _ACT_SIGN_BIT else []


def _positive(op: OperatorInfo, *keys: str) -> list[str]:
    bad = [k for k in keys if op.options.get(k, 1) <= 0]
    return [f"{', '.join(bad)} must be > 0"] if bad else []


def _unary(op: OperatorInfo, g: _Graph) -> list[str]:
    return _io(op, g, runtime=1, outputs=1, consts=0)


def _binary(op: OperatorInfo, g: _Graph) -> list[str]:
    if _io(op, g, 2, 1, 0) and _io(op, g, 1, 1, 1):
        return ["needs 2 run-time inputs, or 1 run-time and 1 constant input, and 1 output"]
    return _activation(op)


def _broadcast(a: tuple[int, ...], b: tuple[int, ...]) -> list[str]:
    """ADD/MUL broadcasting the delegate accepts at run time (kStandard flags)."""
    if len(a) <= 1 or len(b) <= 1 or len(a) == len(b):
        return []
    long, short = (a, b) if len(a) >= len(b) else (b, a)
    ok = (len(long) == 4 and len(short) == 3 and long[0] == 1) or (
        len(long) == 4 and len(short) == 2 and long[0] == 1 and short == (1, 1)) or (
        len(long) == 4 and len(short) == 2 and long[0] == short[0] and long[3] == short[1])
    return [] if ok else [f"cannot broadcast {list(a)} with {list(b)}"]


def _add(op: OperatorInfo, g: _Graph) -> list[str]:
    if len(op.inputs) != 2:
        return ["ADD needs exactly 2 inputs"]
    return _broadcast(g.dims(op, 0), g.dims(op, 1))


def _mul(op: OperatorInfo, g: _Graph) -> list[str]:
    if len(op.inputs) != 2:
        return ["MUL needs exactly 2 inputs"]
    return _broadcast(g.dims(op, 0), g.dims(op, 1)) + _activation(op)


def _comparison(op: OperatorInfo, g: _Graph) -> list[str]:
    """Comparisons run on the GPU only when their bool output feeds one CAST/SELECT to float."""
    out = op.outputs[0] if op.outputs else -1
    users = g.consumers.get(out, [])
    if len(g.producers.get(out, [])) != 1 or len(users) != 1:
        return ["comparison output must feed exactly one CAST/SELECT op"]
    user = g.sg.operators[users[0]]
    if user.op in ("CAST", "SELECT", "SELECT_V2") and user.outputs and \
            g.tensor(user.outputs[0]).dtype in _FLOATS:
        return []
    return ["comparison output must feed a CAST/SELECT producing float"]


def _cast(op: OperatorInfo, g: _Graph) -> list[str]:
    reasons = _io(op, g, 1, 1)
    if reasons:
        return reasons
    src, dst = g.dtype(op, 0), g.tensor(op.outputs[0]).dtype
    if src == "bool" and dst in _FLOATS:
        x = op.inputs[0]
        if len(g.producers.get(x, [])) != 1 or len(g.consumers.get(x, [])) != 1:
            return ["CAST from bool needs an input made by one op and used once"]
        if len(g.consumers.get(op.outputs[0], [])) != 1:
            return ["CAST from bool to float is not supported on a model output"]
        return []
    if (src in _FLOATS and dst == "bool") or (src in ("float32", "int32") and dst in ("float32", "int32")):
        return []
    return [f"CAST {src} -> {dst} is not supported"]


def _conv_io(op: OperatorInfo, g: _Graph) -> list[str]:
    n = len(g.runtime_inputs(op))
    reasons = [] if 1 <= n <= 2 else [f"expects 1 or 2 run-time inputs, has {n}"]
    if len(op.outputs) != 1:
        reasons.append(f"expects 1 output, has {len(op.outputs)}")
    if n == 1 and len(op.inputs) < 2:
        reasons.append("weights input missing")
    return reasons


def _conv2d(op: OperatorInfo, g: _Graph) -> list[str]:
    return (_conv_io(op, g) + _positive(op, "stride_h", "stride_w", "dilation_h_factor", "dilation_w_factor")
            + _activation(op))


def _depthwise(op: OperatorInfo, g: _Graph) -> list[str]:
    reasons = _conv2d(op, g)
    x, w, y = g.dims(op, 0), g.dims(op, 1), g.tensor(op.outputs[0]).shape if op.outputs else ()
    if len(x) != 4 or len(w) != 4 or len(y) != 4:
        return reasons + ["input, filter and output must be 4-D"]
    if x[0] != y[0]:
        reasons.append("input and output batch differ")
    if w[3] != y[3]:
        reasons.append("filter channels != output channels")
    if y[3] != x[3] * op.options.get("depth_multiplier", 1):
        reasons.append("output channels != input channels * depth_multiplier")
    bias = g.dims(op, 2) if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
    if bias is not None and _num_elements(bias) != y[3]:
        reasons.append("bias size != output channels")
    return reasons


def _pool(op: OperatorInfo, g: _Graph) -> list[str]:
    return (_io(op, g, 1, 1) + _positive(op, "filter_height", "filter_width", "stride_h", "stride_w")
            + _activation(op))


def _axes(op: OperatorInfo, g: _Graph) -> list[str]:
    """MEAN, SUM, REDUCE_*: one run-time input, constant int32 axes."""
    reasons = _io(op, g, 1, 1, consts=1)
    if len(op.inputs) > 1 and op.inputs[1] >= 0:
        if not g.is_const(op.inputs[1]):
            reasons.append("axes must be constant")
        elif g.dtype(op, 1) != "int32":
            reasons.append("axes must be int32")
    return reasons


def _fully_connected(op: OperatorInfo, g: _Graph) -> list[str]:
    reasons = []
    if op.options.get("weights_format", 0) != 0:
        reasons.append("shuffled weights format is not supported")
    if len(g.runtime_inputs(op)) > 2:
        reasons.append("more than 2 run-time inputs")
    if op.inputs and op.inputs[0] >= 0 and g.is_const(op.inputs[0]):
        reasons.append("constant data input is not supported")
    if op.options.get("keep_num_dims") and op.outputs and \
            len(g.dims(op, 0)) != g.tensor(op.outputs[0]).rank:
        reasons.append("keep_num_dims with input rank != output rank")
    return reasons


def _gather(op: OperatorInfo, g: _Graph) -> list[str]:
    if _io(op, g, 2, 1, 0) and _io(op, g, 1, 1, 1):
        return ["needs 2 inputs (data and indices) and 1 output"]
    reasons = [] if len(g.dims(op, 1)) == 1 else ["indices must be 1-D"]
    return reasons + ([] if g.dtype(op, 1) == "int32" else ["indices must be int32"])


def _lstm(op: OperatorInfo, g: _Graph) -> list[str]:
    kernel = op.options.get("kernel_type", _LSTM_FULL_KERNEL)
    act = op.options.get("fused_activation_function", 0)
    if kernel == _LSTM_BASIC_KERNEL:
        reasons = _io(op, g, 3, 4, consts=2)
        if not reasons and g.tensor(op.outputs[3]).shape and g.tensor(op.outputs[3]).shape[-1] % 4:
            reasons.append("basic LSTM activation depth must be a multiple of 4")
        if act != _ACT_TANH:
            reasons.append("only TANH activation")
        if op.options.get("cell_clip", 0.0) or op.options.get("proj_clip", 0.0):
            reasons.append("cell_clip/proj_clip are not supported")
        return reasons
    reasons = [] if len(op.inputs) in (20, 24) else [f"expects 20 or 24 inputs, has {len(op.inputs)}"]
    if len(op.outputs) != 1:
        reasons.append("expects 1 output")
    return reasons + ([] if act == _ACT_TANH else ["only TANH activation"])


def _pad(op: OperatorInfo, g: _Graph) -> list[str]:
    reasons = []
    if op.op == "MIRROR_PAD" and op.options.get("mode", _MIRROR_PAD_REFLECT) != _MIRROR_PAD_REFLECT:
        reasons.append("only REFLECT mirror padding")
    reasons += _io(op, g, 1, 1)
    pads = g.dims(op, 1)
    if len(pads) != 2 or pads[0] not in (3, 4) or pads[1] != 2:
        reasons.append(f"paddings must be 4x2 or 3x2, got {list(pads)}")
    return reasons


def _rank_3_or_4(op: OperatorInfo, g: _Graph, min_inputs: int) -> list[str]:
    if len(op.inputs) < min_inputs:
        return [f"expects {min_inputs} inputs"]
    return [] if len(g.dims(op, 0)) in (3, 4) else [f"input must be 3-D or 4-D, is {len(g.dims(op, 0))}-D"]


def _strided_slice(op: OperatorInfo, g: _Graph) -> list[str]:
    masks = [m for m in ("ellipsis_mask", "new_axis_mask", "shrink_axis_mask") if op.options.get(m, 0)]
    return [f"{m} is not supported" for m in masks] + _rank_3_or_4(op, g, 4)


def _softmax(op: OperatorInfo, g: _Graph) -> list[str]:
    return [] if op.options.get("beta", 1.0) == 1.0 else ["softmax beta != 1"]


def _block_size(op: OperatorInfo, g: _Graph) -> list[str]:
    return _io(op, g, 1, 1) + ([] if op.options.get("block_size", 2) > 1 else ["block_size must be > 1"])


def _resize_bilinear(op: OperatorInfo, g: _Graph) -> list[str]:
    both = op.options.get("align_corners") and op.options.get("half_pixel_centers")
    return _io(op, g, 1, 1) + (["align_corners with half_pixel_centers"] if both else [])


def _transpose_conv(op: OperatorInfo, g: _Graph) -> list[str]:
    return _conv_io(op, g) + _positive(op, "stride_h", "stride_w")


def _cumsum(op: OperatorInfo, g: _Graph) -> list[str]:
    if len(op.inputs) != 2 or len(op.outputs) != 1:
        return ["expects 2 inputs and 1 output"]
    ok = g.dtype(op, 0) in _FLOATS and g.tensor(op.outputs[0]).dtype == g.dtype(op, 0) and \
        g.dtype(op, 1) == "int32" and g.is_const(op.inputs[1])
    return [] if ok else ["input must be float and the axis a constant int32"]


def _dequantize(op: OperatorInfo, g: _Graph) -> list[str]:
    if len(op.inputs) != 1 or len(op.outputs) != 1:
        return ["expects 1 input and 1 output"]
    return ["int16 dequantization is not supported"] if g.dtype(op, 0) == "int16" else []


def _one_hot(op: OperatorInfo, g: _Graph) -> list[str]:
    if len(op.inputs) != 4 or len(op.outputs) != 1:
        return ["expects 4 inputs and 1 output"]
    dims, axis = g.dims(op, 0), op.options.get("axis", -1)
    ok = g.dtype(op, 0) == "int32" and (axis == -1 or (dims and axis == dims[-1]))
    ok = ok and all(d == 1 for i, d in enumerate(dims[:-1]) if not (len(dims) > 3 and i == 0))
    for position in (2, 3):
        d = g.dims(op, position)
        ok = ok and g.dtype(op, position) == "float32" and g.is_const(op.inputs[position]) and len(d) <= 1 \
            and (not d or d[0] <= 1)
    return [] if ok else ["needs int32 indices (singleton leading dims, axis -1) and constant scalar float "
                          "on/off values"]


def _select(op: OperatorInfo, g: _Graph) -> list[str]:
    if len(op.inputs) != 3 or len(op.outputs) != 1:
        return ["expects 3 inputs and 1 output"]
    out = g.tensor(op.outputs[0]).shape
    reasons = [] if g.dtype(op, 0) in _FLOATS | {"bool"} else ["condition must be bool or float"]
    cond = g.dims(op, 0)
    offset = len(out) - len(cond)
    if cond and (offset < 0 or any(c != out[offset + i] and c != 1 for i, c in enumerate(cond))):
        reasons.append("condition does not broadcast to the output")
    for position, what in ((1, "then"), (2, "else")):
        d = g.dims(op, position)
        if d and d != out and (len(d) > 1 or d[0] > 1):
            reasons.append(f"{what} tensor must match the output shape or be a scalar")
        if not g.is_const(op.inputs[position]) and len(d) == 2:
            reasons.append(f"2-D {what} tensor must be constant")
    return reasons


def _custom(op: OperatorInfo, g: _Graph) -> list[str]:
    # The custom ops' parameters live in raw C structs inside custom_options; we check the
    # input/output counts and shapes only.
    code = op.custom_code
    if code == "Convolution2DTransposeBias":
        return [] if len(op.inputs) >= 2 else ["weights input missing"]
    if code == "MaxPoolingWithArgmax2D":
        return _io(op, g, 1, 2)
    if code == "MaxUnpooling2D":
        return _io(op, g, 2, 1)
    if code == "Resampler":
        reasons = _io(op, g, 2, 1)
        src, warp = g.dims(op, 0), g.dims(op, 1)
        if len(src) != 4 or len(warp) != 4:
            return reasons + ["src and warp must be 4-D"]
        return reasons + (["src and warp batch differ"] if src[0] != warp[0] else []) + \
            (["warp needs >= 2 channels"] if warp[3] < 2 else [])
    return [f"custom op {code} is not supported by the GPU delegate"]


@dataclass(frozen=True)
class _Rule:
    max_version: int | None  # CheckMaxSupportedOpVersion in the op's parser; None: no version check
    check: _Check | None  # CheckGpuDelegateCompatibility's rule for the op; None: always passes
    quant_only: bool = False  # QUANTIZE/DEQUANTIZE exist in the parser only with quantized ops allowed


def _io_rule(runtime: int, outputs: int) -> _Check:
    return lambda op, g: _io(op, g, runtime, outputs)


_UNARY_V2 = _Rule(2, _unary)
_BINARY_V2 = _Rule(2, _binary)
_COMPARISON_V2 = _Rule(2, _comparison)  # the parser returns early for comparisons: pattern check only

# The parser switch of NewOperationParser (model_builder.cc) with each parser's max version and
# the gpu_compatibility.cc rule it applies. Anything not listed is refused.
_RULES: Mapping[str, _Rule] = {
    "ABS": _UNARY_V2, "COS": _UNARY_V2, "ELU": _UNARY_V2, "EXP": _UNARY_V2, "FLOOR": _UNARY_V2,
    "GELU": _UNARY_V2, "LOG": _UNARY_V2, "LOGISTIC": _UNARY_V2, "NEG": _UNARY_V2, "RSQRT": _UNARY_V2,
    "SIGN": _UNARY_V2, "SIN": _UNARY_V2, "SQRT": _UNARY_V2, "SQUARE": _UNARY_V2, "TANH": _UNARY_V2,
    "DIV": _BINARY_V2, "FLOOR_DIV": _BINARY_V2, "FLOOR_MOD": _BINARY_V2, "MAXIMUM": _BINARY_V2,
    "MINIMUM": _BINARY_V2, "POW": _BINARY_V2, "SQUARED_DIFFERENCE": _BINARY_V2, "SUB": _BINARY_V2,
    "LOGICAL_AND": _BINARY_V2,
    **{name: _COMPARISON_V2 for name in _COMPARISONS},
    "ADD": _Rule(2, _add),
    "ADD_N": _Rule(2, lambda op, g: [] if len(op.inputs) == 2 else ["ADD_N supports 2 inputs only"]),
    "MUL": _Rule(3, _mul),
    "AVERAGE_POOL_2D": _Rule(2, _pool),
    "MAX_POOL_2D": _Rule(2, _pool),
    "BATCH_MATMUL": _Rule(None, lambda op, g: [] if (len(op.inputs), len(op.outputs)) == (2, 1)
                          else ["expects 2 inputs and 1 output"]),
    "CAST": _Rule(None, _cast),
    "CONCATENATION": _Rule(2, None),
    "CONV_2D": _Rule(6, _conv2d),
    "CUMSUM": _Rule(1, _cumsum),
    "DENSIFY": _Rule(1, _io_rule(0, 1)),
    "DEPTHWISE_CONV_2D": _Rule(6, _depthwise),
    "DEPTH_TO_SPACE": _Rule(None, _block_size),
    "SPACE_TO_DEPTH": _Rule(2, _block_size),
    "DEQUANTIZE": _Rule(3, _dequantize, quant_only=True),
    "QUANTIZE": _Rule(2, _io_rule(1, 1), quant_only=True),
    "FULLY_CONNECTED": _Rule(9, _fully_connected),
    "GATHER": _Rule(1, _gather),
    "HARD_SWISH": _Rule(None, _io_rule(1, 1)),
    "LSTM": _Rule(4, _lstm),
    "MEAN": _Rule(None, _axes),
    "SUM": _Rule(None, _axes),
    "REDUCE_MAX": _Rule(None, _axes),
    "REDUCE_MIN": _Rule(None, _axes),
    "REDUCE_PROD": _Rule(None, _axes),
    "PAD": _Rule(2, _pad),
    "PADV2": _Rule(2, _pad),
    "MIRROR_PAD": _Rule(2, _pad),
    "ONE_HOT": _Rule(1, _one_hot),
    "PACK": _Rule(None, None),
    "UNPACK": _Rule(None, None),
    "RELU": _Rule(2, None),
    "RELU6": _Rule(2, None),
    "RELU_0_TO_1": _Rule(2, None),
    "RELU_N1_TO_1": _Rule(2, None),
    "LEAKY_RELU": _Rule(2, None),
    "PRELU": _Rule(1, None),
    "RESHAPE": _Rule(1, _io_rule(1, 1)),
    "RESIZE_BILINEAR": _Rule(3, _resize_bilinear),
    "RESIZE_NEAREST_NEIGHBOR": _Rule(3, _io_rule(1, 1)),
    "SELECT": _Rule(1, _select),
    "SELECT_V2": _Rule(1, _select),
    "SLICE": _Rule(2, lambda op, g: _rank_3_or_4(op, g, 3)),
    "SOFTMAX": _Rule(2, _softmax),
    "SPLIT": _Rule(None, None),
    "SPLIT_V": _Rule(None, None),
    "STRIDED_SLICE": _Rule(4, _strided_slice),
    "TILE": _Rule(None, _io_rule(1, 1)),
    "TRANSPOSE": _Rule(4, _io_rule(1, 1)),
    "TRANSPOSE_CONV": _Rule(3, _transpose_conv),
    "CUSTOM": _Rule(None, _custom),
}
_OPENGL_EXCLUDED = frozenset({"SPLIT", "SPLIT_V"})


def _allowed_dtypes(op: OperatorInfo, allow_quant: bool) -> tuple[set[str], set[str]]:
    """Run-time tensor dtypes an op may read and write (GetOpsToReplace)."""
    ins, outs = set(_FLOATS), set(_FLOATS)
    if allow_quant:
        ins |= {"int8", "uint8"}
        outs |= {"int8", "uint8"}
    if op.op in _COMPARISONS:
        outs.add("bool")
    if op.op == "CAST":
        ins |= {"bool", "float32", "int32"}
        outs |= {"float32", "int32", "bool"}
    if op.op in ("ONE_HOT", "GATHER"):
        ins.add("int32")
    if op.op in ("SELECT", "SELECT_V2"):
        ins.add("bool")
    if op.op == "LOGICAL_AND":
        ins.add("bool")
        outs.add("bool")
    return ins, outs


def _tensor_reasons(op: OperatorInfo, g: _Graph, allow_quant: bool) -> list[str]:
    """IsAllAllowedTensors: rank <= 4 for all tensors; allowed dtypes for run-time (non-constant) ones."""
    ins, outs = _allowed_dtypes(op, allow_quant)
    reasons = []
    for indices, allowed, role in ((op.inputs, ins, "input"), (op.outputs, outs, "output")):
        for t in indices:
            if t < 0:
                continue
            info = g.tensor(t)
            if info.rank >= 5:
                reasons.append(f"{role} tensor {t} {list(info.shape)} has rank {info.rank} > 4")
            if not g.is_const(t) and not info.is_variable and info.dtype not in allowed:
                allowed_text = ", ".join(sorted(allowed))
                reasons.append(f"{role} tensor {t} is {info.dtype} (allowed here: {allowed_text})")
    return reasons


def _op_reasons(op: OperatorInfo, g: _Graph, config: GpuCheckConfig) -> list[str]:
    rule = _RULES.get(op.op)
    if rule is None or (rule.quant_only and not config.allow_quant_ops):
        reasons = [f"{op.op} is not supported by the GPU delegate"
                   + ("" if rule is None else " without quantized ops enabled")]
    elif config.backend == "opengl" and op.op in _OPENGL_EXCLUDED:
        reasons = [f"{op.op} is excluded on the OpenGL backend"]
    elif rule.max_version is not None and op.version > rule.max_version:
        reasons = [f"version {op.version} > {rule.max_version} supported"]
    else:
        reasons = rule.check(op, g) if rule.check else []
    return reasons + _tensor_reasons(op, g, config.allow_quant_ops)


def _fp16_weight_dequantizes(sg: SubgraphInfo) -> dict[int, int]:
    """DEQUANTIZE ops that turn a constant fp16 tensor into float32 weights (fp16-quantized exports)."""
    found = {}
    for op in sg.operators:
        if op.op == "DEQUANTIZE" and op.inputs and op.inputs[0] >= 0 and op.outputs:
            src = sg.tensors[op.inputs[0]]
            if src.dtype == "float16" and src.is_constant:
                found[op.outputs[0]] = op.inputs[0]
    return found


def _side_effect_edges(sg: SubgraphInfo) -> list[tuple[int, int]]:
    """Control edges chaining ops that might have side effects (resource tensors, control flow)."""
    edges, last = [], -1
    for op in sg.operators:
        touches_resource = any(t >= 0 and sg.tensors[t].dtype == "resource" for t in op.inputs + op.outputs)
        if touches_resource or op.op in ("IF", "WHILE", "CALL_ONCE"):
            if last >= 0:
                edges.append((last, op.index))
            last = op.index
    return edges


def partition_nodes(sg: SubgraphInfo, supported: set[int]) -> list[tuple[bool, list[int]]]:
    """Split a subgraph's ops into node subsets the way TFLite does before handing some to a delegate.

    Returns ``(delegated, op indices)`` per subset, in creation order. Mirrors the greedy mode of
    ``PartitionGraphIntoIndependentNodeSubsets`` (the default): each subset grows with every op of
    its kind whose inputs are ready, even past ops of the other kind, so one unsupported op splits
    the graph only where data really flows through it.
    """
    ops = sg.operators
    produced = {t for op in ops for t in op.outputs if t >= 0}
    ready: set[int] = {t for t in range(len(sg.tensors)) if t not in produced}
    done = [False] * len(ops)
    edges = _side_effect_edges(sg)
    waiting = Counter(dst for _, dst in edges)
    subsets: list[tuple[bool, list[int]]] = []
    while True:
        kind: bool | None = None
        nodes: list[int] = []
        progress = True
        while progress:
            progress = False
            for op in ops:
                if done[op.index] or waiting[op.index] or any(t >= 0 and t not in ready for t in op.inputs):
                    continue
                if kind is None:
                    kind = op.index in supported
                if (op.index in supported) != kind:
                    continue
                done[op.index] = True
                nodes.append(op.index)
                ready.update(t for t in op.outputs if t >= 0)
                for src, dst in edges:
                    if src == op.index:
                        waiting[dst] -= 1
                progress = True
        if not nodes:
            return subsets
        subsets.append((bool(kind), nodes))


def _check_subgraph(sg: SubgraphInfo, signatures: tuple[str, ...], config: GpuCheckConfig) -> SubgraphReport:
    fp16 = _fp16_weight_dequantizes(sg)
    g = _Graph(sg, fp16)
    folded = {g.producers[t][0] for t in fp16}
    reasons = {op.index: _op_reasons(op, g, config) for op in sg.operators if op.index not in folded}
    supported = {i for i, r in reasons.items() if not r}
    partitions = [nodes for kind, nodes in partition_nodes(sg, supported) if kind]
    if len(supported) + len(folded) == len(sg.operators):
        on_gpu = {op.index for op in sg.operators}  # full delegation takes the fp16 DEQUANTIZEs too
    else:
        largest = sorted(partitions, key=len, reverse=True)[:max(1, config.max_delegated_partitions)]
        on_gpu = {i for p in largest for i in p}
    verdicts = tuple(
        OpVerdict(
            index=op.index, op=op.name, version=op.version,
            verdict="folded" if op.index in folded else ("ok" if op.index in supported else "refused"),
            runs_on="gpu" if op.index in on_gpu else "cpu",
            reasons=("fp16 weights, read directly by the delegated op",) if op.index in folded
            else tuple(reasons[op.index]),
        )
        for op in sg.operators
    )
    return SubgraphReport(index=sg.index, name=sg.name, signatures=signatures, ops=verdicts,
                          partitions=tuple(tuple(p) for p in partitions),
                          max_delegated_partitions=max(1, config.max_delegated_partitions))


def _num_elements(dims: tuple[int, ...]) -> int:
    n = 1
    for d in dims:
        n *= d
    return n
