"""Build the model card (metadata) an export embeds, from the trained run and the conversion."""

from __future__ import annotations

import datetime as _dt
import hashlib
from pathlib import Path
from typing import Any

from edge_slr import __version__
from edge_slr.data.info import LEGACY_CROP
from edge_slr.export.edge_model import LoadedModel
from edge_slr.hands.crops import model_crop
from edge_slr.models.registry import KINETICS_MEAN, KINETICS_STD
from edge_slr.runtime.model_card import BACKGROUND_LABELS, CARD_FORMAT

DEFAULT_FPS = 25.0  # the live pipeline resamples the camera to this rate unless the run recorded another


def build_card(loaded: LoadedModel, quant: str, io_dtype: str, streaming: bool, flops: int,
               model_bytes: bytes, signatures: dict[str, Any], input_quant: dict[str, Any] | None,
               clip_seconds: float | None = None, stream: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON model card; ``content_sha256`` hashes the .tflite bytes before the card is embedded.

    ``stream`` (causal streaming exports) is the step schedule a runtime follows (see ``export.causal_stream``).
    ``clip_seconds`` is how much video one training clip spanned: the live pipeline samples the last
    ``clip_seconds`` of the camera at ``frames`` evenly spread times, so a live window looks like a training clip.
    """
    frames, size = loaded.frames, loaded.size
    fps = float(loaded.config.get("fps", DEFAULT_FPS))
    span = clip_seconds or float(loaded.config.get("clip_seconds") or frames / fps)
    background = next((label for label in loaded.labels if label in BACKGROUND_LABELS), None)
    return {
        "format": CARD_FORMAT,
        "arch": loaded.arch,
        "family": loaded.family,
        "width": loaded.width,
        "num_classes": loaded.num_classes,
        "labels": loaded.labels,
        "input": {
            "frames": frames, "size": size, "channels": 3, "color": "RGB",
            "layout": "(N*T)HWC: one clip of T frames in the batch axis" if not streaming
            else "one frame (1, H, W, 3) per encode_frame call" if stream is None
            else "one frame (1, H, W, 3) per frame into the step signature that takes it (see stream.schedule)",
            "shape": [frames, size, size, 3] if not streaming else [1, size, size, 3],
            "dtype": io_dtype, "value_range": [0, 255],
            "normalization": "inside the model: (x / 255 - mean) / std",
            # How training's evaluation pipeline framed each clip (the data's crop, then its central 87.5%);
            # a runtime crops camera frames the same way. Runs from before crops were recorded: centre.
            "crop": model_crop(loaded.config.get("crop") or LEGACY_CROP).to_card(),
            "mean": list(KINETICS_MEAN), "std": list(KINETICS_STD),
            "quantization": input_quant,
        },
        "fps": fps,
        "clip_seconds": span,
        "background_label": background,
        "quantization": quant,
        "flops_per_clip": flops,
        "streaming": streaming,
        "signatures": signatures,
        **({"stream": stream} if stream is not None else {}),
        # Portable provenance: names, not this machine's absolute paths.
        "source_run": loaded.run_dir.name,
        "source_model": loaded.model_path.name,
        "training": {key: loaded.config[key] for key in ("epochs", "batch", "lr", "seed") if key in loaded.config}
        | {"data": Path(str(loaded.config.get("data", ""))).name},
        "content_sha256": hashlib.sha256(model_bytes).hexdigest(),
        "edge_slr_version": __version__,
        "exported_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
