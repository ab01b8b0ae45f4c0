"""``edge-slr export-tflite``: trained run -> 4-D edge .tflite with model card, sidecar and report."""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tqdm import tqdm

from edge_slr.errors import UserError
from edge_slr.export.formats import IO_DTYPES, get_format
from edge_slr.export.report import ExportReport, measure_parity
from edge_slr.runtime.model_card import METADATA_NAME
from edge_slr.utils.atomic import write_bytes, write_json

if TYPE_CHECKING:
    from edge_slr.runtime.tflite_file import TensorInfo, TFLiteModel


@dataclass(frozen=True)
class ExportConfig:
    """Everything one export needs; built from the CLI arguments."""

    source: Path  # run folder or .keras file inside one
    quant: str = "fp32"
    out: Path | None = None
    calib_data: Path | None = None  # prepared dataset (default: the run's training data)
    calib: int = 100  # calibration clips for int8 / qat
    io_dtype: str = "float32"  # int8/uint8 lets a device feed integer frames to full-integer models
    streaming: bool = False
    val_clips: int = 100  # validation clips for parity/accuracy; 0 skips
    qat_epochs: int = 2
    threads: int | None = None
    clip_seconds: float | None = None  # seconds of video one input clip spans (default: frames / fps of the run)

    def validate(self) -> None:
        fmt = get_format(self.quant)
        if self.io_dtype not in IO_DTYPES:
            raise UserError(f"--io-dtype must be one of {', '.join(IO_DTYPES)}, got {self.io_dtype}")
        if self.io_dtype != "float32" and not fmt.integer_io:
            raise UserError(f"--io-dtype {self.io_dtype} needs a full-integer format (int8 or qat), not {self.quant}")
        if self.streaming and self.io_dtype != "float32":
            raise UserError("--streaming exports pick their own tensor types (int8 frames and state for "
                            "full-integer causal streams, else float): leave --io-dtype at float32")
        if self.calib < 1 or self.val_clips < 0 or self.qat_epochs < 1:
            raise UserError("--calib and --qat-epochs must be >= 1 and --val-clips >= 0")
        if self.out is not None and self.out.suffix != ".tflite":
            raise UserError(f"--out must end in .tflite, got {self.out}")


def _data_dir(cfg: ExportConfig, run_config: dict) -> Path | None:
    data = cfg.calib_data or run_config.get("data")
    return Path(data) if data else None


def _require_data(data: Path | None, why: str) -> Path:
    if data is None or not (data / "dataset.json").is_file():
        raise UserError(f"{why} needs the prepared dataset, but {data or 'no data folder'} has no dataset.json; "
                        "pass --calib-data DIR (the output of `edge-slr prepare`)")
    return data


def _val_clips(data: Path, frames: int, size: int, limit: int) -> tuple[np.ndarray, np.ndarray]:
    from edge_slr.data.info import load_dataset_info
    from edge_slr.data.pipeline import make_dataset

    split = "val" if load_dataset_info(data).splits.get("val") else "train"
    clips, labels = [], []
    for x, y in make_dataset(data, split, frames=frames, size=size, batch=8, training=False):
        clips.append(x.numpy())
        labels.append(y.numpy())
        if sum(len(c) for c in clips) >= limit:
            break
    return np.concatenate(clips)[:limit], np.concatenate(labels)[:limit]


