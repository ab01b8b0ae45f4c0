"""Where one model's time goes, op by op (``edge-slr bench --profile``).

What the installed runtime offers decides the method. ai-edge-litert 2.3's Python ``Interpreter`` has no
op profiler (its wrapper exposes no profiler hook), ``litert-benchmark`` has no op profiling, and the
wheel ships no ``benchmark_model`` binary. So each op is timed in isolation: for every op, a model
holding only that op (:func:`~edge_slr.runtime.tflite_file.isolated_ops`) is loaded with the same
threads and delegate and invoked on the op's *real* inputs, captured from one reference run of the
whole model. The sum of the ops is printed next to the whole subgraph's own time; the gap is what
isolation changes (cache reuse between ops, per-invoke overhead). On a device with LiteRT's C++
``benchmark_model``, ``--enable_op_profiling=true`` gives the in-graph per-op profile instead.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from edge_slr.errors import UserError
from edge_slr.runtime.model_card import read_model_card
from edge_slr.runtime.streaming import ENCODE_FRAME, LSTM_STEP
from edge_slr.runtime.tflite_file import extract_subgraph, isolated_ops, parse_model, read_model_bytes

from .inputs import DEFAULT_RANGE, value_range

MIN_OP_SECONDS = 0.02  # each op is invoked at least ``runs`` times and for at least this long


@dataclass
class OpTime:
    subgraph: str
    index: int
    op: str
    ms: float | None  # median of the isolated op's invokes; None when it could not run alone
    reason: str = ""


@dataclass
class OpTypeTotal:
    op: str
    count: int
    total_ms: float
    share: float  # of the sum over all ops


@dataclass
class Profile:
    model: str
    threads: int
    delegate: str
    method: str
    subgraphs: list[str]
    whole_ms: dict[str, float] = field(default_factory=dict)  # median invoke of each whole subgraph
    ops: list[OpTime] = field(default_factory=list)

    @property
    def sum_ms(self) -> float:
        return sum(o.ms for o in self.ops if o.ms is not None)

    def by_type(self) -> list[OpTypeTotal]:
        totals: dict[str, list[float]] = defaultdict(list)
        for o in self.ops:
            if o.ms is not None:
                totals[o.op].append(o.ms)
        total = self.sum_ms or 1.0
        rows = [OpTypeTotal(op, len(v), sum(v), sum(v) / total) for op, v in totals.items()]
        return sorted(rows, key=lambda r: -r.total_ms)


def profile_model(path: str | os.PathLike[str], threads: int = 1, use_xnnpack: bool = True,
                  signature: str | None = None, runs: int = 20, seed: int = 0) -> Profile:
    """Profile the subgraphs of ``signature`` (default: the model's entry point; the per-new-frame path
    ``encode_frame`` + ``lstm_step`` of a streaming export)."""
    data = read_model_bytes(path)
    info = parse_model(data, str(path))
    try:
        card = read_model_card(info)
    except UserError:
        card = None
    keys = [s.key for s in info.signatures]
    if signature is not None:
        wanted = signature.split("+")
        unknown = [k for k in wanted if k not in keys]
        if unknown:
            raise UserError(f"{Path(path).name} has no signature {', '.join(unknown)} (it has {', '.join(keys)})")
    elif card is not None and card.streaming and {ENCODE_FRAME, LSTM_STEP} <= set(keys):
        wanted = [ENCODE_FRAME, LSTM_STEP]
    else:
        wanted = keys[:1]
    index_of = {s.key: s.subgraph_index for s in info.signatures}
    targets = [(k, index_of[k]) for k in wanted] or [("main", 0)]
    result = Profile(model=Path(path).name, threads=threads, delegate="xnnpack" if use_xnnpack else "none",
                     method="each op timed alone on its real inputs (no op profiler in this runtime)",
                     subgraphs=[k for k, _ in targets])
    resolver = OpResolverType.BUILTIN if use_xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    rng = np.random.default_rng(seed)
    lo_hi = value_range(card) if card is not None else DEFAULT_RANGE
    for name, index in targets:
        content = data if index == 0 else extract_subgraph(data, index, str(path))
        values, feed = _reference_values(content, rng, lo_hi, zero_state=name == LSTM_STEP)
        result.whole_ms[name] = _time_model(content, feed, threads, resolver, runs)
        for op_index, op_model in isolated_ops(content, 0, str(path)):
            op_name = info.subgraphs[index].operators[op_index].name
            try:
                inputs = _inputs_of(op_model, values)
                ms = _time_model(op_model, inputs, threads, resolver, runs)
                result.ops.append(OpTime(name, op_index, op_name, ms))
            except (RuntimeError, ValueError, KeyError) as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                result.ops.append(OpTime(name, op_index, op_name, None, first))
    return result


def _reference_values(content: bytes, rng: np.random.Generator, lo_hi: tuple[float, float], zero_state: bool
                      ) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    """Run the whole subgraph once on TFLite's kernels keeping every tensor; return all tensor values
    by index, and the input feed used."""
    interp = Interpreter(model_content=content, experimental_preserve_all_tensors=True,
                         experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interp.allocate_tensors()
    feed = {}
    for d in interp.get_input_details():
        feed[d["index"]] = _random_input(d, rng, lo_hi, zero=zero_state and "feature" not in d["name"])
        interp.set_tensor(d["index"], feed[d["index"]])
    interp.invoke()
    values = {}
    for d in interp.get_tensor_details():
        try:
            values[d["index"]] = np.array(interp.get_tensor(d["index"]))
        except ValueError:  # tensors without data (unused, or freed scratch)
            continue
    return values, feed


def _random_input(details: dict, rng: np.random.Generator, lo_hi: tuple[float, float], zero: bool) -> np.ndarray:
    shape, dtype = tuple(int(d) for d in details["shape"]), np.dtype(details["dtype"])
    scales = details.get("quantization_parameters", {}).get("scales", ())
    if np.issubdtype(dtype, np.floating):
        return np.zeros(shape, dtype) if zero else rng.uniform(*lo_hi, shape).astype(dtype)
    if len(scales) == 1 and np.issubdtype(dtype, np.integer):  # quantized: real values through its scale
        zp = int(details["quantization_parameters"]["zero_points"][0])
        real = np.zeros(shape) if zero else rng.uniform(*lo_hi, shape)
        info = np.iinfo(dtype)
        return np.clip(np.round(real / scales[0]) + zp, info.min, info.max).astype(dtype)
    return np.zeros(shape, dtype)


def _inputs_of(op_model: bytes, values: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
    """The isolated op's inputs keep their tensor indices, so the reference values map straight on."""
    interp = Interpreter(model_content=op_model,
                         experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    return {d["index"]: values[d["index"]] for d in interp.get_input_details()}


def _time_model(content: bytes, feed: dict[int, np.ndarray], threads: int, resolver: OpResolverType,
                runs: int) -> float:
    """Median milliseconds of ``invoke()`` after two warm-up invokes."""
    interp = Interpreter(model_content=content, num_threads=threads, experimental_op_resolver_type=resolver)
    for d in interp.get_input_details():
        if tuple(d["shape"]) != feed[d["index"]].shape:
            interp.resize_tensor_input(d["index"], feed[d["index"]].shape)
    interp.allocate_tensors()
    for index, value in feed.items():
        interp.set_tensor(index, value)
    interp.invoke()
    interp.invoke()
    times = []
    start = time.perf_counter()
    while len(times) < runs or (time.perf_counter() - start < MIN_OP_SECONDS and len(times) < 100 * runs):
        t0 = time.perf_counter()
        interp.invoke()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)) * 1e3


