"""``edge-slr import-weights``: torchvision's video ResNet weights (e.g. Kinetics-400) -> our Keras model.

Our ``r2plus1d_18`` and ``r3d_18`` are torchvision's architectures layer for layer, so every tensor of a
torchvision ``state_dict`` has exactly one place in our model. The place is derived from our layer names
(:data:`_NAME_MAP`), never guessed from order, and every key, shape and the architecture are checked before
anything is written:

- Conv3d weights ``(out, in, kt, kh, kw)`` become our ``SpatioTemporalConv`` kernels ``(kt, kh, kw, in, out)``;
  the (2+1)D blocks' spatial conv, mid-plane BatchNorm and temporal conv map one to one;
- BatchNorm ``weight, bias, running_mean, running_var`` become ``gamma, beta, moving_mean, moving_variance``
  (both use epsilon 1e-5, and PyTorch's momentum 0.1 is Keras' 0.9: see ``models.blocks``);
  ``num_batches_tracked`` has no counterpart and is only checked for presence;
- the ``fc`` head ``(classes, 512)`` becomes the ``logits`` Dense kernel ``(512, classes)``; with another class
  count than the file's, the head is a fresh one for the new label set.

Input: torchvision's video models were trained on RGB clips scaled to [0, 1] and normalized with the
Kinetics mean/std. Every model of ours takes raw RGB in [0, 255] and applies exactly that normalization in
its first layer (``models.layers.Normalize``), so train, evaluate, export and live feed an imported model
what it was trained on without any extra setting (the model card records it as ``input.normalization``).

PyTorch is imported here only, and only to read the file: nothing else in edge-slr needs it.
"""

from __future__ import annotations

import argparse
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_slr.errors import UserError, unknown_choice
from edge_slr.models.registry import LOGITS_LAYER

ARCHS = ("r2plus1d_18", "r3d_18")
# Where a full training checkpoint keeps its model's state_dict (torchvision's references: "model").
CHECKPOINT_KEYS = ("state_dict", "model", "model_state_dict", "model_state", "net")
HEAD_PREFIX = "fc"  # torchvision's classification head (ours: LOGITS_LAYER)
# Our layer name -> torchvision module path (regex substitution); one table serves both architectures.
_NAME_MAP = (
    (r"^stem_s$", "stem.0"), (r"^stem_s_bn$", "stem.1"), (r"^stem_t$", "stem.3"), (r"^stem_t_bn$", "stem.4"),
    (r"^stem$", "stem.0"), (r"^stem_bn$", "stem.1"),
    (r"^layer(\d)_(\d+)_conv(\d)_s$", r"layer\1.\2.conv\3.0.0"),  # (2+1)D: spatial conv
    (r"^layer(\d)_(\d+)_conv(\d)_s_bn$", r"layer\1.\2.conv\3.0.1"),  # (2+1)D: mid-plane BatchNorm
    (r"^layer(\d)_(\d+)_conv(\d)_t$", r"layer\1.\2.conv\3.0.3"),  # (2+1)D: temporal conv
    (r"^layer(\d)_(\d+)_conv(\d)$", r"layer\1.\2.conv\3.0"),  # 3D: 3x3x3 conv
    (r"^layer(\d)_(\d+)_conv(\d)_bn$", r"layer\1.\2.conv\3.1"),
    (r"^layer(\d)_(\d+)_down$", r"layer\1.\2.downsample.0"),
    (r"^layer(\d)_(\d+)_down_bn$", r"layer\1.\2.downsample.1"),
    (rf"^{LOGITS_LAYER}$", HEAD_PREFIX),
)
_LISTED = 4  # how many keys a refusal names


@dataclass(frozen=True)
class ImportConfig:
    """One ``import-weights`` run."""

    source: Path  # a .pth/.pt file: a state_dict or a checkpoint holding one
    arch: str
    out: Path  # the .keras file to write
    classes: int | None = None  # None: the file's own class count (its head is kept)
    frames: int = 16  # input shape the saved model is built for; the weights do not depend on it
    size: int = 112
    seed: int = 0  # initialises a fresh head
    overwrite: bool = False

    def validate(self) -> None:
        """Argument checks that need neither PyTorch nor TensorFlow."""
        if self.arch not in ARCHS:
            raise unknown_choice("architecture for import-weights", self.arch, ARCHS)
        if not self.source.is_file():
            raise UserError(f"{self.source} does not exist or is not a file; give the torchvision .pth file")
        if self.out.suffix != ".keras":
            raise UserError(f"the output must be a .keras file, got {self.out}")
        if self.out.exists() and not self.overwrite:
            raise UserError(f"{self.out} already exists; add --overwrite to replace it")
        if self.classes is not None and self.classes < 2:
            raise UserError(f"--classes must be at least 2, got {self.classes}")


