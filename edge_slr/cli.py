"""The ``edge-slr`` command line: parse arguments and dispatch, nothing else.

Each subcommand is declared once in :data:`COMMANDS` with the function that adds its arguments
and the ``module:function`` that runs it. The target module is imported only when its command
runs, so ``edge-slr --help`` and the TensorFlow-free commands start fast and work on a device
that has only the ``live`` extra installed.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass

from edge_slr import __version__
from edge_slr.errors import UserError


@dataclass(frozen=True)
class Command:
    """One subcommand: its help line, how to add its arguments, and what runs it."""

    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    target: str  # "package.module:function"; the function takes the parsed Namespace, returns an exit code


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _add_model_shape_args(p: argparse.ArgumentParser) -> None:
    """The arguments of ``create_model`` shared by every command that builds a model."""
    p.add_argument("--classes", type=_positive_int, default=400, help="number of classes (default: 400)")
    p.add_argument("--frames", type=_positive_int, default=16, help="frames per clip (default: 16)")
    p.add_argument("--size", type=_positive_int, default=112, help="frame height and width in pixels (default: 112)")
    p.add_argument("--width", type=_positive_float, default=1.0, help="channel width multiplier (default: 1.0)")


def _add_models(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the registry as JSON")


def _add_summary(p: argparse.ArgumentParser) -> None:
    p.add_argument("arch", help="architecture name (see `edge-slr models`)")
    _add_model_shape_args(p)
    p.add_argument("--form", choices=["5d", "4d"], default="5d",
                   help="5d: Conv3D training form; 4d: Conv2D-only edge form (default: 5d)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")


def _add_prepare(p: argparse.ArgumentParser) -> None:
    p.add_argument("src", help="source: class folders of videos, CSL frame folders, or a manifest CSV")
    p.add_argument("out", help="output folder for the TFRecord shards and dataset.json")
    p.add_argument("--layout", default="auto", help="auto, folders, csl or manifest (default: auto)")
    p.add_argument("--store-frames", type=_positive_int, default=32,
                   help="frames kept per clip, evenly spread (default: 32)")
    p.add_argument("--size", type=_positive_int, default=128,
                   help="stored frames are the --crop square resized to SIZE x SIZE (default: 128)")
    p.add_argument("--min-frames", type=_positive_int, default=8,
                   help="skip clips with fewer decodable frames (default: 8)")
    p.add_argument("--split", default="auto",
                   help="auto, signer, random or manifest (default: auto = the manifest's split column, "
                        "else by signer, else random)")
    p.add_argument("--val", type=float, default=0.25, help="validation fraction (default: 0.25)")
    p.add_argument("--seed", type=int, default=0, help="seed of the split and shard order (default: 0)")
    p.add_argument("--workers", type=int, default=0, help="decoding threads (default: 0 = one per core)")
    p.add_argument("--shard-size", type=_positive_int, default=64, help="clips per shard (default: 64)")
    p.add_argument("--overwrite", action="store_true",
                   help="rebuild OUT when it holds a dataset prepared with other arguments")
    p.add_argument("--crop", default="centre",
                   help="how frames are cut from the source: centre (the centre square), signer (hands, head and "
                        "shoulders) or hand (one hand, for handshape close-ups); signer/hand need --hands-model "
                        "(default: centre)")
    p.add_argument("--crop-scale", type=_positive_float, default=None,
                   help="centre: fraction of the short side (default 1.0); signer: scale of the signing space "
                        "(default 1.0); hand: square side over the hand's extent (default 1.25)")
    p.add_argument("--hands-model", default=None,
                   help="MediaPipe hand_landmarker.task for the signer/hand crops (default: $EDGE_SLR_HANDS_MODEL)")


def _add_check_gpu(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="the .tflite file to check")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the op table")
    p.add_argument("--max-partitions", type=_positive_int, default=1,
                   help="the delegate's max_delegated_partitions (default: 1, the delegate's default)")
    p.add_argument("--no-quant", action="store_true",
                   help="check with quantized ops disabled (delegate built without ENABLE_QUANT)")
    p.add_argument("--backend", choices=["opencl", "opengl"], default="opencl",
                   help="opengl: devices without OpenCL, where SPLIT/SPLIT_V are refused (default: opencl)")


def _add_synth(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", metavar="OUT", help="output folder (created; must be empty unless --overwrite)")
    # Counts are plain ints: the generator checks them and names the allowed range in a one-line error.
    p.add_argument("--classes", type=int, default=10, help="number of sign classes (default: 10)")
    p.add_argument("--clips-per-class", type=int, default=8, help="clips per class and signer (default: 8)")
    p.add_argument("--signers", type=int, default=4, help="number of signers (default: 4)")
    p.add_argument("--size", default="112x112", help="frame size WIDTHxHEIGHT, even numbers (default: 112x112)")
    p.add_argument("--fps", type=float, default=25.0, help="frames per second (default: 25)")
    p.add_argument("--seed", type=int, default=0, help="random seed; same seed, same frames (default: 0)")
    p.add_argument("--stream", action="store_true",
                   help="write one long video of several signs with rest between, plus stream.json ground truth")
    p.add_argument("--signs", type=int, default=6, help="signs in the --stream video (default: 6)")
    p.add_argument("--background", action="store_true",
                   help="add a 'no_sign' class (rest, or only the start or end of a sign), so a live model learns the "
                        "no-sign state")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it holds an earlier synth output")


def _add_train(p: argparse.ArgumentParser) -> None:
    from edge_slr.train.config import AUGMENTS, STRATEGIES, TRAIN_FORMS, TrainConfig

    d = {name: f.default for name, f in TrainConfig.__dataclass_fields__.items()}
    p.add_argument("--arch", required=True, help="architecture name (see `edge-slr models`)")
    p.add_argument("--data", required=True, help="prepared data folder (from `edge-slr prepare`)")
    p.add_argument("--out", default=None, help="run folder (default: runs/ARCH)")
    p.add_argument("--epochs", type=_positive_int, default=d["epochs"], help=f"epochs (default: {d['epochs']})")
    p.add_argument("--batch", type=_positive_int, default=d["batch"],
                   help=f"global batch size, split across GPUs and workers (default: {d['batch']})")
    p.add_argument("--lr", type=_positive_float, default=d["lr"],
                   help=f"peak learning rate of AdamW after warm-up (default: {d['lr']:g})")
    p.add_argument("--weight-decay", type=float, default=d["weight_decay"],
                   help=f"AdamW weight decay (default: {d['weight_decay']:g})")
    p.add_argument("--warmup-epochs", type=float, default=d["warmup_epochs"],
                   help=f"linear warm-up length before the cosine decay (default: {d['warmup_epochs']:g})")
    p.add_argument("--label-smoothing", type=float, default=d["label_smoothing"],
                   help=f"label smoothing of the cross-entropy (default: {d['label_smoothing']:g})")
    p.add_argument("--frames", type=_positive_int, default=d["frames"],
                   help=f"frames per clip (default: {d['frames']})")
    p.add_argument("--size", type=_positive_int, default=d["size"],
                   help=f"frame height and width in pixels (default: {d['size']})")
    p.add_argument("--width", type=_positive_float, default=d["width"],
                   help=f"channel width multiplier (default: {d['width']:g})")
    p.add_argument("--train-form", choices=TRAIN_FORMS, default=d["train_form"],
                   help="graph to train: 5d (Conv3D) or 4d (Conv2D-only edge graph, same weights, much faster on "
                        "CPU); saved models are 5d either way (default: auto = 4d without a GPU, 5d with one)")
    p.add_argument("--augment", choices=AUGMENTS, default=d["augment"],
                   help="none: temporal jitter only; default: + crop, rotation, brightness/contrast; "
                        "color: + random channel order and gray, against colour confounds (default: default)")
    p.add_argument("--hflip", action="store_true",
                   help="also mirror clips at random (off: mirroring swaps the dominant hand)")
    p.add_argument("--train-split", default=d["train_split"], help=f"training split (default: {d['train_split']})")
    p.add_argument("--val-split", default=d["val_split"], help=f"validation split (default: {d['val_split']})")
    p.add_argument("--seed", type=int, default=d["seed"], help=f"random seed (default: {d['seed']})")
    p.add_argument("--mixed-precision", action="store_true",
                   help="float16 compute on GPU (float32 weights and logits); ignored with a warning on CPU")
    p.add_argument("--strategy", choices=STRATEGIES, default=d["strategy"],
                   help="auto: all visible GPUs (MirroredStrategy when 2+); mirrored; multiworker: "
                        "MultiWorkerMirroredStrategy from TF_CONFIG (default: auto)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last completed epoch (same arguments)")
    p.add_argument("--overwrite", action="store_true", help="delete the run in --out and start again")
    p.add_argument("--verbose", action="store_true", help="also show Keras' per-batch progress bar")
    g = p.add_argument_group("fine-tuning")
    g.add_argument("--init", default=None, metavar="MODEL.keras",
                   help="start from these weights (from `edge-slr import-weights` or an earlier run), matched by layer "
                        "name and shape; a head with another class count starts fresh")
    g.add_argument("--freeze-stages", type=int, default=d["freeze_stages"], metavar="K",
                   help="keep the stem and residual stages 1..K fixed (BatchNorm keeps its statistics); needs --init "
                        "(default: 0, nothing frozen)")
    g.add_argument("--freeze-epochs", type=int, default=None, metavar="E",
                   help="unfreeze them after E epochs (default: frozen for the whole run)")
    g.add_argument("--backbone-lr-scale", type=_positive_float, default=d["backbone_lr_scale"], metavar="S",
                   help="learning rate of everything but the head is S x --lr, e.g. 0.1 for a pretrained backbone "
                        "(default: 1)")


def _add_evaluate(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="run folder (its best.keras), a .keras file in a run folder, or a .tflite export")
    p.add_argument("--data", default=None, help="prepared data folder (default: the one the run was trained on)")
    p.add_argument("--split", default="val", help="split to evaluate (default: val)")
    p.add_argument("--batch", type=_positive_int, default=8, help="clips per batch (default: 8)")
    p.add_argument("--out", default=None, help="folder for the report files (default: the model's folder)")
    p.add_argument("--threads", type=_positive_int, default=None,
                   help="TFLite interpreter threads (default: every core)")
    p.add_argument("--json", action="store_true", help="print the JSON report instead of the table")


def _add_export(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", metavar="RUN_OR_MODEL", help="run folder from `edge-slr train`, or a .keras file in one")
    p.add_argument("--quant", default="fp32", help="fp32 | fp16 | dynamic | int8 | qat (default: fp32)")
    p.add_argument("--out", help="output .tflite path (default: RUN/export/ARCH_QUANT.tflite)")
    p.add_argument("--calib-data", metavar="DIR",
                   help="prepared dataset for calibration and parity (default: the run's training data)")
    p.add_argument("--calib", type=_positive_int, default=100, help="calibration clips for int8/qat (default: 100)")
    p.add_argument("--io-dtype", default="float32", choices=["float32", "int8", "uint8"],
                   help="input type of int8/qat models; int8/uint8 let a device feed integer frames (default: float32)")
    p.add_argument("--streaming", action="store_true",
                   help="frame-by-frame file: CNN+LSTM (encode_frame, lstm_step, classify signatures) or a "
                        "*_causal 3-D model (one step signature per frame period, explicit state)")
    p.add_argument("--val-clips", type=int, default=100,
                   help="validation clips for the Keras-vs-TFLite parity and accuracy report; 0 skips (default: 100)")
    p.add_argument("--qat-epochs", type=_positive_int, default=2, help="QAT fine-tuning epochs (default: 2)")
    p.add_argument("--threads", type=_positive_int, help="CPU threads for parity runs (default: all cores)")
    p.add_argument("--clip-seconds", type=_positive_float, default=None,
                   help="seconds of video one training clip spanned; the live pipeline samples the camera over this "
                        "span (default: the run's clip_seconds, else frames / fps)")


def _add_live_common(p: argparse.ArgumentParser) -> None:
    """Arguments shared by ``live`` and ``demo``: runtime, timing, hands, smoothing and outputs."""
    from edge_slr.live.smoothing import SmoothingConfig

    d = SmoothingConfig()
    g = p.add_argument_group("runtime")
    g.add_argument("--threads", type=_positive_int, default=None, help="inference threads (default: every core)")
    g.add_argument("--no-xnnpack", action="store_true", help="run TFLite's reference kernels instead of XNNPACK")
    g.add_argument("--delegate", default=None, metavar="PATH",
                   help="external delegate library, e.g. the TFLite GPU delegate .so; when it cannot load: one line "
                        "and the CPU (XNNPACK) instead")
    g.add_argument("--stride", type=_positive_int, default=2,
                   help="camera frames between two full-clip inferences (streaming models: sample steps) (default: 2)")
    g.add_argument("--every-frame", action="store_true",
                   help="files and synth: process every frame as fast as possible instead of in real time")
    g.add_argument("--fps", type=_positive_float, default=None,
                   help="frame rate of an image-folder source, or override of a file's (default: the source's)")
    g.add_argument("--clip-seconds", type=_positive_float, default=None,
                   help="seconds of video one model window spans (default: the model card's)")
    g.add_argument("--extra-latency-ms", type=float, default=0.0,
                   help="add this much to every inference, to see how a slower device behaves (default: 0)")
    g.add_argument("--max-seconds", type=_positive_float, default=None, help="stop after this long (default: never)")
    g = p.add_argument_group("hands (MediaPipe)")
    g.add_argument("--hands-model", default=None,
                   help="MediaPipe hand_landmarker.task bundle (default: $EDGE_SLR_HANDS_MODEL); enables hand gating "
                        "and the signer/hand crops")
    g.add_argument("--gate-seconds", type=_positive_float, default=1.0,
                   help="no hand for this long pauses inference and resets the smoothing (default: 1.0)")
    g = p.add_argument_group("smoothing")
    g.add_argument("--ema", type=float, default=d.ema,
                   help=f"weight of the newest prediction in the moving average (default: {d.ema:g})")
    g.add_argument("--on-threshold", type=float, default=d.on_threshold,
                   help=f"smoothed probability at which a sign fires (default: {d.on_threshold:g})")
    g.add_argument("--off-threshold", type=float, default=d.off_threshold,
                   help=f"... and below which it ends (hysteresis) (default: {d.off_threshold:g})")
    g.add_argument("--min-duration", type=float, default=d.min_duration,
                   help=f"seconds a sign must stay on top before it fires (default: {d.min_duration:g})")
    g.add_argument("--cooldown", type=float, default=d.cooldown,
                   help=f"seconds after an event in which no other fires (default: {d.cooldown:g})")
    g = p.add_argument_group("outputs")
    g.add_argument("--headless", action="store_true", help="no window even when a display exists")
    g.add_argument("--events", default=None, metavar="FILE.jsonl", help="also write one JSON line per event here")
    g.add_argument("--record", default=None, metavar="OUT.mp4", help="write the annotated video")
    g.add_argument("--stats-json", default=None, metavar="FILE", help="write the run's summary as JSON at exit")


def _add_live(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source", default="0",
                   help="webcam index, video file, RTSP/HTTP URL, image folder, or synth[:SEED[:SIGNS]] (default: 0)")
    p.add_argument("--model", required=True, help="a .tflite exported by `edge-slr export-tflite`")
    p.add_argument("--truth", default=None, help="ground truth of the source (stream.json from `synth --stream`)")
    _add_live_common(p)


def _add_demo(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=0, help="seed of the generated stream and its signer (default: 0)")
    p.add_argument("--signs", type=_positive_int, default=20, help="signs in the stream (default: 20)")
    p.add_argument("--model", default=None, help="a .tflite to run instead of the built-in demo model")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.set_defaults(truth=None)
    _add_live_common(p)


def _add_bench(p: argparse.ArgumentParser) -> None:
    p.add_argument("models", nargs="*", metavar="MODEL.tflite",
                   help="files to compare; the first is the baseline of the 'vs first' ratios")
    p.add_argument("--threads", default=None,
                   help="comma-separated thread counts, e.g. 1,2,4 (default: every core)")
    p.add_argument("--runs", type=_positive_int, default=50, help="steady-state runs per case (default: 50)")
    p.add_argument("--warmup", type=int, default=5, help="warm-up runs after the first inference (default: 5)")
    p.add_argument("--min-time", type=float, default=1.0, metavar="SECONDS",
                   help="keep adding rounds until the steady state has run this long, like benchmark_model's "
                        "--min_secs (default: 1)")
    p.add_argument("--delegate", default="xnnpack", metavar="xnnpack|none|PATH",
                   help="XNNPACK (default), none (TFLite's reference kernels), or an external delegate library "
                        "such as a GPU delegate .so")
    p.add_argument("--signature", default=None,
                   help="signature to time (default: the model's entry point; streaming exports: one new frame, "
                        "encode_frame+lstm_step or a causal stream's steps as due)")
    p.add_argument("--data", default=None, metavar="DIR",
                   help="folder of videos or frame-image folders to feed instead of random inputs (read with OpenCV)")
    p.add_argument("--profile", action="store_true",
                   help="per-op profile of one model instead: op type, count, total ms, share")
    p.add_argument("--litert-benchmark", action="store_true",
                   help="also run ai-edge-litert's litert-benchmark on each file and thread count, side by side")
    p.add_argument("--json", default=None, metavar="FILE", help="write every number (and per-run times) as JSON")
    p.add_argument("--csv", default=None, metavar="FILE", help="write one CSV line per model and thread count")
    p.add_argument("--plot", default=None, metavar="FILE.png", help="plot the latency distributions side by side")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    g = p.add_argument_group("live pipeline (--pipeline)")
    g.add_argument("--pipeline", default=None, metavar="SOURCE",
                   help="benchmark the whole live pipeline, headless and in real time, on a video, image folder or "
                        "synth[:SEED[:SIGNS]] stream instead of bare models")
    g.add_argument("--model", default=None, help="the .tflite the pipeline runs (default: the built-in demo model)")
    g.add_argument("--hands-model", default=None,
                   help="MediaPipe hand_landmarker.task: hands stage of --pipeline; --data for hand-crop models")
    g.add_argument("--truth", default=None, help="ground truth of the source (synth streams know their own)")
    g.add_argument("--max-seconds", type=_positive_float, default=None, help="stop the pipeline after this long")
    g.add_argument("--stride", type=_positive_int, default=2, help="frames between full-clip inferences (default: 2)")


def _add_stitch(p: argparse.ArgumentParser) -> None:
    p.add_argument("src", help="isolated clips or photos: class folders, CSL frame folders, or a manifest CSV "
                               "(path,label[,signer][,split])")
    p.add_argument("out", metavar="OUT.mp4", help="the stream video; its ground truth goes next to it as OUT.json")
    p.add_argument("--truth", default=None, metavar="FILE.json",
                   help="where the ground truth goes (default: OUT with .json; the format of `synth --stream`)")
    p.add_argument("--layout", default="auto", help="auto, folders, csl or manifest (default: auto)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the random clip order (no class directly repeated where avoidable) (default: 0)")
    p.add_argument("--gap-seconds", type=_positive_float, default=1.5,
                   help="rest before the first sign and after each one (default: 1.5)")
    p.add_argument("--rest", default="grey", choices=["grey", "edge"],
                   help="what the rest shows: grey (no hand: hand-gated models pause) or edge (the previous clip's "
                        "last frame, then the next clip's first; for videos that start and end at rest; photos keep "
                        "grey) (default: grey)")
    p.add_argument("--still-seconds", type=_positive_float, default=2.0,
                   help="how long a photo (a still sign) is held (default: 2.0)")
    p.add_argument("--frame-size", default="640x480",
                   help="WIDTHxHEIGHT of the stream; every clip is scaled to fit and padded with grey "
                        "(default: 640x480)")
    p.add_argument("--fps", type=_positive_float, default=25.0,
                   help="stream frame rate; video clips are resampled by their own rate (default: 25)")
    p.add_argument("--limit", type=_positive_int, default=None, help="at most N clips, after filters and shuffling")
    p.add_argument("--signer", default=None, metavar="ID[,ID...]", help="only clips by these signers")
    p.add_argument("--only", default=None, choices=["train", "val"],
                   help="only the clips `prepare` with the same --split/--val/--split-seed puts in this split "
                        "(e.g. held-out signers: --only val)")
    p.add_argument("--split", default="auto",
                   help="split mode for --only, as prepare's --split: auto, signer, random or manifest (default: auto)")
    p.add_argument("--val", type=float, default=0.25,
                   help="validation fraction for --only, as prepare's (default: 0.25)")
    p.add_argument("--split-seed", type=int, default=0, help="split seed for --only, prepare's --seed (default: 0)")
    p.add_argument("--strict", action="store_true",
                   help="an unreadable (missing, empty, corrupt) clip ends the run with one line; by default it is "
                        "skipped, counted and listed")
    p.add_argument("--overwrite", action="store_true", help="replace OUT and its truth file if they exist")


def _add_record(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", help="dataset folder: OUT/<sign>/<signer>_<n>.mp4 plus OUT/manifest.csv (appended to, "
                               "never overwritten, so several signers can record into one folder)")
    p.add_argument("--signs", required=True, help="signs to record, comma-separated, e.g. hello,thanks,yes")
    p.add_argument("--clips", type=_positive_int, required=True, help="repetitions of each sign")
    p.add_argument("--signer", required=True,
                   help="who signs (letters, digits, '.', '-', '_'): goes into the file names and the manifest, "
                        "so prepare can split by signer")
    p.add_argument("--source", default="0",
                   help="webcam index, video file, RTSP/HTTP URL, image folder, or synth[:SEED[:SIGNS]] (default: 0)")
    p.add_argument("--seconds", type=_positive_float, default=2.0, help="length of each clip (default: 2.0)")
    p.add_argument("--countdown", type=float, default=3.0,
                   help="seconds of countdown before each clip, 0 for none (default: 3.0)")
    p.add_argument("--every-frame", action="store_true",
                   help="files and synth: read every frame as fast as it decodes instead of in real time")
    p.add_argument("--headless", action="store_true",
                   help="no window even when a display exists: prompts and countdown as lines on stderr")


def _add_import_weights(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", metavar="FILE.pth",
                   help="torchvision video weights: a state_dict (the official .pth) or a checkpoint holding one")
    p.add_argument("out", metavar="OUT.keras", help="the Keras model to write (start of `edge-slr train --init`)")
    p.add_argument("--arch", required=True, choices=["r2plus1d_18", "r3d_18"],
                   help="the torchvision architecture the file holds")
    p.add_argument("--classes", type=_positive_int, default=None,
                   help="classes of the new label set: another count than the file's (400 for Kinetics) gives a "
                        "fresh head (default: the file's, head kept)")
    p.add_argument("--frames", type=_positive_int, default=16,
                   help="frames per clip the saved model is built for; the weights fit any (default: 16)")
    p.add_argument("--size", type=_positive_int, default=112,
                   help="frame size the saved model is built for; the weights fit any (default: 112)")
    p.add_argument("--seed", type=int, default=0, help="seed of a fresh head's initialization (default: 0)")
    p.add_argument("--overwrite", action="store_true", help="replace OUT.keras if it exists")


COMMANDS: dict[str, Command] = {
    "demo": Command("live recognition on a generated stream with the built-in model: no webcam, dataset or network",
                    _add_demo, "edge_slr.live.commands:demo_cmd"),
    "live": Command("live sign recognition from a webcam, video, stream or image folder with a .tflite model",
                    _add_live, "edge_slr.live.commands:live_cmd"),
    "models": Command("list the registered architectures", _add_models, "edge_slr.models.commands:list_models_cmd"),
    "summary": Command("layer table, parameter and FLOP counts of an architecture", _add_summary,
                       "edge_slr.models.commands:summary_cmd"),
    "prepare": Command("decode a sign video dataset into TFRecord shards and dataset.json", _add_prepare,
                       "edge_slr.data.prepare:prepare_cmd"),
    "export-tflite": Command("quantize a trained run and export a 4-D-only .tflite with model card and report",
                             _add_export, "edge_slr.export.commands:export_cmd"),
    "bench": Command("latency of .tflite files on this device: models x threads, table/JSON/CSV/plot, --profile",
                     _add_bench, "edge_slr.bench.commands:bench_cmd"),
    "check-gpu": Command("report op by op what the TFLite GPU delegate would refuse (exit 1 if any)",
                         _add_check_gpu, "edge_slr.runtime.gpu_check:check_gpu_cmd"),
    "synth": Command("generate rendered sign clips (or a --stream test video) for tests and demos", _add_synth,
                     "edge_slr.data.synth:synth_cmd"),
    "train": Command("train an architecture on prepared data into a run folder (resumable)", _add_train,
                     "edge_slr.train.commands:train_cmd"),
    "evaluate": Command("top-1/top-5, per-class accuracy and confusion matrix of a .keras or .tflite model",
                        _add_evaluate, "edge_slr.train.evaluate:evaluate_cmd"),
    "stitch": Command("join isolated clips or photos into one sign stream video plus ground truth (for live --truth)",
                      _add_stitch, "edge_slr.data.stitch:stitch_cmd"),
    "record": Command("record your own sign clips from a webcam into class folders plus manifest.csv (for prepare)",
                      _add_record, "edge_slr.record.commands:record_cmd"),
    "import-weights": Command("read torchvision video weights (e.g. Kinetics-400 r2plus1d_18 / r3d_18) into a .keras "
                              "model to fine-tune from", _add_import_weights,
                              "edge_slr.models.import_weights:import_weights_cmd"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edge-slr",
        description="Real-time isolated sign-language recognition on edge devices.",
    )
    parser.add_argument("--version", action="version", version=f"edge-slr {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, command in COMMANDS.items():
        p = sub.add_parser(name, help=command.help, description=command.help[:1].upper() + command.help[1:] + ".")
        command.add_arguments(p)
        p.set_defaults(_target=command.target)
    return parser


def _run(argv: list[str] | None, parser: argparse.ArgumentParser) -> int:
    args = parser.parse_args(argv)
    if not getattr(args, "_target", None):
        parser.print_help()
        return 2
    module_name, func_name = args._target.split(":")
    try:
        func = getattr(importlib.import_module(module_name), func_name)
        return int(func(args) or 0)
    except UserError as exc:
        print(f"edge-slr {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"edge-slr {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and similar: not an error
        sys.stderr.close()
        return 0
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] in {"tensorflow", "tf_keras", "tensorflow_model_optimization"}:
            print(f"edge-slr {args.command}: error: this command needs the training stack; "
                  "install it with `pip install 'edge-slr[train]'`", file=sys.stderr)
            return 2
        raise


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``edge-slr`` console script."""
    return _run(argv, build_parser())


def export_tflite_main(argv: list[str] | None = None) -> int:
    """Entry point of the ``export-tflite`` console script (same as ``edge-slr export-tflite``)."""
    return main(["export-tflite", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
