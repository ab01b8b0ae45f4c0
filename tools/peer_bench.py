"""Our TFLite exports side by side with PyTorch eager and ONNX Runtime (fp32 and int8 static), one process.

For each model the script makes our exports with this repo's exporter (untrained weights, int8 calibrated on
synth clips; fp32/int8 full-clip, and the streaming export of the CNN+LSTM), builds the PyTorch peer of the same
architecture (torchvision's own ``r2plus1d_18``; faithful re-definitions of ``cnn_lstm_basic`` and ``cnn3d``,
checked against our model's parameter count), exports it to ONNX, quantizes that statically (QDQ, per-channel,
calibrated on the same synth clips), and then times every case of the model in the same interleaved rounds
(``edge_slr.bench.latency.time_interleaved``; our side through the project's ``TFLiteRunner`` and bench
workloads). Batch 1, same thread count everywhere. Prints medians, the ratio of ours to each peer, and the
achieved GFLOP/s against this CPU's fp32 peak.

    .venv-peer/bin/python tools/peer_bench.py [--models cnn3d cnn_lstm_basic] [--json out.json]

Needs the ``peer`` extra (torch, torchvision, onnx, onnxscript, onnxruntime) next to ``train`` and ``live``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from edge_slr.models.registry import KINETICS_MEAN, KINETICS_STD  # TensorFlow-free: safe before torch

# The CUDA torch wheel brings triton, whose import segfaults once TensorFlow is loaded (LLVM symbols clash); the
# CPU comparison never needs it, and torch treats a failing `import triton` as "no triton".
sys.modules.setdefault("triton", None)  # type: ignore[arg-type]
# Interleaved rounds need every stack to let go of the cores when its call returns. PyTorch's OpenMP threads
# otherwise spin-wait (up to 200 ms) after each call and slowed whatever ran next 3-10x here (and PyTorch itself
# 10x on this loaded 2-core machine); ONNX Runtime gets allow_spinning=0 below. Measured alone, neither option
# changed a stack's own median.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("KMP_BLOCKTIME", "0")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

TORCH, ORT_FP32, ORT_INT8 = "PyTorch eager fp32", "ONNX Runtime fp32", "ONNX Runtime int8 static"
PEERS = (TORCH, ORT_FP32, ORT_INT8)


@dataclass(frozen=True)
class ModelSpec:
    """One benchmarked architecture: our registry name, its clip shape, and which of our exports to time."""

    arch: str
    frames: int
    size: int
    streaming: bool  # also the per-new-frame comparison (our streaming export vs the peers' frame encoder)


SPECS = {
    "r2plus1d_18": ModelSpec("r2plus1d_18", 16, 112, False),
    "cnn_lstm_basic": ModelSpec("cnn_lstm_basic", 16, 128, True),
    "cnn3d": ModelSpec("cnn3d", 16, 128, False),
}


@dataclass
class Case:
    """One timed row of the table."""

    model: str  # table group, e.g. "cnn_lstm_basic clip 16x128x128"
    stack: str  # "PyTorch eager fp32", "ours TFLite int8", ...
    ours: bool
    median_ms: float | None = None
    p90_ms: float | None = None
    runs: int = 0
    first_ms: float | None = None
    gflop: float | None = None
    gflops_per_s: float | None = None
    note: str = ""
    ratios: dict[str, float] = field(default_factory=dict)  # ours / peer median, per peer in the same group
    error: str = ""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- this CPU ---------------------------------------------------------------------------------------------


def cpu_facts() -> dict[str, object]:
    """Model name, clock and fp32 peak of the cores we use: cores x 2 FMA units x lanes x 2 FLOPs x clock."""
    text = Path("/proc/cpuinfo").read_text()
    name = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
    mhz = [float(v) for v in re.findall(r"^cpu MHz\s*:\s*([\d.]+)$", text, re.M)]
    flags = set((re.search(r"^flags\s*:\s*(.+)$", text, re.M) or ["", ""])[1].split())
    ghz = max(mhz) / 1e3 if mhz else float("nan")
    return {"model_name": name.group(1).strip() if name else "unknown", "clock_ghz": ghz, "flags_avx512f":
            "avx512f" in flags, "flags_avx512_vnni": "avx512_vnni" in flags, "flags_avx_vnni": "avx_vnni" in flags}


def peak_gflops(threads: int, ghz: float, lanes: int) -> float:
    return threads * 2 * lanes * 2 * ghz


# -- synth data ---------------------------------------------------------------------------------------------


def synth_dataset(root: Path, size: int) -> Path:
    """A prepared synth dataset (5 classes, 2 signers) stored at ``size`` px: the clips that calibrate int8."""
    from edge_slr.data.prepare import PrepareConfig, prepare
    from edge_slr.data.synth import SynthConfig, generate_dataset

    prepared = root / f"prepared_{size}"
    if (prepared / "dataset.json").is_file():
        return prepared
    generate_dataset(SynthConfig(out=root / f"synth_{size}", classes=5, clips_per_class=2, signers=2, width=size,
                                 height=size, seed=1, overwrite=True))
    prepare(PrepareConfig(src=root / f"synth_{size}", out=prepared, size=size, store_frames=16, progress=False,
                          overwrite=True))
    return prepared


def synth_clips(data: Path, frames: int, size: int, limit: int) -> list[np.ndarray]:
    """Up to ``limit`` clips ``(T, H, W, 3)`` float32 in [0, 255] (the exporter's calibration transform)."""
    from edge_slr.export.convert import calibration_clips

    clips = []
    for clip in calibration_clips(data, "train", frames, size):
        clips.append(np.asarray(clip, np.float32))
        if len(clips) >= limit:
            break
    return clips


# -- our exports -------------------------------------------------------------------------------------------


@dataclass
class OurExports:
    run: Path
    num_classes: int
    params: int
    paths: dict[str, Path]  # "fp32", "int8", "stream"
    parity: dict[str, str]


def make_exports(spec: ModelSpec, data: Path, work: Path, calib: int, val_clips: int) -> OurExports:
    """Untrained run folder + our exports; int8 calibrated on ``calib`` synth clips. Reuses files in ``work``."""
    from edge_slr.export.exporter import ExportConfig, export
    from edge_slr.models.io import load_keras_model
    from edge_slr.train.init_run import init_run
    from edge_slr.train.run_folder import BEST_MODEL

    run = work / spec.arch
    if not (run / BEST_MODEL).is_file():
        init_run(run, spec.arch, data, frames=spec.frames, size=spec.size, width=1.0)
    model = load_keras_model(run / BEST_MODEL)
    num_classes = int(model.output_shape[-1])
    jobs = {"fp32": ("fp32", False), "int8": ("int8", False)}
    if spec.streaming:
        jobs["stream"] = ("fp32", True)
        jobs["stream_int8"] = ("int8", True)
    paths, parity = {}, {}
    for key, (quant, streaming) in jobs.items():
        out = run / "export" / f"{spec.arch}_{quant}{'_stream' if streaming else ''}.tflite"
        if not out.is_file():
            log(f"[{spec.arch}] exporting {key} ...")
            t0 = time.perf_counter()
            report = export(ExportConfig(source=run, quant=quant, streaming=streaming, calib=calib,
                                         val_clips=val_clips, out=out))
            p = report.parity
            summary = (f"max|dlogit| {p.max_abs_logit_diff:.2e}, top-1 agreement {p.top1_agreement:.0%} on "
                       f"{p.clips} clips" if p else report.parity_skipped_reason)
            out.with_suffix(".parity.txt").write_text(summary)
            log(f"[{spec.arch}] {key}: {time.perf_counter() - t0:.0f} s; parity vs Keras: {summary}")
        paths[key] = out
        parity_file = out.with_suffix(".parity.txt")
        parity[key] = parity_file.read_text() if parity_file.is_file() else ""
    return OurExports(run, num_classes, int(model.count_params()), paths, parity)


def prepare_ours(spec: ModelSpec, calib: int, val_clips: int, work: Path) -> tuple[OurExports, list[np.ndarray]]:
    """Synth data, our exports and the calibration clips (run in a child process: it imports TensorFlow).

    The child's stdout (the exporter's and the converter's progress lines) goes to stderr: stdout is the table.
    """
    sys.stdout.flush()
    os.dup2(2, 1)
    data = synth_dataset(work, spec.size)
    ours = make_exports(spec, data, work, calib, val_clips)
    return ours, synth_clips(data, spec.frames, spec.size, max(calib, 2))


# -- PyTorch peers --------------------------------------------------------------------------------------------


def torch_peer(arch: str, num_classes: int, frames: int):
    """The PyTorch model of ``arch`` (eval mode) and its frame encoder (CNN+LSTM only, else None)."""
    import torch
    from torch import nn

    class Normalize(nn.Module):
        """Raw [0, 255] pixels -> Kinetics-normalized, as our models' first layer (channel axis 1)."""

        def __init__(self, rank: int):
            super().__init__()
            shape = (1, 3) + (1,) * (rank - 2)
            self.register_buffer("scale", torch.tensor([1 / (255 * s) for s in KINETICS_STD]).view(shape))
            self.register_buffer("offset", torch.tensor([-m / s for m, s in zip(KINETICS_MEAN, KINETICS_STD,
                                                                                   strict=True)]).view(shape))

        def forward(self, x):
            return x * self.scale + self.offset

    def cbr(conv_cls, bn_cls, cin, cout, kernel, stride):
        return [conv_cls(cin, cout, kernel, stride, bias=False), bn_cls(cout, eps=1e-5), nn.ReLU(inplace=True)]

    if arch == "r2plus1d_18":
        from torchvision.models.video import r2plus1d_18

        return nn.Sequential(Normalize(5), r2plus1d_18(num_classes=num_classes)).eval(), None
    if arch == "cnn3d":
        layers, cin = [Normalize(5)], 3
        for cout, kernel in [(32, (3, 7, 7)), (48, (3, 7, 7)), (48, (3, 5, 5))]:
            layers += cbr(nn.Conv3d, nn.BatchNorm3d, cin, cout, kernel, 2)
            cin = cout
        convs = nn.Sequential(*layers)
        with torch.no_grad():
            flat = convs(torch.zeros(1, 3, frames, 128, 128)).numel()
        head = [nn.Flatten(), nn.Linear(flat, 512), nn.ReLU(inplace=True), nn.Dropout(0.3), nn.Linear(512, 256),
                nn.ReLU(inplace=True), nn.Linear(256, num_classes)]
        return nn.Sequential(convs, *head).eval(), None
    if arch == "cnn_lstm_basic":
        layers, cin = [Normalize(4)], 3
        for i, (cout, kernel) in enumerate([(64, 7), (128, 3), (256, 3), (512, 3)], start=1):
            layers += cbr(nn.Conv2d, nn.BatchNorm2d, cin, cout, kernel, 2 if i == 1 else 1)
            layers += cbr(nn.Conv2d, nn.BatchNorm2d, cout, cout, 1, 1)
            layers.append(nn.MaxPool2d(2))
            cin = cout
        encoder = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten()).eval()

        class CnnLstmBasic(nn.Module):
            """Frames folded into the batch ``(T, 3, H, W)``, as our 4-D edge graph takes them."""

            def __init__(self):
                super().__init__()
                self.encoder = encoder
                self.lstm = nn.LSTM(512, 512, batch_first=True)
                self.dropout = nn.Dropout(0.2)
                self.logits = nn.Linear(512, num_classes)

            def forward(self, x):
                features = self.encoder(x).reshape(1, frames, -1)
                _, (h, _) = self.lstm(features)
                return self.logits(self.dropout(h[-1]))

        return CnnLstmBasic().eval(), encoder
    raise ValueError(f"no PyTorch peer for {arch}")