@dataclass(frozen=True)
class ImportResult:
    """What an import did, for the one-line summary."""

    out: Path
    arch: str
    classes: int
    tensors: int  # state_dict entries used (num_batches_tracked included)
    head_kept: bool
    file_classes: int


def read_state_dict(path: Path) -> dict[str, np.ndarray]:
    """The file's tensors as float32 NumPy arrays, keyed as in torchvision (``module.`` prefixes removed).

    ``weights_only=True``: the file is never allowed to run code while it is read.
    """
    try:
        import torch
    except ModuleNotFoundError:
        raise UserError("reading PyTorch weights needs PyTorch: install it with `pip install 'edge-slr[torch]'`"
                        ) from None
    try:
        with warnings.catch_warnings():  # e.g. "pickle protocol 4": the refusal below says what matters
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types (UnpicklingError, RuntimeError, EOFError, ...)
        raise UserError(f"cannot read {path} as PyTorch weights: {_load_failure(exc)}") from None
    if isinstance(obj, dict):
        for key in CHECKPOINT_KEYS:
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise UserError(f"{path} holds no state_dict (a dict of tensors, alone or under one of "
                        f"{', '.join(CHECKPOINT_KEYS)}); save one with torch.save(model.state_dict(), FILE)")
    state = {}
    for key, tensor in obj.items():
        name = key[len("module."):] if key.startswith("module.") else key
        state[name] = tensor.detach().cpu().float().numpy()
    return state


def _load_failure(exc: Exception) -> str:
    """torch.load's reason in one short clause (its messages run over several lines and advise unsafe loading)."""
    text = str(exc).strip()
    detail = re.search(r"WeightsUnpickler error:\s*(.+?)\n", text + "\n")
    if text.startswith("Weights only load failed"):
        reason = f" ({detail.group(1).strip()})" if detail else ""
        return (f"not a plain file of tensors{reason}; edge-slr reads only state_dicts and never runs code from a "
                "file: save one with torch.save(model.state_dict(), FILE)")
    first = text.splitlines()[0] if text else type(exc).__name__
    return first.split(". ")[0].rstrip(".") + " (is the file complete?)"


def detect_arch(state: dict[str, np.ndarray]) -> str | None:
    """Which torchvision video ResNet a state_dict belongs to, from its stem and first block."""
    if "stem.3.weight" in state and "layer1.0.conv1.0.3.weight" in state:
        return "r2plus1d_18"
    stem, first = state.get("stem.0.weight"), state.get("layer1.0.conv1.0.weight")
    if stem is not None and first is not None and stem.ndim == 5 and stem.shape[2] == 3:
        last = state.get("layer4.0.conv1.0.weight")
        # mc3_18 and rmc3 share r3d_18's stem; only r3d_18 keeps 3x3x3 kernels in every stage.
        return "r3d_18" if last is not None and last.ndim == 5 and last.shape[2] == 3 else "other"
    return None


def check_arch(state: dict[str, np.ndarray], arch: str, source: Path | str) -> None:
    """Refuse a file that holds another architecture than ``arch``, naming the right ``--arch`` when we have it."""
    found = detect_arch(state)
    if found is None or found == arch:
        return
    if found in ARCHS:
        raise UserError(f"{source} holds {found} weights, not {arch}: use --arch {found}")
    raise UserError(f"{source} holds the weights of another torchvision video model, not {arch} "
                    f"(import-weights reads {' and '.join(ARCHS)})")


def torch_prefix(layer_name: str) -> str:
    """The torchvision module path of one of our layers with weights (see :data:`_NAME_MAP`)."""
    for pattern, replacement in _NAME_MAP:
        if re.match(pattern, layer_name):
            return re.sub(pattern, replacement, layer_name)
    raise ValueError(f"layer {layer_name!r} has weights but no torchvision counterpart in _NAME_MAP")


def _conversions(layer: Any, prefix: str) -> tuple[list[tuple[str, Any]], list[str]]:
    """(torch key, array -> our weight) per weight of ``layer``, and keys that are read but have no weight."""
    kind = type(layer).__name__
    if kind == "SpatioTemporalConv":
        pairs = [(f"{prefix}.weight", lambda w: w.transpose(2, 3, 4, 1, 0))]  # (O,I,T,H,W) -> (T,H,W,I,O)
        return pairs + ([(f"{prefix}.bias", lambda w: w)] if layer.use_bias else []), []
    if kind == "BatchNormalization":
        names = ("weight", "bias", "running_mean", "running_var")  # Keras: gamma, beta, moving mean, variance
        return [(f"{prefix}.{n}", lambda w: w) for n in names], [f"{prefix}.num_batches_tracked"]
    if kind == "Dense":
        return [(f"{prefix}.weight", lambda w: w.T), (f"{prefix}.bias", lambda w: w)], []
    raise ValueError(f"no conversion for layer {layer.name!r} of type {kind}")


