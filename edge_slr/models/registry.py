"""The model registry: one decorator to register a builder, one factory to create models.

Registration is explicit: each family module decorates its builders with :func:`register_model`,
and :mod:`edge_slr.models` imports the family modules by name (no ``import *`` side effects).
Family modules import TensorFlow only inside their builders, so listing models and rejecting a
bad name or size is instant and needs no TensorFlow.
The input contract (frames, size, layout, value range, normalization) travels with the model as
an :class:`InputSpec`, so training, export and the runtime never guess it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from edge_slr.errors import UserError, unknown_choice

MAX_WIDTH = 4.0
FORMS = ("5d", "4d")
# Mean/std used by every model's input normalization (Kinetics-400 statistics, as torchvision's video models).
LOGITS_LAYER = "logits"  # the Dense classification layer of every architecture (import, --init, freezing)
KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)


@dataclass(frozen=True)
class ModelInfo:
    """What the registry knows about an architecture before building it."""

    name: str
    family: str  # "3d" (3-D / (2+1)-D convolutions) or "lstm" (per-frame 2-D CNN + LSTM)
    description: str
    builder: Callable[..., Any]
    min_frames: int
    min_size: int
    min_frames_reason: str


@dataclass(frozen=True)
class InputSpec:
    """The input contract of a built model: raw RGB frames in [0, 255]; the model normalizes itself."""

    frames: int
    size: int
    form: str
    channels: int = 3
    value_range: tuple[float, float] = (0.0, 255.0)
    mean: tuple[float, ...] = KINETICS_MEAN
    std: tuple[float, ...] = KINETICS_STD

    @property
    def shape(self) -> tuple[int, ...]:
        """Input shape with batch 1: ``(1, T, H, W, 3)`` in 5d, ``(T, H, W, 3)`` in 4d (time in the batch axis)."""
        if self.form == "5d":
            return (1, self.frames, self.size, self.size, self.channels)
        return (self.frames, self.size, self.size, self.channels)

    @property
    def layout(self) -> str:
        return "NTHWC" if self.form == "5d" else "(N*T)HWC"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "shape": list(self.shape), "layout": self.layout}


_REGISTRY: dict[str, ModelInfo] = {}


def register_model(name: str, family: str, description: str, min_frames: int, min_size: int,
                   min_frames_reason: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``builder(num_classes, frames, size, width, form, **kw) -> keras.Model`` under ``name``."""

    def decorate(builder: Callable[..., Any]) -> Callable[..., Any]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} registered twice")
        _REGISTRY[name] = ModelInfo(name, family, description, builder, min_frames, min_size, min_frames_reason)
        return builder

    return decorate


def list_models() -> list[ModelInfo]:
    """All registered architectures, in registration order."""
    return list(_REGISTRY.values())


def get_model_info(name: str) -> ModelInfo:
    """Registry entry for ``name``; a :class:`UserError` with suggestions if unknown."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise unknown_choice("architecture", name, _REGISTRY) from None


def validate_model_args(name: str, num_classes: int, frames: int, size: int, width: float, form: str) -> ModelInfo:
    """Check every argument before any graph is built; raise one-line :class:`UserError` otherwise."""
    info = get_model_info(name)
    if form not in FORMS:
        raise unknown_choice("form", form, FORMS)
    if num_classes < 2:
        raise UserError(f"num_classes must be at least 2, got {num_classes}")
    if frames < info.min_frames:
        raise UserError(f"frames={frames} is too few for {name}: it needs at least {info.min_frames} "
                        f"({info.min_frames_reason})")
    if size < info.min_size:
        raise UserError(f"size={size} is too small for {name}: it needs at least {info.min_size} pixels")
    if not 0 < width <= MAX_WIDTH:
        raise UserError(f"width={width} is out of range: use a multiplier in (0, {MAX_WIDTH:g}]")
    return info


def create_model(name: str, num_classes: int, frames: int = 16, size: int = 112, width: float = 1.0,
                 form: str = "5d", **kw: Any):
    """Build architecture ``name`` as a tf-keras model taking raw RGB clips in [0, 255].

    ``form="5d"`` takes ``(B, T, H, W, 3)`` and is the training/reference form; ``form="4d"`` takes
    ``(B*T, H, W, 3)`` and contains only 4-D ops (the edge form that is exported). Both forms of one
    architecture have the same weights in the same order, so ``edge.set_weights(ref.get_weights())``
    converts between them.
    """
    info = validate_model_args(name, num_classes, frames, size, width, form)
    model = info.builder(num_classes=num_classes, frames=frames, size=size, width=width, form=form, **kw)
    return model


def input_spec(frames: int, size: int, form: str = "5d") -> InputSpec:
    """The input contract of a model built with these arguments."""
    return InputSpec(frames=frames, size=size, form=form)
