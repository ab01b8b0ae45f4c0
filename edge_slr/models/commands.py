"""CLI targets of ``edge-slr models`` and ``edge-slr summary``."""

from __future__ import annotations

import argparse
import json


def list_models_cmd(args: argparse.Namespace) -> int:
    """Print every registered architecture with its one-line description."""
    from edge_slr.models import list_models

    infos = list_models()
    if args.json:
        print(json.dumps([{"name": i.name, "family": i.family, "description": i.description,
                           "min_frames": i.min_frames, "min_size": i.min_size} for i in infos], indent=2))
        return 0
    width = max(len(i.name) for i in infos)
    for info in infos:
        print(f"{info.name:<{width}}  [{info.family:>4}]  {info.description}")
    return 0


def summary_cmd(args: argparse.Namespace) -> int:
    """Print the layer table, parameter counts and FLOPs of one architecture."""
    from edge_slr.models.summary import format_summary, summarize

    summary = summarize(args.arch, classes=args.classes, frames=args.frames, size=args.size, width=args.width,
                        form=args.form)
    print(json.dumps(summary.to_dict(with_layers=False), indent=2) if args.json else format_summary(summary))
    return 0