def torch_param_count(model, lstm_units: int = 0) -> int:
    """Parameters + BN running statistics, minus PyTorch's second LSTM bias (Keras keeps one): Keras' count."""
    params = sum(p.numel() for p in model.parameters())
    stats = sum(b.numel() for name, b in model.named_buffers() if name.endswith(("running_mean", "running_var")))
    lstm_extra = sum(4 * m.hidden_size for m in model.modules() if type(m).__name__ == "LSTM")
    return params + stats - lstm_extra


def torch_flops(model, x) -> float:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model(x)
    return float(counter.get_total_flops())


# -- ONNX and ONNX Runtime ---------------------------------------------------------------------------------


def to_onnx(model, x, path: Path) -> None:
    import torch

    if path.is_file():
        return
    tmp = path.with_suffix(".tmp.onnx")
    with torch.inference_mode():
        torch.onnx.export(model, (x,), str(tmp), input_names=["x"], output_names=["y"], opset_version=17,
                          dynamo=False)
    tmp.replace(path)


def quantize_onnx(fp32: Path, out: Path, calib: list[np.ndarray]) -> None:
    """Static int8, QDQ, per-channel weights, MinMax-calibrated; U8S8 (ORT's fast path on x86)."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if out.is_file():
        return

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items: Iterator[np.ndarray] = iter(calib)

        def get_next(self):
            item = next(self.items, None)
            return None if item is None else {"x": item}

    pre = out.with_suffix(".pre.onnx")
    quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
    tmp = out.with_suffix(".tmp.onnx")
    quantize_static(str(pre), str(tmp), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax)
    tmp.replace(out)


def ort_session(path: Path, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


# -- one model -----------------------------------------------------------------------------------------------


def torch_layout(clip: np.ndarray, arch: str) -> np.ndarray:
    """Our clip ``(T, H, W, 3)`` in the peer's layout: NCTHW for 3-D nets, frames-in-batch NCHW for the CNN+LSTM."""
    if arch == "cnn_lstm_basic":
        return np.ascontiguousarray(clip.transpose(0, 3, 1, 2))
    return np.ascontiguousarray(clip.transpose(3, 0, 1, 2)[None])