def export(cfg: ExportConfig) -> ExportReport:
    """Run one export end to end; every file is written atomically."""
    cfg.validate()
    from edge_slr.export.convert import calibration_clips, convert_clip_model, representative_from
    from edge_slr.export.edge_model import load_trained
    from edge_slr.export.fold import fold_input_normalization, prefer_integer_kernels
    from edge_slr.export.model_card import build_card
    from edge_slr.models import get_model_info
    from edge_slr.models.summary import count_flops
    from edge_slr.runtime.clip_classifier import ClipClassifier
    from edge_slr.runtime.gpu_check import check_model
    from edge_slr.runtime.tflite_file import parse_model, set_metadata
    from edge_slr.runtime.xnnpack import xnnpack_stats
    from edge_slr.train.run_folder import load_run

    fmt = get_format(cfg.quant)
    started = time.perf_counter()
    run = load_run(cfg.source)  # cheap checks first: no model is loaded before the arguments are known good
    data = _data_dir(cfg, run.config)
    family = get_model_info(run.arch).family
    causal = run.arch.endswith("_causal")
    if cfg.streaming and family != "lstm" and not causal:
        raise UserError(f"--streaming applies to the CNN+LSTM family and *_causal 3-D models; {run.arch} is a "
                        "full-clip 3-D model")
    if cfg.quant == "qat" and family != "3d":
        raise UserError(f"--quant qat supports the 3-D family; {run.arch} has LSTMs, which tfmot cannot train "
                        "quantization-aware: use --quant int8 (post-training) instead")
    if fmt.needs_calibration:
        data = _require_data(data, f"--quant {cfg.quant}")
    loaded = load_trained(cfg.source)
    if cfg.quant != "qat":  # QAT fine-tunes the edge model itself: leave its layers as trained
        fold_input_normalization(loaded.edge)
        if fmt.needs_calibration:
            prefer_integer_kernels(loaded.edge)
    clip_shape = (loaded.frames, loaded.size, loaded.size, 3)
    suffix = "_stream" if cfg.streaming else ""
    out = cfg.out or loaded.run_dir / "export" / f"{loaded.arch}_{cfg.quant}{suffix}.tflite"

    model = loaded.edge
    representative = None
    if fmt.needs_calibration and not cfg.streaming:
        representative = representative_from(calibration_clips(data, "train", loaded.frames, loaded.size), cfg.calib)
    if cfg.quant == "qat":
        from edge_slr.export.qat import quantize_aware_finetune

        model = quantize_aware_finetune(loaded, data, epochs=cfg.qat_epochs)
    print(f"converting {loaded.arch} ({cfg.quant}{', streaming' if cfg.streaming else ''}) ...", flush=True)
    stream = None
    if cfg.streaming and causal:
        from edge_slr.export.causal_stream import convert_causal_streaming, stream_card
        from edge_slr.export.convert import configure

        calib = calibration_clips(data, "train", loaded.frames, loaded.size) if fmt.needs_calibration else None
        state_dtype = "int8" if fmt.needs_calibration else "float32"  # full-integer streams keep int8 state
        with tempfile.TemporaryDirectory() as tmp:
            tflite, plan = convert_causal_streaming(
                loaded.edge, loaded.size, Path(tmp),
                lambda conv, rep: configure(conv, cfg.quant, rep, state_dtype, state_dtype), calib, cfg.calib)
        stream = stream_card(plan, loaded.frames)
    elif cfg.streaming:
        from edge_slr.export.convert import configure
        from edge_slr.export.streaming import convert_streaming

        calib = calibration_clips(data, "train", loaded.frames, loaded.size) if fmt.needs_calibration else None
        with tempfile.TemporaryDirectory() as tmp:
            tflite = convert_streaming(loaded.edge, loaded.size, loaded.frames, Path(tmp),
                                       lambda conv, rep: configure(conv, cfg.quant, rep, "float32"), calib, cfg.calib)
    else:
        tflite = convert_clip_model(model, clip_shape, cfg.quant, representative, cfg.io_dtype)

    parsed = parse_model(tflite, str(out))
    frame_input = _frame_tensor(parsed)
    io_dtype, input_quant = "float32", None
    if frame_input.quantization is not None and frame_input.dtype in ("int8", "uint8"):
        q = frame_input.quantization
        io_dtype, input_quant = frame_input.dtype, {"scale": q.scales[0], "zero_point": q.zero_points[0]}
    signatures = {s.key: {"inputs": sorted(s.inputs), "outputs": sorted(s.outputs)} for s in parsed.signatures}
    flops, _ = count_flops(loaded.edge, clip_shape)
    card = build_card(loaded, cfg.quant, io_dtype, cfg.streaming, flops, tflite, signatures, input_quant,
                      clip_seconds=cfg.clip_seconds, stream=stream)
    final = set_metadata(tflite, METADATA_NAME, json.dumps(card, ensure_ascii=False).encode("utf-8"), str(out))
    write_bytes(out, final)
    write_json(out.with_suffix(".json"), card)

    model_info = parse_model(final, str(out))
    gpu = check_model(model_info)
    xnn = xnnpack_stats(final, num_threads=cfg.threads or 1)
    gpu_summary = "; ".join(f"[{', '.join(sg.signatures) or sg.index}] {sg.summary()}" for sg in gpu.subgraphs)
    report = ExportReport(
        path=str(out), arch=loaded.arch, quantization=cfg.quant, io_dtype=io_dtype, streaming=cfg.streaming,
        size_bytes=len(final), seconds=0.0, op_histogram=dict(model_info.op_counts()),
        gpu_compatible=gpu.fully_delegable, gpu_summary=gpu_summary, gpu_refused=dict(gpu.refused_counts()),
        xnnpack=[{"name": x.name, "signatures": list(x.signatures), "total_ops": x.total_ops,
                  "delegated_ops": x.delegated_ops, "partitions": x.partitions,
                  "cpu_ops": sorted({name for _, name in x.cpu_ops})} for x in xnn],
        parity=None)
    if cfg.val_clips == 0:
        report.parity_skipped_reason = "--val-clips 0"
    elif data is None or not (data / "dataset.json").is_file():
        report.parity_skipped_reason = f"no prepared dataset at {data}; pass --calib-data DIR"
    else:
        clips, labels = _val_clips(data, loaded.frames, loaded.size, cfg.val_clips)
        keras_logits = loaded.reference.predict(clips, batch_size=8, verbose=0)
        with ClipClassifier(out, num_threads=cfg.threads) as classifier:
            tflite_logits = np.stack([classifier.predict(c) for c in tqdm(clips, desc="parity", unit="clip",
                                                                          leave=False)])
        report.parity = measure_parity(keras_logits, tflite_logits, labels)
    report.seconds = time.perf_counter() - started
    write_json(out.with_suffix(".report.json"), report.to_dict())
    return report


def _frame_tensor(parsed: TFLiteModel) -> TensorInfo:
    """The tensor a device feeds frames into: a streaming export's ``frame`` input (in its first signature
    that has one: a causal stream's ``every_1``), else the clip model's first input."""
    from edge_slr.export.causal_stream import FRAME  # the CNN+LSTM's encode_frame input has the same name

    for sig in parsed.signatures:
        if FRAME in sig.inputs:
            return parsed.subgraphs[sig.subgraph_index].tensors[sig.inputs[FRAME]]
    primary = parsed.subgraphs[0]
    return primary.tensors[primary.inputs[0]]
