"""Hands, TensorFlow-free: MediaPipe hand landmarks and the crops computed from them.

Shared by the live pipeline (gating and cropping camera frames), ``prepare`` (cropping training
clips) and evaluation, so a model sees the same framing everywhere. Imports only NumPy and OpenCV;
MediaPipe is imported when the first :class:`HandDetector` is created.
"""

from edge_slr.hands.bundle import HANDS_MODEL_ENV, resolve_hands_model, verify_hands_model
from edge_slr.hands.crops import CROPS, Box, CropSpec, CropTracker, apply_crop, centre_box, clamp_box, model_crop
from edge_slr.hands.landmarker import Hand, HandDetector

__all__ = [
    "CROPS", "HANDS_MODEL_ENV", "Box", "CropSpec", "CropTracker", "Hand", "HandDetector", "apply_crop",
    "centre_box", "clamp_box", "model_crop", "resolve_hands_model", "verify_hands_model",
]
