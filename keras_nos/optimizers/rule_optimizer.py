"""RuleOptimizer: any update rule of the language as a Keras 3 optimizer."""

from __future__ import annotations

import re
from typing import Any, Optional, Union

import keras
from keras import ops

from keras_nos.dsl import semantics
from keras_nos.dsl.parser import parse_rule
from keras_nos.dsl.rule import Rule
from keras_nos.errors import KerasNosError
from keras_nos.optimizers.dense_gradients import dense_gradient
from keras_nos.optimizers.keras_internals import LearningRate, base_optimizer_keyword_args
from keras_nos.optimizers.random_draws import operand_draw

_DEFAULTS = semantics.DEFAULT_HYPERPARAMETERS


@keras.saving.register_keras_serializable(package="keras_nos")
class RuleOptimizer(keras.optimizers.Optimizer):
    """Optimizer whose step is ``w <- w - learning_rate * rule``.

    The rule is compiled into ``update_step`` with ``keras.ops`` only, so it runs
    on every Keras backend and under ``jit_compile=True``. Only the running
    averages the rule reads get slots: a rule of ``g`` and ``m`` holds one slot
    per variable.

    Operands: ``g``; ``m``, ``v``, ``y`` (averages of g, g^2, g^3 with
    ``beta_1``, ``beta_2``, ``beta_3``, bias-corrected as in Adam, updated before
    use); ``w`` (the weights); ``noise`` (N(0, 0.01) per entry and step);
    ``adam`` = m/(sqrt(v)+epsilon); ``rmsprop`` = g/(sqrt(v)+epsilon); decays
    ``ld``, ``cd``, ``rd`` (and ``cd_N``, ``rd_N``) over ``decay_steps``. They are
    defined once, in ``keras_nos.dsl.semantics``, which the NumPy stepper, the
    fingerprint and ``keras-nos export`` read too.

    Args:
        rule: rule text such as ``"exp(sign(g)*sign(m))*g"`` or a ``Rule``.
        learning_rate: float, schedule or callable.
        beta_1, beta_2, beta_3: decay rates of m, v and y.
        epsilon: added to sqrt(v) in ``adam`` and ``rmsprop``.
        decay_steps: T of the decay operands; required when the rule uses one.
        seed: seed of ``noise`` and ``drop``; draws are keyed by (seed, step,
            variable), so training resumes with the same stream after loading.
        {{base_optimizer_keyword_args}}

    Example:
        >>> model.compile(optimizer=RuleOptimizer("exp(sign(g)*sign(m))*g", learning_rate=0.1))

    References:
        - Bello et al., Neural Optimizer Search with Reinforcement Learning, ICML 2017.
    """

    def __init__(
        self,
        rule: Union[str, Rule],
        learning_rate: LearningRate = 0.01,
        beta_1: float = _DEFAULTS["beta_1"],
        beta_2: float = _DEFAULTS["beta_2"],
        beta_3: float = _DEFAULTS["beta_3"],
        epsilon: float = _DEFAULTS["epsilon"],
        decay_steps: Optional[int] = None,
        seed: int = 0,
        weight_decay: Optional[float] = None,
        clipnorm: Optional[float] = None,
        clipvalue: Optional[float] = None,
        global_clipnorm: Optional[float] = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: Optional[int] = None,
        loss_scale_factor: Optional[float] = None,
        gradient_accumulation_steps: Optional[int] = None,
        name: Optional[str] = None,
        **kwargs: Any,
    ) -> None:
        rule = parse_rule(rule)
        if rule.uses_decay() and not decay_steps:
            text = str(rule)
            decays = [
                f"{match.group(0)!r} at position {match.start()}"
                for match in re.finditer(r"[A-Za-z_][A-Za-z_0-9.]*", text)
                if semantics.decay_periods(match.group(0))
            ]
            raise KerasNosError(
                f"Rule {text!r} uses the decay operand(s) {', '.join(decays)}, which need decay_steps "
                f"(a positive number of steps, usually the total training steps); got decay_steps={decay_steps!r}"
            )
        super().__init__(
            learning_rate=learning_rate,
            name=name or "rule_optimizer",
            weight_decay=weight_decay,
            clipnorm=clipnorm,
            clipvalue=clipvalue,
            global_clipnorm=global_clipnorm,
            use_ema=use_ema,
            ema_momentum=ema_momentum,
            ema_overwrite_frequency=ema_overwrite_frequency,
            loss_scale_factor=loss_scale_factor,
            gradient_accumulation_steps=gradient_accumulation_steps,
            **kwargs,
        )
        self.rule = rule
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.beta_3 = beta_3
        self.epsilon = epsilon
        self.decay_steps = decay_steps
        self.seed = seed

    def build(self, var_list: list[keras.Variable]) -> None:
        if self.built:
            return
        super().build(var_list)
        self._averages = {slot: self.add_optimizer_variables(var_list, slot) for slot in self.rule.slots()}

    def update_step(self, gradient: Any, variable: keras.Variable, learning_rate: Any) -> None:
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        g = ops.cast(dense_gradient(gradient), dtype)
        index = self._get_variable_index(variable)
        t = ops.cast(self.iterations, dtype)
        values = {"g": g, "w": variable}
        for slot, averages in self._averages.items():
            beta = getattr(self, semantics.AVERAGES[slot].beta)
            average = averages[index]
            new = semantics.updated_average(ops, slot, average, g, beta)
            self.assign(average, new)
            values[slot] = semantics.bias_corrected(new, ops.cast(beta, dtype), t)
        operand = semantics.step_operands(ops, values, t, self.epsilon, self.decay_steps,
                                         lambda name: self._random_draw(name, variable, index))
        update = self.rule.evaluate(ops, operand)
        self.assign_sub(variable, lr * ops.broadcast_to(ops.cast(update, dtype), ops.shape(variable)))

    def _random_draw(self, name: str, variable: keras.Variable, index: int) -> Any:
        """Draws keyed by (seed, step, variable ``index``); the fused grid trainer passes the index within a copy."""
        return operand_draw(name, tuple(variable.shape), self.seed, self.iterations, index, variable.dtype)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "rule": str(self.rule),
                "beta_1": self.beta_1,
                "beta_2": self.beta_2,
                "beta_3": self.beta_3,
                "epsilon": self.epsilon,
                "decay_steps": self.decay_steps,
                "seed": self.seed,
            }
        )
        return config


RuleOptimizer.__doc__ = RuleOptimizer.__doc__.replace("{{base_optimizer_keyword_args}}", base_optimizer_keyword_args)
