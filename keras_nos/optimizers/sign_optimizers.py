"""PowerSign and AddSign (Bello et al. 2017), with TensorFlow 1 contrib semantics.

Both keep one momentum slot m <- beta*m + (1-beta)*g (no bias correction,
updated before use) and scale the gradient up when sign(g) agrees with sign(m):

- PowerSign: w <- w - lr * base^(d(t)*sign(g)*sign(m)) * g
- AddSign:   w <- w - lr * (alpha + d(t)*sign(g)*sign(m)) * g

with d(t) = 1 or a sign decay (``"linear"``, ``"cosine"``, ``"restart"``).
"""

from __future__ import annotations

import math
from typing import Any, Optional

import keras
from keras import ops

from keras_nos.errors import KerasNosError
from keras_nos.optimizers.dense_gradients import dense_gradient
from keras_nos.optimizers.keras_internals import LearningRate, base_optimizer_keyword_args
from keras_nos.optimizers.sign_decay import SignDecaySpec, get_sign_decay


class _SignOptimizer(keras.optimizers.Optimizer):
    """Shared momentum slot, sign decay and config of PowerSign and AddSign."""

    def __init__(self, learning_rate: LearningRate, beta: float, sign_decay: SignDecaySpec, decay_steps: Optional[int],
                 num_periods: Optional[float], name: str, **kwargs: Any) -> None:
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        if not 0.0 <= beta < 1.0:
            raise KerasNosError(f"beta must be in [0, 1), got beta={beta!r}")
        self.beta = beta
        self.sign_decay = get_sign_decay(sign_decay, decay_steps, num_periods)
        self.decay_steps = decay_steps
        self.num_periods = num_periods

    def build(self, var_list: list[keras.Variable]) -> None:
        if self.built:
            return
        super().build(var_list)
        self._momentums = self.add_optimizer_variables(var_list, "momentum")

    def _update_momentum(self, gradient: Any, variable: keras.Variable) -> tuple[Any, Any]:
        """Update m and return (g, new m) in the variable's dtype."""
        g = ops.cast(dense_gradient(gradient), variable.dtype)
        m = self._momentums[self._get_variable_index(variable)]
        new_m = m + (g - m) * (1.0 - self.beta)
        self.assign(m, new_m)
        return g, new_m

    def _agreement(self, gradient: Any, variable: keras.Variable) -> tuple[Any, Any]:
        """Update m and return (g, d(t)*sign(g)*sign(m)) in the variable's dtype."""
        g, new_m = self._update_momentum(gradient, variable)
        agreement = ops.sign(g) * ops.sign(new_m)
        if self.sign_decay is not None:
            agreement = agreement * ops.cast(self.sign_decay(self.iterations), variable.dtype)
        return g, agreement

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        decay = self.sign_decay
        config.update(
            {
                "beta": self.beta,
                "sign_decay": keras.saving.serialize_keras_object(decay) if decay is not None else None,
                "decay_steps": self.decay_steps,
                "num_periods": self.num_periods,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="keras_nos")
class PowerSign(_SignOptimizer):
    """PowerSign: w <- w - lr * base^(d(t)*sign(g)*sign(m)) * g.

    Args:
        learning_rate: float, schedule or callable. Defaults to 0.1.
        base: the base of the power, e by default (the paper's e^(sign(g)*sign(m))).
        beta: momentum decay of m. Defaults to 0.9.
        sign_decay: None (d = 1), ``"linear"``, ``"cosine"``, ``"restart"`` or a
            callable of the step (a ``keras_nos.optimizers.SignDecay``).
        decay_steps: T of the sign decay.
        num_periods: n of the cosine (default 0.5) and restart (default 1) decays.
        {{base_optimizer_keyword_args}}

    References:
        - Bello et al., Neural Optimizer Search with Reinforcement Learning, ICML 2017.
    """

    def __init__(self, learning_rate: LearningRate = 0.1, base: float = math.e, beta: float = 0.9,
                 sign_decay: SignDecaySpec = None, decay_steps: Optional[int] = None,
                 num_periods: Optional[float] = None, name: str = "powersign", **kwargs: Any) -> None:
        if base <= 0:
            raise KerasNosError(f"base must be positive, got base={base!r}")
        super().__init__(learning_rate, beta, sign_decay, decay_steps, num_periods, name, **kwargs)
        self.base = base

    def update_step(self, gradient: Any, variable: keras.Variable, learning_rate: Any) -> None:
        # base^(d*s) with s = sign(g)*sign(m) in {-1, 0, 1} is a select between the scalars
        # base^d, base^-d and 1: no exp per entry. g*sign(m) has the sign of s exactly (no
        # underflow, unlike g*m), and the learning rate is folded into the scalars.
        g, new_m = self._update_momentum(gradient, variable)
        lr = ops.cast(learning_rate, variable.dtype)
        if self.sign_decay is None:
            up = ops.cast(self.base, variable.dtype)
        else:
            up = ops.exp(math.log(self.base) * ops.cast(self.sign_decay(self.iterations), variable.dtype))
        agreement = g * ops.sign(new_m)
        scale = ops.where(agreement > 0, lr * up, ops.where(agreement < 0, lr / up, lr))
        self.assign_sub(variable, scale * g)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "base": self.base}


@keras.saving.register_keras_serializable(package="keras_nos")
class AddSign(_SignOptimizer):
    """AddSign: w <- w - lr * (alpha + d(t)*sign(g)*sign(m)) * g.

    Args:
        learning_rate: float, schedule or callable. Defaults to 0.1.
        alpha: the constant term; 1 gives the paper's (1 + sign(g)*sign(m))*g.
        beta: momentum decay of m. Defaults to 0.9.
        sign_decay: None (d = 1), ``"linear"``, ``"cosine"``, ``"restart"`` or a
            callable of the step (a ``keras_nos.optimizers.SignDecay``).
        decay_steps: T of the sign decay.
        num_periods: n of the cosine (default 0.5) and restart (default 1) decays.
        {{base_optimizer_keyword_args}}

    References:
        - Bello et al., Neural Optimizer Search with Reinforcement Learning, ICML 2017.
    """

    def __init__(self, learning_rate: LearningRate = 0.1, alpha: float = 1.0, beta: float = 0.9,
                 sign_decay: SignDecaySpec = None, decay_steps: Optional[int] = None,
                 num_periods: Optional[float] = None, name: str = "addsign", **kwargs: Any) -> None:
        super().__init__(learning_rate, beta, sign_decay, decay_steps, num_periods, name, **kwargs)
        self.alpha = alpha

    def update_step(self, gradient: Any, variable: keras.Variable, learning_rate: Any) -> None:
        g, agreement = self._agreement(gradient, variable)
        self.assign_sub(variable, ops.cast(learning_rate, variable.dtype) * (self.alpha + agreement) * g)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "alpha": self.alpha}


for _cls in (PowerSign, AddSign):
    _cls.__doc__ = _cls.__doc__.replace("{{base_optimizer_keyword_args}}", base_optimizer_keyword_args)
