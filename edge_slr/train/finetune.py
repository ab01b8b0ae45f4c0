"""Fine-tuning: start a run from earlier weights (``--init``), freeze early stages, scale the backbone's rate.

``--init MODEL.keras`` copies weights layer by layer, matched by name and shape, so a model imported with
``edge-slr import-weights`` or saved by any earlier run can start a run at another clip length or frame size
(no weight depends on either, except ``cnn3d``'s flattening head). Every layer of the new model must be found
with equal shapes, except the classification head: with another class count it starts fresh.

``--freeze-stages K --freeze-epochs E`` keeps the stem and residual stages 1..K fixed for the first E epochs:
their layers are set non-trainable (BatchNorm then also keeps its pretrained statistics, Keras' inference
mode), and :class:`StageFreezer` unfreezes them at epoch E and rebuilds the training step. The optimizer is
built over every variable first, so it keeps its state across the switch and across ``--resume``.

``--backbone-lr-scale S`` multiplies the learning rate of every variable but the head's by S
(:class:`BackboneScaledAdamW`): a pretrained backbone moves slowly while the fresh head learns at full rate.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_slr.errors import UserError
from edge_slr.models.registry import LOGITS_LAYER
from edge_slr.utils.tf_env import import_tf

tf, keras = import_tf()

_STAGE = re.compile(r"^layer(\d+)_")
_LISTED = 3  # how many layer names a message shows


def _listed(names: list[str]) -> str:
    more = f" and {len(names) - _LISTED} more" if len(names) > _LISTED else ""
    return ", ".join(names[:_LISTED]) + more


def weighted_layers(model: Any) -> Iterator[Any]:
    """Every layer holding weights, nested models (the 4-D training graph wraps the edge model) included."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from weighted_layers(layer)
        elif layer.weights:
            yield layer


@dataclass(frozen=True)
class InitReport:
    """What ``--init`` loaded."""

    loaded: int  # layers whose weights were copied
    head_skipped: str | None  # why the head starts fresh, or None
    unused: list[str]  # layers of the init model with no place in the new one

    def lines(self, source: Path) -> list[str]:
        out = [f"init: {self.loaded} layers from {source}"]
        if self.head_skipped:
            out.append(f"init: {self.head_skipped}")
        if self.unused:
            out.append(f"init: {len(self.unused)} layers of {source.name} are not used ({_listed(self.unused)})")
        return out


def load_init(target: Any, source: Path) -> InitReport:
    """Copy the weights of the ``.keras`` model at ``source`` into ``target`` by layer name and shape."""
    from edge_slr.models.io import load_keras_model

    init = {layer.name: layer for layer in weighted_layers(load_keras_model(source))}
    mismatched, copies, head_skipped = [], [], None
    for layer in weighted_layers(target):
        found = init.get(layer.name)
        shapes = [tuple(w.shape) for w in layer.weights]
        theirs = [tuple(w.shape) for w in found.weights] if found is not None else None
        if shapes == theirs:
            copies.append((layer, found))
        elif layer.name == LOGITS_LAYER:
            classes = f"{theirs[-1][0]} classes" if theirs else "no head"
            head_skipped = (f"head not loaded: {source.name} has {classes}, this run {shapes[-1][0]}; "
                            "it starts fresh")
        else:
            mismatched.append(f"{layer.name} ({'missing' if theirs is None else f'{theirs[0]} vs {shapes[0]}'})")
    if mismatched:
        raise UserError(f"{source} does not fit this run's model: {len(mismatched)} layer(s) differ "
                        f"({_listed(mismatched)}); --init needs the same architecture and --width")
    for layer, found in copies:
        layer.set_weights(found.get_weights())
    used = {layer.name for layer, _ in copies} | {LOGITS_LAYER}
    return InitReport(len(copies), head_skipped, [name for name in init if name not in used])


def frozen_layers(model: Any, stages: int) -> list[Any]:
    """The stem's and residual stages 1..``stages``' layers with weights; a one-line refusal if there are none."""
    layers = list(weighted_layers(model))
    present = sorted({int(m.group(1)) for layer in layers if (m := _STAGE.match(layer.name))})
    if not present or not any(layer.name.startswith("stem") for layer in layers):
        raise UserError(f"--freeze-stages needs a model with a stem and residual stages (layer1, layer2, ...); "
                        f"{model.name} has none")
    if stages > present[-1]:
        raise UserError(f"--freeze-stages {stages} is more than the {present[-1]} residual stages of {model.name}")
    return [layer for layer in layers
            if layer.name.startswith("stem") or ((m := _STAGE.match(layer.name)) and int(m.group(1)) <= stages)]


class StageFreezer(keras.callbacks.Callback):
    """Keeps ``layers`` frozen during epochs ``< epochs`` (0-based), trainable afterwards.

    Keras reads ``trainable`` when it traces the training step, so each switch rebuilds that step; fit looks
    the step up anew for every batch. A resumed run starts frozen or not from the epoch it resumes at.
    """

    def __init__(self, layers: list[Any], epochs: int, echo: Callable[[str], None] | None = None) -> None:
        super().__init__()
        self.layers, self.epochs, self.echo = layers, epochs, echo
        self.frozen: bool | None = None

    def set_frozen(self, frozen: bool) -> None:
        """Freeze or unfreeze ``layers``; the next trace of the training step sees it."""
        for layer in self.layers:
            layer.trainable = not frozen
        self.frozen = frozen

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        frozen = epoch < self.epochs
        if frozen == self.frozen:
            return
        self.set_frozen(frozen)
        self.model.make_train_function(force=True)
        if not frozen and self.echo:
            self.echo(f"epoch {epoch + 1}: the stem and early stages are unfrozen ({len(self.layers)} layers)")


class BackboneScaledAdamW(keras.optimizers.AdamW):
    """AdamW in which every variable except ``head_variables`` learns at ``backbone_scale`` times the rate.

    Adam's step is proportional to the learning rate and its moments do not depend on it, so scaling a
    variable's step after the update equals running it with a scaled rate; the decoupled weight decay is
    applied per variable with the same scaled rate (AdamW's own decay pass is replaced, not added to).
    With ``backbone_scale == 1`` every update is exactly AdamW's.
    """

    def __init__(self, head_variables: list[Any], backbone_scale: float, **kw: Any) -> None:
        super().__init__(**kw)
        self.backbone_scale = float(backbone_scale)
        self._head_keys = {self._var_key(v) for v in head_variables}

    def _apply_weight_decay(self, variables):  # noqa: D102  (done in update_step, per variable)
        return

    def update_step(self, gradient, variable):  # noqa: D102
        scale = 1.0 if self._var_key(variable) in self._head_keys else self.backbone_scale
        if self.weight_decay and self._use_weight_decay(variable):
            rate = tf.cast(self.learning_rate, variable.dtype) * scale
            variable.assign_sub(variable * tf.cast(self.weight_decay, variable.dtype) * rate)
        if scale == 1.0:
            return super().update_step(gradient, variable)
        before = tf.identity(variable)
        super().update_step(gradient, variable)
        variable.assign(before + (variable - before) * scale)
