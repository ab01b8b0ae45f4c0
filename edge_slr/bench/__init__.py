"""Benchmarks of .tflite files on the device at hand (``edge-slr bench``), TensorFlow-free.

``latency`` measures models x thread counts interleaved round by round, ``profile`` splits one model's
time op by op, ``report`` prints and writes the results, ``commands`` is the CLI entry. Only
ai-edge-litert, numpy, OpenCV (for ``--data``) and matplotlib (for ``--plot``) are needed, so the same
numbers can be taken on a Raspberry Pi-class device with the ``live`` extra.
"""
