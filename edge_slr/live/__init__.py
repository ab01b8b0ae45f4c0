"""Live sign recognition, TensorFlow-free: sources -> capture thread -> ring buffer -> inference -> smoothing -> events.

Runs with the ``live`` extra alone (ai-edge-litert, numpy, OpenCV, MediaPipe).
"""