def profile_table(profile: Profile, top: int = 8) -> str:
    """Per op type (count, total ms, share), the slowest single ops, and whole vs sum."""
    lines = [f"per-op profile of {profile.model} ({'+'.join(profile.subgraphs)}), {profile.threads} thread(s), "
             f"delegate {profile.delegate}",
             f"method: {profile.method}",
             f"{'op type':<28} {'count':>5} {'total ms':>9} {'share':>6}"]
    for r in profile.by_type():
        lines.append(f"{r.op:<28} {r.count:>5} {r.total_ms:>9.4f} {r.share:>6.1%}")
    whole = sum(profile.whole_ms.values())
    lines.append(f"{'sum of ops':<28} {len([o for o in profile.ops if o.ms is not None]):>5} "
                 f"{profile.sum_ms:>9.4f}   (whole {'+'.join(profile.subgraphs)} invoked as one: {whole:.4f} ms)")
    slow = sorted((o for o in profile.ops if o.ms is not None), key=lambda o: -o.ms)[:top]
    if slow:
        lines.append("slowest single ops:")
        lines.extend(f"  {o.subgraph} op {o.index:<4} {o.op:<24} {o.ms:>9.4f} ms" for o in slow)
    failed = [o for o in profile.ops if o.ms is None]
    lines.extend(f"op {o.subgraph}#{o.index} {o.op} could not run alone: {o.reason}" for o in failed)
    return "\n".join(lines)
