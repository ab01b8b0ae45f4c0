"""TensorFlow-free runtime: read, check and run .tflite files with ai-edge-litert, numpy and OpenCV only."""
