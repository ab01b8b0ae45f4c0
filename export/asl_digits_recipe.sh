#!/usr/bin/env bash
# Rebuild export/asl_digits_cnn_lstm_int8.* from the real ASL digit photos (about 3 minutes on 2 CPU cores), then score
# it live on a stitched stream of the held-out photos (about 20 minutes: the stream is played in real time).
# Data: ../shared/data/asl_digits (Apache-2.0): 1,633 photos of the ten digits by 178 people; manifest.csv
# names each photo's signer, so the split is by signer (20% of the people are validation only).
# Every photo is cut with the hand crop (MediaPipe hand landmarks, square of 1.25x the hand, stored at 64 px)
# and trained as a still clip: the photo repeated for 8 frames, each jittered a little in training.
set -euo pipefail
cd "$(dirname "$0")/.."
src=${1:-../shared/data/asl_digits}
hands=${2:-../shared/models/mediapipe/hand_landmarker.task}
work=${3:-runs/asl_digits}
uv run --extra live --extra train edge-slr prepare "$src" "$work/data" --crop hand --hands-model "$hands" \
    --size 64 --val 0.2 --seed 0 --overwrite
uv run --extra live --extra train edge-slr train --arch cnn_lstm --data "$work/data" --out "$work/run" \
    --epochs 20 --frames 8 --size 56 --width 0.5 --batch 16 --lr 2e-3 --seed 0 --overwrite
# Full-integer PTQ of the whole-clip graph (the LSTM is unrolled into FC/ADD/MUL steps: all ops on XNNPACK).
# The whole-clip graph: an 8-frame 56 px clip costs ~2 ms (a full-integer --streaming export is possible since, but
# has not been scored live for this model).
uv run --extra live --extra train edge-slr export-tflite "$work/run" --quant int8 --val-clips 327 \
    --out export/asl_digits_cnn_lstm_int8.tflite
uv run --extra live --extra train edge-slr evaluate export/asl_digits_cnn_lstm_int8.tflite --data "$work/data" \
    --out "$work/eval"
# The model on small hands in 640x480 frames through the live crop path, and the crop statistics.
uv run --extra live python tools/asl_digits_in_frame.py export/asl_digits_cnn_lstm_int8.tflite --data "$work/data" \
    --json "$work/in_frame.json"
uv run --extra live --extra train python tools/measure_crops.py --json "$work/crops.json"
# Live on real people: the held-out signers' photos (the same split as prepare above: --val 0.2, seed 0) stitched
# into one stream (each photo held 2 s, letterboxed to 640x480, 1.5 s of grey rest without a hand between), played
# through `live` in real time with MediaPipe and the hand crop, scored against the stream's truth; then, per missed
# sign, whether MediaPipe found the hand and what the model says on it (tools/asl_digits_stream.py).
uv run --extra live edge-slr stitch "$src" "$work/stream/val.mp4" --only val --val 0.2 --split-seed 0 --overwrite
uv run --extra live edge-slr live --source "$work/stream/val.mp4" --model export/asl_digits_cnn_lstm_int8.tflite \
    --hands-model "$hands" --truth "$work/stream/val.json" --headless --stats-json "$work/stream/live.json" \
    > "$work/stream/events.jsonl"
uv run --extra live python tools/asl_digits_stream.py "$work/stream/val.json" "$work/stream/live.json" \
    --hands-model "$hands" --json "$work/stream/misses.json"
