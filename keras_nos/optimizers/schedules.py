"""Learning-rate schedules from the paper: linear cosine decay, with and without noise.

Both follow TensorFlow 1's ``tf.train.linear_cosine_decay`` and
``noisy_linear_cosine_decay``, which TensorFlow 2 dropped::

    t = min(step, decay_steps)
    linear = (decay_steps - t) / decay_steps          (+ noise in the noisy one)
    cosine = 0.5 * (1 + cos(pi * 2 * num_periods * t / decay_steps))
    lr = initial_learning_rate * ((alpha + linear) * cosine + beta)
"""

from __future__ import annotations

import math
from typing import Any, Optional

import keras
from keras import ops

from keras_nos.errors import KerasNosError
from keras_nos.optimizers.random_draws import normal_draw


@keras.saving.register_keras_serializable(package="keras_nos")
class LinearCosineDecay(keras.optimizers.schedules.LearningRateSchedule):
    """lr * ((alpha + linear) * cosine + beta); see the module docstring."""

    def __init__(self, initial_learning_rate: float, decay_steps: int, num_periods: float = 0.5, alpha: float = 0.0,
                 beta: float = 0.001, name: Optional[str] = None) -> None:
        if decay_steps is None or decay_steps <= 0:
            raise KerasNosError(f"decay_steps must be a positive number of steps, got {decay_steps!r}")
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.num_periods = num_periods
        self.alpha = alpha
        self.beta = beta
        self.name = name

    def _linear(self, t: Any, step: Any) -> Any:
        return (self.decay_steps - t) / self.decay_steps

    def __call__(self, step: Any) -> Any:
        t = ops.minimum(ops.cast(step, "float32"), float(self.decay_steps))
        cosine = 0.5 * (1.0 + ops.cos(math.pi * 2.0 * self.num_periods * t / self.decay_steps))
        return self.initial_learning_rate * ((self.alpha + self._linear(t, step)) * cosine + self.beta)

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "num_periods": self.num_periods,
            "alpha": self.alpha,
            "beta": self.beta,
            "name": self.name,
        }


@keras.saving.register_keras_serializable(package="keras_nos")
class NoisyLinearCosineDecay(LinearCosineDecay):
    """LinearCosineDecay whose linear term gets N(0, initial_variance / (1 + t)^variance_decay).

    The noise is keyed by (seed, step), so a step's learning rate is the same
    every time it is asked for and after a reload.
    """

    def __init__(self, initial_learning_rate: float, decay_steps: int, initial_variance: float = 1.0,
                 variance_decay: float = 0.55, num_periods: float = 0.5, alpha: float = 0.0, beta: float = 0.001,
                 seed: int = 0, name: Optional[str] = None) -> None:
        super().__init__(initial_learning_rate, decay_steps, num_periods, alpha, beta, name)
        self.initial_variance = initial_variance
        self.variance_decay = variance_decay
        self.seed = seed

    def _linear(self, t: Any, step: Any) -> Any:
        # the stddev uses t (held at decay_steps) as in TF1; the draw is keyed by the step itself,
        # so it stays fresh every step after decay_steps, as TF1's random_normal was
        stddev = ops.sqrt(self.initial_variance / ops.power(1.0 + t, self.variance_decay))
        noise = normal_draw((), self.seed, step, stream=7) * stddev
        return super()._linear(t, step) + noise

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "initial_variance": self.initial_variance,
            "variance_decay": self.variance_decay,
            "seed": self.seed,
        }
