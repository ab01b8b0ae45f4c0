"""Learning-rate schedule: linear warm-up from 0 to the peak, then cosine decay to 0 at the last step.

Warm-up keeps the first AdamW steps small while its moment estimates are still noisy (and
BatchNorm statistics are still settling); cosine decay needs no tuning besides the run length.
The schedule is a function of ``optimizer.iterations``, which BackupAndRestore restores, so a
resumed run continues on the same curve.
"""

from __future__ import annotations

import math
from typing import Any

from edge_slr.utils.tf_env import import_tf

tf, keras = import_tf()


@keras.saving.register_keras_serializable(package="edge_slr")
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """``lr(step)``: ``peak * (step + 1) / warmup`` during warm-up, then ``peak * (1 + cos(pi * progress)) / 2``."""

    def __init__(self, peak_lr: float, total_steps: int, warmup_steps: int = 0) -> None:
        super().__init__()
        if total_steps <= 0 or not 0 <= warmup_steps <= total_steps:
            raise ValueError(f"need 0 <= warmup_steps ({warmup_steps}) <= total_steps ({total_steps}), total > 0")
        self.peak_lr = float(peak_lr)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)

    def __call__(self, step: Any) -> Any:
        step = tf.cast(step, tf.float32)
        # Step k (0-based) trains with the rate at k + 1, so the very first update is not zero.
        done = step + 1.0
        warm = self.peak_lr * done / max(self.warmup_steps, 1)
        decay_span = self.total_steps - self.warmup_steps + 1  # + 1: the last update is small, not zero
        progress = tf.clip_by_value((done - self.warmup_steps) / decay_span, 0.0, 1.0)
        cosine = 0.5 * self.peak_lr * (1.0 + tf.cos(math.pi * progress))
        return tf.where(done <= self.warmup_steps, warm, cosine)

    def get_config(self) -> dict[str, Any]:
        return {"peak_lr": self.peak_lr, "total_steps": self.total_steps, "warmup_steps": self.warmup_steps}
