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
