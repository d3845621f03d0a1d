"""Sign decays d(t) for PowerSign and AddSign, as in TensorFlow 1's contrib.opt.

Each is a serializable callable of the step count: ``linear``, ``cosine`` and
``restart`` with ``decay_steps`` T (t is held at T once reached).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, Optional, Union

import keras
from keras import ops

from keras_nos.dsl import primitives
from keras_nos.errors import KerasNosError


class SignDecay:
    """Base: a callable of the step count with a Keras config."""

    def __init__(self, decay_steps: int, num_periods: Optional[float] = None) -> None:
        if decay_steps is None or decay_steps <= 0:
            raise KerasNosError(f"decay_steps must be a positive number of steps for a sign decay, got {decay_steps!r}")
        self.decay_steps = decay_steps
        self.num_periods = num_periods

    def get_config(self) -> dict[str, Any]:
        return {"decay_steps": self.decay_steps, "num_periods": self.num_periods}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> SignDecay:
        return cls(**config)

    def _t(self, step: Any) -> Any:
        return ops.cast(step, "float32")


@keras.saving.register_keras_serializable(package="keras_nos")
class LinearSignDecay(SignDecay):
    """d(t) = max(0, (T - min(t, T)) / T)."""

    def __init__(self, decay_steps: int, num_periods: Optional[float] = None) -> None:
        super().__init__(decay_steps, None)

    def __call__(self, step: Any) -> Any:
        return primitives.linear_decay(ops, self._t(step), float(self.decay_steps))


@keras.saving.register_keras_serializable(package="keras_nos")
class CosineSignDecay(SignDecay):
    """d(t) = 0.5 * (1 + cos(2*pi*n*min(t, T)/T)); n defaults to 0.5 (one half-cosine)."""

    def __init__(self, decay_steps: int, num_periods: Optional[float] = 0.5) -> None:
        super().__init__(decay_steps, 0.5 if num_periods is None else num_periods)

    def __call__(self, step: Any) -> Any:
        return primitives.cosine_decay(ops, self._t(step), float(self.decay_steps), float(self.num_periods))


@keras.saving.register_keras_serializable(package="keras_nos")
class RestartSignDecay(SignDecay):
    """d(t) = 0.5 * (1 + cos(pi * ((n*min(t, T)) mod T) / T)); n defaults to 1."""

    def __init__(self, decay_steps: int, num_periods: Optional[float] = 1.0) -> None:
        super().__init__(decay_steps, 1.0 if num_periods is None else num_periods)

    def __call__(self, step: Any) -> Any:
        return primitives.restart_decay(ops, self._t(step), float(self.decay_steps), float(self.num_periods))


SIGN_DECAYS = {"linear": LinearSignDecay, "cosine": CosineSignDecay, "restart": RestartSignDecay}
# What an optimizer's ``sign_decay`` takes: see ``get_sign_decay``.
SignDecaySpec = Union[None, Literal["linear", "cosine", "restart"], SignDecay, dict[str, Any], Callable[[Any], Any]]


def get_sign_decay(sign_decay: SignDecaySpec, decay_steps: Optional[int] = None,
                   num_periods: Optional[float] = None) -> Union[SignDecay, Callable[[Any], Any], None]:
    """None, a name from SIGN_DECAYS, a SignDecay, a serialized config or any callable of the step."""
    if sign_decay is None:
        return None
    if isinstance(sign_decay, str):
        if sign_decay not in SIGN_DECAYS:
            raise KerasNosError(f"Unknown sign_decay {sign_decay!r}; allowed: None, {', '.join(SIGN_DECAYS)} or a callable of the step")
        return SIGN_DECAYS[sign_decay](decay_steps, num_periods)
    if isinstance(sign_decay, dict):
        return keras.saving.deserialize_keras_object(sign_decay)
    if callable(sign_decay):
        return sign_decay
    raise KerasNosError(f"sign_decay must be None, a name ({', '.join(SIGN_DECAYS)}) or a callable, got {sign_decay!r}")
