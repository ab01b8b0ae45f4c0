"""The export report: size, ops, GPU-delegate verdict, XNNPACK delegation, parity and accuracy."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass
class Parity:
    """TFLite vs the Keras model on the same validation clips."""

    clips: int
    max_abs_logit_diff: float
    top1_agreement: float
    keras_top1: float
    tflite_top1: float

    @property
    def top1_drop(self) -> float:
        return self.keras_top1 - self.tflite_top1


def measure_parity(keras_logits: np.ndarray, tflite_logits: np.ndarray, labels: np.ndarray) -> Parity:
    keras_pred, tflite_pred = keras_logits.argmax(-1), tflite_logits.argmax(-1)
    return Parity(clips=len(labels), max_abs_logit_diff=float(np.abs(keras_logits - tflite_logits).max()),
                  top1_agreement=float((keras_pred == tflite_pred).mean()),
                  keras_top1=float((keras_pred == labels).mean()), tflite_top1=float((tflite_pred == labels).mean()))


@dataclass
class ExportReport:
    path: str
    arch: str
    quantization: str
    io_dtype: str
    streaming: bool
    size_bytes: int
    seconds: float
    op_histogram: dict[str, int]
    gpu_compatible: bool
    gpu_summary: str
    gpu_refused: dict[str, int]
    xnnpack: list[dict[str, Any]]
    parity: Parity | None
    parity_skipped_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if self.parity is not None:
            d["parity"]["top1_drop"] = self.parity.top1_drop
        return d

    def format_text(self) -> str:
        ops = ", ".join(f"{name} x{n}" for name, n in sorted(self.op_histogram.items(), key=lambda kv: -kv[1]))
        lines = [
            f"export   {self.path}",
            f"model    {self.arch}  quant={self.quantization}  io={self.io_dtype}"
            f"{'  streaming (' + ', '.join(x['name'] for x in self.xnnpack) + ')' if self.streaming else ''}",
            f"size     {self.size_bytes / 1e6:.2f} MB   ({self.seconds:.1f} s)",
            f"ops      {ops}",
            f"GPU      {'compatible' if self.gpu_compatible else 'NOT fully delegable'}: {self.gpu_summary}",
        ]
        for x in self.xnnpack:
            lines.append(f"XNNPACK  [{x['name']}] {x['delegated_ops']}/{x['total_ops']} ops delegated in "
                         f"{x['partitions']} partition(s)" + (f"; on TFLite kernels: {', '.join(x['cpu_ops'])}"
                                                               if x["cpu_ops"] else ""))
        if self.parity is not None:
            p = self.parity
            lines.append(f"parity   {p.clips} val clips: max |logit diff| {p.max_abs_logit_diff:.2e}, "
                         f"top-1 agreement {p.top1_agreement:.1%}")
            lines.append(f"accuracy Keras {p.keras_top1:.1%}  TFLite {p.tflite_top1:.1%}  "
                         f"drop {p.top1_drop * 100:+.1f} pts")
        else:
            lines.append(f"parity   skipped: {self.parity_skipped_reason}")
        return "\n".join(lines)
