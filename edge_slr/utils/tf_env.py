"""Import TensorFlow the way this project needs it.

tensorflow-model-optimization only works with Keras 2, so every TensorFlow user in edge-slr goes
through :func:`import_tf`, which selects tf-keras (``TF_USE_LEGACY_KERAS=1``) and quiets the
C++ start-up logs *before* TensorFlow is first imported. Runtime modules never call this.
"""

from __future__ import annotations

import os
from types import ModuleType


def import_tf() -> tuple[ModuleType, ModuleType]:
    """Return ``(tensorflow, tf_keras)`` configured for this project."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    import tf_keras

    return tf, tf_keras
