"""Quantize trained models and export them as 4-D-only TFLite files with an embedded model card."""
