"""The model card an exported .tflite carries: everything a runtime needs, nothing from the training run.

``edge-slr export-tflite`` embeds it as the JSON metadata entry ``edge_slr_metadata`` and mirrors
it in a sidecar ``.json``; the runtime reads only the embedded copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edge_slr.errors import UserError
from edge_slr.runtime.tflite_file import TFLiteModel

METADATA_NAME = "edge_slr_metadata"
CARD_FORMAT = "edge-slr-model-card/1"
# Labels that mean "nothing is being signed" (synth --background writes no_sign); the card names the one it has.
BACKGROUND_LABELS = ("no_sign", "background", "_background_")


@dataclass(frozen=True)
class ModelCard:
    """The parsed card; ``raw`` keeps every field, the attributes are the ones code relies on."""

    labels: tuple[str, ...]
    frames: int
    size: int
    input_dtype: str
    fps: float
    arch: str
    quantization: str
    streaming: bool
    raw: dict[str, Any]

    @classmethod
    def from_dict(cls, card: dict[str, Any], source: str) -> ModelCard:
        try:
            if card.get("format") != CARD_FORMAT:
                raise KeyError("format")
            spec = card["input"]
            return cls(labels=tuple(card["labels"]), frames=int(spec["frames"]), size=int(spec["size"]),
                       input_dtype=str(spec["dtype"]), fps=float(card["fps"]), arch=str(card["arch"]),
                       quantization=str(card["quantization"]), streaming=bool(card["streaming"]), raw=card)
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError(f"the model card in {source} is incomplete ({exc}); re-export the model with "
                            "`edge-slr export-tflite`") from None


def read_model_card(model: TFLiteModel) -> ModelCard:
    """The card embedded in ``model``; a one-line error for files not exported by edge-slr."""
    card = model.metadata_json(METADATA_NAME)
    if card is None:
        raise UserError(f"{model.source} has no edge-slr model card; export it with `edge-slr export-tflite` "
                        "(it records labels, input size and frame count)")
    return ModelCard.from_dict(card, model.source)
