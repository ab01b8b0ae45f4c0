"""CLI target of ``edge-slr export-tflite`` (also the ``export-tflite`` console script)."""

from __future__ import annotations

import argparse
from pathlib import Path


def export_cmd(args: argparse.Namespace) -> int:
    """Export one trained run and print the export report."""
    from edge_slr.export.exporter import ExportConfig, export

    cfg = ExportConfig(
        source=Path(args.source), quant=args.quant, out=Path(args.out) if args.out else None,
        calib_data=Path(args.calib_data) if args.calib_data else None, calib=args.calib, io_dtype=args.io_dtype,
        streaming=args.streaming, val_clips=args.val_clips, qat_epochs=args.qat_epochs, threads=args.threads,
        clip_seconds=args.clip_seconds)
    report = export(cfg)
    print(report.format_text())
    return 0