def bench_model(spec: ModelSpec, args: argparse.Namespace, work: Path, cpu: dict) -> list[Case]:
    import torch

    from edge_slr.bench.latency import BenchConfig, BenchRow, time_interleaved
    from edge_slr.bench.workload import STREAM_STEP, Workload, build_workload
    from edge_slr.runtime.model_card import read_model_card
    from edge_slr.runtime.runner import TFLiteRunner
    from edge_slr.runtime.streaming import ENCODE_FRAME

    # TensorFlow (exports, synth clips) runs in a child process: the timed process holds only the runtimes being
    # compared (our side needs no TensorFlow at run time, as on a device), not TF's thread pools and oneDNN.
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        ours, clips = pool.submit(prepare_ours, spec, args.calib, args.val_clips, work).result()
    peer, encoder = torch_peer(spec.arch, ours.num_classes, spec.frames)
    peer_params = torch_param_count(peer)
    if peer_params != ours.params:
        raise SystemExit(f"{spec.arch}: PyTorch peer has {peer_params:,} parameters, ours {ours.params:,}: "
                         "the architectures differ")
    log(f"[{spec.arch}] PyTorch peer: {peer_params:,} parameters (ours: {ours.params:,})")
    x = torch.from_numpy(torch_layout(clips[0], spec.arch))
    groups: list[tuple[str, list[tuple[Case, Callable[[], object], float | None]]]] = []
    clip_label = f"{spec.arch} clip {spec.frames}x{spec.size}x{spec.size}"
    frame_label = f"{spec.arch} one new frame {spec.size}x{spec.size}"
    runners: list[TFLiteRunner] = []

    def peer_cases(label: str, model, example, name: str) -> list[tuple[Case, Callable[[], object], float]]:
        flops = torch_flops(model, example)
        fp32 = work / spec.arch / f"{name}.onnx"
        int8 = work / spec.arch / f"{name}_int8_qdq.onnx"
        log(f"[{spec.arch}] ONNX export + static int8 of {name} ...")
        to_onnx(model, example, fp32)
        calib = [torch_layout(c, spec.arch) for c in clips[:args.calib]]
        if name.endswith("encoder"):
            calib = [c[i:i + 1] for c in calib for i in range(0, len(c), 4)]
        quantize_onnx(fp32, int8, calib)
        feed = {"x": example.numpy()}
        s32, s8 = ort_session(fp32, args.threads), ort_session(int8, args.threads)

        def run_torch():
            with torch.inference_mode():
                return model(example)

        return [(Case(label, TORCH, False), run_torch, flops),
                (Case(label, ORT_FP32, False), lambda: s32.run(None, feed), flops),
                (Case(label, ORT_INT8, False, note="QDQ, per-channel, U8S8"), lambda: s8.run(None, feed), flops)]

    def our_case(label: str, stack: str, path: Path, signature: str | None, note: str = ""
                 ) -> list[tuple[Case, Callable[[], object], float | None]]:
        """Our export's case, and the same file from --before (an older export) when given."""
        cases = [_our_case(label, stack, path, signature, note)]
        if args.before is not None:
            old = args.before / path.relative_to(work)
            if old.is_file():
                cases.append(_our_case(label, f"before: {stack}", old, signature, ""))
            else:
                log(f"--before {args.before} has no {old.relative_to(args.before)}: no before row for {stack}")
        return cases

    def _our_case(label: str, stack: str, path: Path, signature: str | None, note: str
                  ) -> tuple[Case, Callable[[], object], float | None]:
        runner = TFLiteRunner(path, num_threads=args.threads)
        runners.append(runner)
        card = read_model_card(runner.model)
        work_ = build_workload(runner, card, signature, np.random.default_rng(0),
                               [clips[0]] if signature is None else None)
        return Case(label, stack, True, note=note), work_.call, work_.flops

    clip_cases = peer_cases(clip_label, peer, x, "clip")
    clip_cases.extend(our_case(clip_label, "ours TFLite fp32", ours.paths["fp32"], None, ours.parity["fp32"]))
    clip_cases.extend(our_case(clip_label, "ours TFLite int8", ours.paths["int8"], None, ours.parity["int8"]))
    groups.append((clip_label, clip_cases))
    if spec.streaming:
        frame = torch.from_numpy(torch_layout(clips[0], spec.arch)[:1])
        frame_cases = peer_cases(frame_label, encoder, frame, "frame_encoder")
        for case, _, _ in frame_cases:
            case.stack += " (encoder only)"
        stream = ours.paths["stream"]
        stream8 = ours.paths["stream_int8"]
        frame_cases.extend(our_case(frame_label, "ours TFLite fp32 streaming encode_frame+lstm_step", stream,
                                    STREAM_STEP, ours.parity["stream"]))
        frame_cases.extend(our_case(frame_label, "ours TFLite int8 streaming encode_frame+lstm_step", stream8,
                                    STREAM_STEP, ours.parity["stream_int8"]))
        frame_cases.extend(our_case(frame_label, "ours TFLite fp32 streaming encode_frame only", stream,
                                    ENCODE_FRAME))
        frame_cases.extend(our_case(frame_label, "ours TFLite int8 streaming encode_frame only", stream8,
                                    ENCODE_FRAME))
        groups.append((frame_label, frame_cases))

    out: list[Case] = []
    config = BenchConfig(threads=(args.threads,), runs=args.runs, warmup=args.warmup, min_time=args.min_time)
    peak = peak_gflops(args.threads, float(cpu["clock_ghz"]), 8)
    for label, cases in groups:
        log(f"[{spec.arch}] timing {label}: {len(cases)} cases, interleaved, >= {args.runs} rounds ...")
        rows = []
        for case, call, flops in cases:
            row = BenchRow(model=case.stack, path="", threads=args.threads, delegate="")
            rows.append((row, Workload(case.stack, (), flops, True, call)))
        time_interleaved(rows, config)
        for (case, _, flops), (row, _) in zip(cases, rows, strict=True):
            if not row.ok:
                case.error = row.reason
            else:
                case.median_ms, case.p90_ms, case.runs, case.first_ms = row.p50_ms, row.p90_ms, row.runs, row.first_ms
                if flops:
                    case.gflop = flops / 1e9
                    case.gflops_per_s = case.gflop / (row.p50_ms / 1e3)
            out.append(case)
        group = out[-len(cases):]
        peers = {c.stack: c.median_ms for c in group if not c.ours and c.median_ms}
        for c in group:
            if c.ours and c.median_ms:
                c.ratios = {p: c.median_ms / m for p, m in peers.items()}
        log(format_group(group, peak))
    for runner in runners:
        runner.close()
    return out


