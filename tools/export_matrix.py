"""Export every registered architecture in every post-training format and tabulate the results.

For each (architecture, format) the script builds the model (untrained weights: the graph and the
delegation do not depend on them), writes it as a run folder, runs the real exporter and prints
size, op count, our GPU-delegate verdict, XNNPACK delegation and the fp32-vs-TFLite logit parity.

    python tools/export_matrix.py --data PREPARED_DIR [--frames 8 --size 64 --width 0.25]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from edge_slr.export.exporter import ExportConfig, export
from edge_slr.models import list_models
from edge_slr.train.init_run import init_run

FORMATS = ("fp32", "fp16", "dynamic", "int8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, type=Path, help="prepared dataset (edge-slr prepare)")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--arch", nargs="*", default=[m.name for m in list_models()])
    parser.add_argument("--quant", nargs="*", default=list(FORMATS))
    parser.add_argument("--val-clips", type=int, default=8)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for arch in args.arch:
            run = init_run(Path(tmp) / arch, arch, args.data, args.frames, args.size, args.width)
            for quant in args.quant:
                start = time.perf_counter()
                r = export(ExportConfig(source=run, quant=quant, calib=4, val_clips=args.val_clips))
                x = r.xnnpack[0]
                rows.append((arch, quant, r.size_bytes / 1e6, sum(r.op_histogram.values()),
                             "yes" if r.gpu_compatible else "NO", f"{x['delegated_ops']}/{x['total_ops']}",
                             x["partitions"], r.parity.max_abs_logit_diff if r.parity else float("nan"),
                             r.parity.top1_agreement if r.parity else float("nan"), time.perf_counter() - start))
    header = f"{'arch':<15} {'quant':<8} {'MB':>6} {'ops':>5} {'GPU':>4} {'XNNPACK':>9} {'parts':>5} " \
             f"{'max|dlogit|':>11} {'top1 agree':>10} {'sec':>6}"
    print(header)
    print("-" * len(header))
    for arch, quant, mb, ops, gpu, xnn, parts, diff, agree, sec in rows:
        print(f"{arch:<15} {quant:<8} {mb:>6.2f} {ops:>5} {gpu:>4} {xnn:>9} {parts:>5} {diff:>11.2e} "
              f"{agree:>10.0%} {sec:>6.1f}")


if __name__ == "__main__":
    main()
