"""``edge-slr record``: collect one's own sign clips from a camera into a dataset ``prepare`` reads.

TensorFlow-free (the ``live`` extra alone runs it): frames come from the live pipeline's sources
(:mod:`edge_slr.live.sources`), clips are written with OpenCV into ``OUT/<sign>/<signer>_<n>.mp4`` and
listed in ``OUT/manifest.csv`` (``path,label,signer``), so ``prepare`` splits by signer.
"""
