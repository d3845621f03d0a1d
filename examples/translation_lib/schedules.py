"""Learning-rate schedules: constant, rsqrt, linear-cosine, each with optional warm-up.

``linear-cosine`` is the paper's linear cosine decay, from
``keras_nos.schedules.LinearCosineDecay`` (num_periods=0.5, alpha=0, beta=0.001).
"""

import keras
from keras import ops

SCHEDULES = ("constant", "rsqrt", "linear-cosine")


class Constant(keras.optimizers.schedules.LearningRateSchedule):
    def __init__(self, learning_rate):
        self.learning_rate = float(learning_rate)

    def __call__(self, step):
        return ops.convert_to_tensor(self.learning_rate, "float32")

    def get_config(self):
        return {"learning_rate": self.learning_rate}


class RsqrtDecay(keras.optimizers.schedules.LearningRateSchedule):
    """``lr`` until ``hold_steps``, then ``lr * sqrt(hold_steps / step)`` (Transformer-style)."""

    def __init__(self, learning_rate, hold_steps):
        self.learning_rate = float(learning_rate)
        self.hold_steps = max(int(hold_steps), 1)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        ratio = float(self.hold_steps) / ops.maximum(step, float(self.hold_steps))
        return self.learning_rate * ops.sqrt(ratio)

    def get_config(self):
        return {"learning_rate": self.learning_rate, "hold_steps": self.hold_steps}


class Warmup(keras.optimizers.schedules.LearningRateSchedule):
    """Scale any schedule linearly from ~0 to 1 over the first ``warmup_steps`` steps."""

    def __init__(self, schedule, warmup_steps):
        self.schedule = schedule
        self.warmup_steps = int(warmup_steps)

    def __call__(self, step):
        factor = ops.minimum(1.0, (ops.cast(step, "float32") + 1.0) / float(self.warmup_steps))
        return self.schedule(step) * factor

    def get_config(self):
        return {"schedule": keras.saving.serialize_keras_object(self.schedule),
                "warmup_steps": self.warmup_steps}


def build_schedule(kind, learning_rate, total_steps, warmup_steps=0):
    """The schedule for ``--schedule kind``; warm-up wraps whichever is chosen."""
    if kind == "constant":
        schedule = Constant(learning_rate)
    elif kind == "rsqrt":
        schedule = RsqrtDecay(learning_rate, hold_steps=max(warmup_steps, 1))
    elif kind == "linear-cosine":
        from keras_nos.optimizers.schedules import LinearCosineDecay

        schedule = LinearCosineDecay(learning_rate, total_steps, num_periods=0.5, alpha=0.0,
                                     beta=0.001)
    else:
        raise ValueError(f"unknown schedule {kind!r}; choose from {SCHEDULES}")
    return Warmup(schedule, warmup_steps) if warmup_steps > 0 else schedule
