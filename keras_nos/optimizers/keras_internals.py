"""The private Keras name keras_nos uses, in one place, with a fallback when a Keras release moves it.

``base_optimizer_keyword_args`` is the text Keras' own optimizers put in their
docstrings for the keyword arguments every optimizer takes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Union

import keras

# What a Keras optimizer takes as its learning rate: a number, a schedule, or a callable of no arguments.
LearningRate = Union[float, keras.optimizers.schedules.LearningRateSchedule, Callable[[], float]]


try:
    from keras.src.optimizers.optimizer import base_optimizer_keyword_args
except ImportError:  # pragma: no cover - only on a Keras release that moved it
    base_optimizer_keyword_args = """**kwargs: the keyword arguments of `keras.optimizers.Optimizer` (`weight_decay`,
            `clipnorm`, `clipvalue`, `global_clipnorm`, `use_ema`, `ema_momentum`,
            `ema_overwrite_frequency`, `loss_scale_factor`, `gradient_accumulation_steps`)."""

__all__ = ["LearningRate", "base_optimizer_keyword_args"]
