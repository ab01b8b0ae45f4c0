"""Run ai-edge-litert's own ``litert-benchmark`` on the same file, for a side-by-side check.

It times LiteRT's CompiledModel API with raw tensor buffers (no Python input handling), so its median
is a floor for ours; a large gap points at our call overhead. It reports median/p5/p95 and init time,
no memory, and cannot load models with the fused LSTM op.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

TOOL = "litert-benchmark"
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_.]*(Error|Exception): ")


@dataclass
class LiteRtRow:
    model: str
    threads: int
    signature: str
    status: str = "ok"
    reason: str = ""
    init_ms: float | None = None
    median_ms: float | None = None
    p5_ms: float | None = None
    p95_ms: float | None = None
    mean_ms: float | None = None
    fully_accelerated: bool | None = None


def find_tool() -> str | None:
    """The console script, on PATH or next to this Python (a venv's bin that is not activated)."""
    found = shutil.which(TOOL)
    if found:
        return found
    beside = Path(sys.executable).parent / TOOL
    return str(beside) if beside.is_file() else None


def run_litert_benchmark(tool: str, model: str, threads: int, runs: int, warmup: int, signature: str | None,
                         timeout_s: float = 600.0) -> LiteRtRow:
    """One ``litert-benchmark`` run; its failure is a failed row with the tool's last error line."""
    row = LiteRtRow(model=Path(model).name, threads=threads, signature=signature or "(first)")
    with tempfile.TemporaryDirectory(prefix="edge-slr-litert-") as tmp:
        result = Path(tmp) / "result.json"
        cmd = [tool, f"--model={model}", f"--num_threads={threads}", f"--num_runs={runs}",
               f"--warmup_runs={max(warmup, 1)}", f"--result_json={result}"]
        if signature:
            cmd.append(f"--signature={signature}")
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
        except (OSError, subprocess.TimeoutExpired) as exc:
            row.status, row.reason = "failed", f"{type(exc).__name__}: {exc}"
            return row
        if proc.returncode != 0 or not result.is_file():
            row.status, row.reason = "failed", _failure_reason(proc.stderr + proc.stdout, proc.returncode)
            return row
        data = json.loads(result.read_text())
    latency = data.get("latency", {})
    row.init_ms, row.median_ms = latency.get("init_ms"), latency.get("median_ms")
    row.p5_ms, row.p95_ms, row.mean_ms = latency.get("p5_ms"), latency.get("p95_ms"), latency.get("avg_ms")
    row.fully_accelerated = data.get("fully_accelerated")
    row.signature = data.get("signature", row.signature)
    return row


def _failure_reason(output: str, returncode: int) -> str:
    """The Python exception line if the tool raised one (its C++ log lines only name source files), else
    its last error line."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    raised = [ln for ln in lines if _EXCEPTION_LINE.match(ln)]
    errors = raised or [ln for ln in lines if "error" in ln.lower()] or lines
    return errors[-1][:200] if errors else f"exit status {returncode}"


def combine(parts: list[LiteRtRow]) -> LiteRtRow:
    """One row for a workload of several signatures run one after the other: times add up.

    Percentiles of a sum are not sums of percentiles; the p5/p95 of a combined row are only a rough
    band, the medians and means add exactly enough for a side-by-side check.
    """
    if len(parts) == 1:
        return parts[0]
    failed = next((p for p in parts if p.status != "ok"), None)
    row = LiteRtRow(model=parts[0].model, threads=parts[0].threads, signature="+".join(p.signature for p in parts))
    if failed is not None:
        row.status, row.reason = "failed", f"{failed.signature}: {failed.reason}"
        return row
    for name in ("median_ms", "p5_ms", "p95_ms", "mean_ms"):
        setattr(row, name, sum(getattr(p, name) or 0.0 for p in parts))
    row.init_ms = max(p.init_ms or 0.0 for p in parts)  # each run loads the whole file once
    row.fully_accelerated = all(bool(p.fully_accelerated) for p in parts)
    return row
