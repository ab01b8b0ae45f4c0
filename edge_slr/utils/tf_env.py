"""Import TensorFlow the way this project needs it.

tensorflow-model-optimization only works with Keras 2, so every TensorFlow user in edge-slr goes
through :func:`import_tf`, which selects tf-keras (``TF_USE_LEGACY_KERAS=1``) *before* TensorFlow
is first imported. It also drops TensorFlow's start-up chatter (absl's pre-init warning, "no CUDA
driver" on CPU machines), which its C++ side writes straight to file descriptor 2 and which no
environment variable silences; every other line written during the import is passed through.
Runtime modules never call this.
"""

from __future__ import annotations

import os
import re
from types import ModuleType

from edge_slr.utils.native_stderr import quiet_native_stderr

_NOISE = re.compile(
    r"All log messages before absl::InitializeLog|cudart_stub|cuda_platform|cuInit|cpu_feature_guard|"
    r"rebuild TensorFlow with the appropriate compiler flags|oneDNN custom operations|TF_ENABLE_ONEDNN_OPTS|"
    r"Unable to register cu(DNN|FFT|BLAS) factory|computation_placer|absl::InitializeLog"
)
_cache: tuple[ModuleType, ModuleType] | None = None


def import_tf() -> tuple[ModuleType, ModuleType]:
    """Return ``(tensorflow, tf_keras)`` configured for this project."""
    global _cache
    if _cache is not None:
        return _cache
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with quiet_native_stderr(_NOISE):
        import tensorflow as tf
        import tf_keras

        tf.get_logger().setLevel("ERROR")
        tf.config.list_physical_devices("GPU")  # probes CUDA now, while its chatter is captured
    _cache = (tf, tf_keras)
    return _cache