def _listed(keys: list[str]) -> str:
    more = f" and {len(keys) - _LISTED} more" if len(keys) > _LISTED else ""
    return ", ".join(keys[:_LISTED]) + more


def load_torchvision_weights(model: Any, state: dict[str, np.ndarray], arch: str, source: Path | str,
                             keep_head: bool) -> int:
    """Assign ``state`` to ``model`` (one of our ``arch`` models, either form); return the keys used.

    Refuses with one line when the file is another architecture, lacks keys, has extra keys or a shape differs.
    The head is assigned only with ``keep_head``; its keys are still expected in the file.
    """
    check_arch(state, arch, source)
    plan: list[tuple[Any, list[tuple[str, Any]]]] = []
    expected: set[str] = set()
    for layer in model.layers:
        if not layer.weights:
            continue
        pairs, extra = _conversions(layer, torch_prefix(layer.name))
        plan.append((layer, pairs))
        expected.update(key for key, _ in pairs)
        expected.update(extra)
    missing = sorted(expected - state.keys())
    unexpected = sorted(state.keys() - expected)
    if missing or unexpected:
        parts = ([f"missing {len(missing)} key(s) ({_listed(missing)})"] if missing else []) + \
                ([f"{len(unexpected)} unknown key(s) ({_listed(unexpected)})"] if unexpected else [])
        raise UserError(f"{source} does not fit {arch}: {'; '.join(parts)}; is it a torchvision {arch} state_dict?")
    for layer, pairs in plan:
        if layer.name == LOGITS_LAYER and not keep_head:
            continue
        values = [convert(state[key]) for key, convert in pairs]
        for (key, _), value, weight in zip(pairs, values, layer.weights, strict=True):
            if tuple(value.shape) != tuple(weight.shape):
                raise UserError(f"{source} does not fit {arch}: {key} has shape {tuple(state[key].shape)}, "
                                f"our layer {layer.name} needs {tuple(weight.shape)} after conversion")
        layer.set_weights(values)
    return len(expected)


def file_classes(state: dict[str, np.ndarray], source: Path | str) -> int:
    """The class count of the file's head."""
    head = state.get(f"{HEAD_PREFIX}.weight")
    if head is None or head.ndim != 2:
        raise UserError(f"{source} has no classification head ({HEAD_PREFIX}.weight); is it a torchvision "
                        "video model's state_dict?")
    return int(head.shape[0])


def import_weights(cfg: ImportConfig) -> ImportResult:
    """Read the file, build ``cfg.arch``, assign every tensor, write the ``.keras`` file atomically."""
    cfg.validate()
    state = read_state_dict(cfg.source)
    check_arch(state, cfg.arch, cfg.source)  # before the model is built: a wrong --arch is refused at once
    classes_in_file = file_classes(state, cfg.source)
    classes = cfg.classes or classes_in_file
    from edge_slr.models import create_model, validate_model_args

    validate_model_args(cfg.arch, classes, cfg.frames, cfg.size, 1.0, "5d")
    from edge_slr.utils.atomic import atomic_path
    from edge_slr.utils.tf_env import import_tf

    _, keras = import_tf()
    keras.utils.set_random_seed(cfg.seed)
    model = create_model(cfg.arch, classes, frames=cfg.frames, size=cfg.size, width=1.0, form="5d")
    keep_head = classes == classes_in_file
    used = load_torchvision_weights(model, state, cfg.arch, cfg.source, keep_head)
    with atomic_path(cfg.out) as tmp:
        model.save(tmp)
    return ImportResult(cfg.out, cfg.arch, classes, used, keep_head, classes_in_file)


def import_weights_cmd(args: argparse.Namespace) -> int:
    """CLI target of ``edge-slr import-weights``."""
    cfg = ImportConfig(source=Path(args.source).expanduser(), arch=args.arch, out=Path(args.out).expanduser(),
                       classes=args.classes, frames=args.frames, size=args.size, seed=args.seed,
                       overwrite=args.overwrite)
    result = import_weights(cfg)
    head = (f"its {result.classes}-class head kept" if result.head_kept else
            f"a fresh {result.classes}-class head (the file's has {result.file_classes} classes)")
    print(f"imported {result.tensors} tensors from {cfg.source} into {result.arch}, {head} -> {result.out} "
          f"(input: raw RGB in [0, 255], normalized inside the model with torchvision's Kinetics mean/std); "
          f"fine-tune it with `edge-slr train --arch {result.arch} --init {result.out} ...`")
    return 0
