"""The table of export formats: one row per ``--quant`` value drives validation, export and benchmarks."""

from __future__ import annotations

from dataclasses import dataclass

from edge_slr.errors import unknown_choice


@dataclass(frozen=True)
class QuantFormat:
    """One export format."""

    name: str
    description: str
    needs_calibration: bool  # full-integer formats need representative clips
    integer_io: bool  # whether --io-dtype int8/uint8 applies


QUANT_FORMATS: dict[str, QuantFormat] = {
    f.name: f for f in [
        QuantFormat("fp32", "float32 weights and activations", False, False),
        QuantFormat("fp16", "float16 weights (dequantized at load), float32 activations", False, False),
        QuantFormat("dynamic", "int8 weights, float activations quantized on the fly (dynamic range)", False, False),
        QuantFormat("int8", "full-integer post-training quantization (int8 weights and activations)", True, True),
        QuantFormat("qat", "quantization-aware fine-tuning with tfmot, then full-integer conversion", True, True),
    ]
}
IO_DTYPES = ("float32", "int8", "uint8")


def get_format(name: str) -> QuantFormat:
    """The format called ``name``; a one-line error naming the allowed values otherwise."""
    try:
        return QUANT_FORMATS[name]
    except KeyError:
        raise unknown_choice("quantization", name, QUANT_FORMATS) from None
