"""Small helpers shared by every stage (no TensorFlow imports here)."""
