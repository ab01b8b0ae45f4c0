"""How much of a model XNNPACK really runs, measured by loading it with ai-edge-litert.

TFLite applies XNNPACK lazily, at the first ``allocate_tensors()``: the nodes it takes are
replaced by one ``DELEGATE`` node per partition, appended after the original nodes. The Python
interpreter lists all of them (``_get_ops_details()``, primary subgraph only), but not which
original nodes each DELEGATE node swallowed. We recover that exactly from the partition's
boundary: walking back from a DELEGATE node's output tensors through their original producers,
stopping at the DELEGATE node's input tensors, visits precisely the nodes of that partition
(every tensor a partition reads from outside is one of its inputs).

Silent partial delegation is a common cause of "the int8 model is slower than float" (e.g. a
CONV_3D or a fused LSTM left on TFLite's reference kernels), so the bench reports these numbers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ai_edge_litert.interpreter import Interpreter, OpResolverType

from edge_slr.errors import UserError
from edge_slr.runtime.tflite_file import (
    SubgraphInfo,
    TFLiteModel,
    extract_subgraph,
    parse_model,
    read_model_bytes,
)


@dataclass(frozen=True)
class XnnpackStats:
    """XNNPACK delegation of one subgraph."""

    subgraph: int
    name: str
    signatures: tuple[str, ...]
    total_ops: int
    partition_ops: tuple[tuple[int, ...], ...]  # op indices of each partition (one DELEGATE node each)
    cpu_ops: tuple[tuple[int, str], ...]  # (op index, op name) of the ops left to TFLite's own kernels

    @property
    def delegated_ops(self) -> int:
        return sum(len(p) for p in self.partition_ops)

    @property
    def partitions(self) -> int:
        return len(self.partition_ops)

    @property
    def fraction(self) -> float:
        return self.delegated_ops / self.total_ops if self.total_ops else 1.0

    @property
    def fully_delegated(self) -> bool:
        return self.delegated_ops == self.total_ops

    def summary(self) -> str:
        line = (f"XNNPACK runs {self.delegated_ops} of {self.total_ops} ops ({self.fraction:.0%}) "
                f"in {self.partitions} partition(s)")
        if self.cpu_ops:
            names = sorted({name for _, name in self.cpu_ops})
            line += f"; left to TFLite kernels: {', '.join(names)}"
        return line


def xnnpack_stats(model: str | os.PathLike[str] | bytes, num_threads: int = 1) -> tuple[XnnpackStats, ...]:
    """Load the model with XNNPACK on and report, per subgraph, which ops it delegated.

    Every subgraph is measured (for signatures beyond the first, on a copy of the file cut down
    to that subgraph), except in models whose ops call subgraphs (control flow): there only the
    primary subgraph is measured.
    """
    data = model if isinstance(model, bytes) else read_model_bytes(model)
    source = "<bytes>" if isinstance(model, bytes) else str(model)
    info = parse_model(data, source)
    indices = range(1) if info.has_control_flow else range(len(info.subgraphs))
    results = []
    for index in indices:
        content = data if index == 0 else extract_subgraph(data, index, source)
        results.append(_measure(content, info.subgraphs[index], _signature_keys(info, index), num_threads))
    return tuple(results)


def delegation_of(interpreter: Interpreter, subgraph: SubgraphInfo,
                  signatures: tuple[str, ...] = ()) -> XnnpackStats:
    """Delegation of the primary subgraph of an interpreter whose tensors are allocated."""
    ops = interpreter._get_ops_details()  # private, but the only view of the node list
    n_original = len(subgraph.operators)
    if len(ops) < n_original:
        raise RuntimeError(f"interpreter lists {len(ops)} nodes but the file has {n_original} ops")
    original, added = ops[:n_original], ops[n_original:]
    producer = {int(t): i for i, op in enumerate(original) for t in op["outputs"]}
    delegated: set[int] = set()
    partitions = []
    for node in (op for op in added if op["op_name"] == "DELEGATE"):
        boundary = {int(t) for t in node["inputs"]}
        stack = [int(t) for t in node["outputs"]]
        members: set[int] = set()
        while stack:
            t = stack.pop()
            i = producer.get(t)
            if t in boundary or i is None or i in members:
                continue
            members.add(i)
            stack.extend(int(x) for x in original[i]["inputs"] if x >= 0)
        partitions.append(tuple(sorted(members)))
        delegated |= members
    return XnnpackStats(
        subgraph=subgraph.index,
        name=subgraph.name,
        signatures=signatures,
        total_ops=n_original,
        partition_ops=tuple(partitions),
        cpu_ops=tuple((op.index, op.name) for op in subgraph.operators if op.index not in delegated),
    )


def _measure(content: bytes, subgraph: SubgraphInfo, signatures: tuple[str, ...],
             num_threads: int) -> XnnpackStats:
    try:
        interpreter = Interpreter(model_content=content, num_threads=num_threads,
                                  experimental_op_resolver_type=OpResolverType.BUILTIN)
        interpreter.allocate_tensors()
    except (RuntimeError, ValueError) as exc:
        raise UserError(f"ai-edge-litert cannot load subgraph {subgraph.index} of the model: "
                        f"{str(exc).splitlines()[0]}") from None
    return delegation_of(interpreter, subgraph, signatures)


def _signature_keys(model: TFLiteModel, subgraph_index: int) -> tuple[str, ...]:
    return tuple(s.key for s in model.signatures if s.subgraph_index == subgraph_index)
