#!/usr/bin/env bash
# Rebuild the demo models in this folder from nothing but this repository (about 20 minutes on 2 CPU cores).
# Data: edge-slr's own rendered signers (10 classes, 4 signers, 12 clips per class and signer), split by
# signer; the held-out signer is the validation set. Training settings: tools/train_synth_accuracy.py (RECIPES).
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-runs/demo}
uv run --extra live --extra train python tools/train_synth_accuracy.py --work "$work"
uv run --extra live --extra train edge-slr export-tflite "$work/runs/r2plus1d_small" --quant int8 --val-clips 120 \
    --out export/r2plus1d_small_int8.tflite
uv run --extra live --extra train edge-slr export-tflite "$work/runs/cnn_lstm" --streaming --val-clips 120 \
    --out export/cnn_lstm_fp32_stream.tflite
uv run --extra live edge-slr bench export/r2plus1d_small_int8.tflite export/cnn_lstm_fp32_stream.tflite --threads 1,2

# The live demo model, shipped inside the package (edge_slr/assets) so `edge-slr demo` works from a wheel:
# 10 sign classes plus synth's `no_sign` class (the live no-sign state), 12 rendered signers (10 train,
# 2 validation) so that it generalizes to the unseen signer of `edge-slr demo`'s stream. A training clip spans
# 1.6-2.8 s (2.2 s on average), which the card records as clip_seconds: the live window length.
demo=${2:-runs/demo_live}
uv run --extra live --extra train python tools/train_synth_accuracy.py --work "$demo" --arch r2plus1d_small \
    --background --signers 12 --val-signers 2 --clips-per-class 8
uv run --extra live --extra train edge-slr export-tflite "$demo/runs/r2plus1d_small" --quant int8 --val-clips 176 \
    --clip-seconds 2.2 --out "$demo/export/demo_r2plus1d_small_int8.tflite"
cp "$demo/export/demo_r2plus1d_small_int8.tflite" edge_slr/assets/
cp "$demo/export/demo_r2plus1d_small_int8.json" "$demo/export/demo_r2plus1d_small_int8.report.json" export/
uv run --extra live edge-slr demo --headless --seed 0 --json > export/demo_r2plus1d_small_int8.demo.json

# The streaming twin of the demo model (issue 10): the causal (2+1)D variant trained on the same data, exported as
# one file of step signatures (every_1, every_2, every_4) with explicit 4-D state (one new frame per push);
# `edge-slr demo --model` runs it.
uv run --extra live --extra train python tools/train_synth_accuracy.py --work "$demo" --arch r2plus1d_small_causal \
    --background --signers 12 --val-signers 2 --clips-per-class 8
uv run --extra live --extra train edge-slr export-tflite "$demo/runs/r2plus1d_small_causal" --streaming --quant int8 \
    --val-clips 176 --clip-seconds 2.2 --out export/demo_r2plus1d_small_causal_int8_stream.tflite
uv run --extra live edge-slr demo --headless --seed 0 --json --model export/demo_r2plus1d_small_causal_int8_stream.tflite \
    > export/demo_r2plus1d_small_causal_int8_stream.demo.json