# -- output ---------------------------------------------------------------------------------------------------


def format_group(cases: list[Case], peak: float) -> str:
    lines = [cases[0].model]
    for c in cases:
        if c.error:
            lines.append(f"  {c.stack:<52} failed: {c.error}")
            continue
        rate = f"{c.gflops_per_s:6.1f} ({c.gflops_per_s / peak:4.0%})" if c.gflops_per_s else " " * 13
        ratios = "  ".join(f"{v:.2f}x {short(p)}" for p, v in c.ratios.items())
        lines.append(f"  {c.stack:<52} {c.median_ms:9.2f} {c.p90_ms:9.2f} {c.runs:5d} {rate}  {ratios}")
    return "\n".join(lines)


def short(peer: str) -> str:
    return {TORCH: "torch", ORT_FP32: "ort32", ORT_INT8: "ort8"}[peer.split(" (")[0]]


def markdown(cases: list[Case]) -> str:
    """One line per group: the peers' medians, ours (fp32 and int8; the streaming exports' encode+step for the
    per-frame group), and ratios (> 1: ours slower) like for like and against the fastest peer."""
    lines = ["| model, input | PyTorch eager fp32 | ONNX Runtime fp32 | ONNX Runtime int8 static | ours fp32 | "
             "ours int8 | ours fp32 / best fp32 peer | ours int8 / ORT int8 | our best / best peer |",
             "|---|---|---|---|---|---|---|---|---|"]
    for label in dict.fromkeys(c.model for c in cases):
        group = [c for c in cases if c.model == label and c.median_ms and not c.stack.startswith("before:")]
        peer = {c.stack.split(" (")[0]: c.median_ms for c in group if not c.ours}
        mine = {prec: next((c.median_ms for c in group if c.ours and f" {prec}" in c.stack and "only" not in c.stack),
                           None) for prec in ("fp32", "int8")}
        best32 = min((peer[p] for p in (TORCH, ORT_FP32) if p in peer), default=None)

        def cell(v: float | None) -> str:
            return f"{v:.1f} ms" if v else "-"

        def ratio(a: float | None, b: float | None) -> str:
            return f"{a / b:.2f}" if a and b else "-"

        best_ours = min((v for v in mine.values() if v), default=None)
        lines.append(f"| {label} | {' | '.join(cell(peer.get(p)) for p in PEERS)} | {cell(mine['fp32'])} | "
                     f"{cell(mine['int8'])} | {ratio(mine['fp32'], best32)} | "
                     f"{ratio(mine['int8'], peer.get(ORT_INT8))} | "
                     f"{ratio(best_ours, min(peer.values(), default=None))} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", choices=sorted(SPECS), default=list(SPECS),
                        help="models to compare (default: all)")
    parser.add_argument("--threads", type=int, default=2, help="threads for every stack (default 2)")
    parser.add_argument("--runs", type=int, default=10, help="interleaved rounds at least (default 10)")
    parser.add_argument("--min-time", type=float, default=15.0,
                        help="keep adding rounds until the group has run this many seconds (default 15)")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up calls per case (default 2)")
    parser.add_argument("--calib", type=int, default=6, help="synth clips calibrating both int8 exports (default 6)")
    parser.add_argument("--val-clips", type=int, default=4,
                        help="synth clips for our exports' parity vs Keras (default 4; 0 skips)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="keep exports here and reuse them on the next run (default: a temporary folder)")
    parser.add_argument("--before", type=Path, default=None,
                        help="the --workdir of an earlier run: its exports are timed too, in the same rounds, "
                             "as 'before:' rows (before/after of an export change)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results as JSON to this file")
    args = parser.parse_args()
    if args.threads < 1 or args.runs < 1 or args.calib < 1:
        parser.error("--threads, --runs and --calib must be >= 1")

    import warnings

    import torch

    warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    cpu = cpu_facts()
    peak8, peak16 = (peak_gflops(args.threads, float(cpu["clock_ghz"]), lanes) for lanes in (8, 16))
    log(f"CPU: {cpu['model_name']}, clock {cpu['clock_ghz']:.2f} GHz (/proc/cpuinfo), {args.threads} threads: "
        f"fp32 peak {peak8:.1f} GFLOP/s with 8-lane AVX2 FMA"
        + (f", {peak16:.1f} with 16-lane AVX-512 (this CPU has avx512f)" if cpu["flags_avx512f"] else ""))
    with tempfile.TemporaryDirectory() as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        cases = [c for name in args.models for c in bench_model(SPECS[name], args, work, cpu)]
    print(f"peer_bench {time.strftime('%Y-%m-%d')}: {cpu['model_name']}, {args.threads} threads, batch 1, "
          f"median ms of interleaved rounds; GFLOP/s (% of the {peak8:.1f} GFLOP/s AVX2 fp32 peak at "
          f"{cpu['clock_ghz']:.2f} GHz); ratio = ours / peer (< 1: ours faster)")
    print(f"  {'stack':<52} {'median':>9} {'p90':>9} {'runs':>5} {'GFLOP/s':>13}  ratios")
    for label in dict.fromkeys(c.model for c in cases):
        print(format_group([c for c in cases if c.model == label], peak8))
    for c in cases:
        if c.ours and c.note:
            print(f"  parity of {c.model} / {c.stack} vs its Keras model: {c.note}")
    print()
    print(markdown(cases))
    if args.json:
        from edge_slr.utils.atomic import write_json

        write_json(args.json, {"cpu": cpu, "threads": args.threads, "peak_gflops_avx2": peak8,
                               "peak_gflops_avx512": peak16 if cpu["flags_avx512f"] else None,
                               "cases": [asdict(c) for c in cases]})


if __name__ == "__main__":
    main()
