"""A NumPy twin of RuleOptimizer's step, vectorised over a learning-rate grid.

Hurdles and the Rosenbrock task run a rule for a few hundred steps on a tiny
problem; in NumPy that costs milliseconds, where building a Keras optimizer
would cost a second. The rule itself is evaluated by the same primitives as the
optimizer (``Rule.evaluate`` with ``xp=numpy``), and its operands by the same
``keras_nos.dsl.semantics``; only the random draws come from NumPy's generator.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Optional, Union

import numpy as np

from keras_nos.dsl import semantics
from keras_nos.dsl.rule import Rule

# A problem to minimise: weights (K, D) -> (values (K,), gradients (K, D)).
ValueAndGrad = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def minimize(rule: Union[str, Rule], value_and_grad: ValueAndGrad, start: np.ndarray, learning_rates: Sequence[float],
             steps: int, seed: int = 0, decay_steps: Optional[int] = None) -> np.ndarray:
    """Run ``rule`` from ``start`` for each learning rate; returns (K, steps+1) losses.

    ``value_and_grad(w)`` takes weights of shape (K, D) and returns ((K,), (K, D)).
    """
    rng = np.random.default_rng(seed)
    lrs = np.asarray(learning_rates, dtype=np.float64)[:, None]
    w = np.repeat(np.asarray(start, dtype=np.float64)[None, :], len(lrs), axis=0)
    averages = {slot: np.zeros_like(w) for slot in rule.slots()}
    betas = {slot: semantics.DEFAULT_HYPERPARAMETERS[semantics.AVERAGES[slot].beta] for slot in averages}
    epsilon = semantics.DEFAULT_HYPERPARAMETERS["epsilon"]
    decay_steps = decay_steps or steps
    losses = np.empty((len(lrs), steps + 1))

    def draw(name: str) -> Any:
        return semantics.random_draw(name, lambda stddev: rng.normal(scale=stddev, size=w.shape),
                                     lambda: rng.uniform(size=w.shape))

    with np.errstate(all="ignore"):
        for t in range(steps):
            loss, g = value_and_grad(w)
            losses[:, t] = loss
            values = {"g": g, "w": w}
            for slot, average in averages.items():
                averages[slot] = semantics.updated_average(np, slot, average, g, betas[slot])
                values[slot] = semantics.bias_corrected(averages[slot], betas[slot], float(t))
            operand = semantics.step_operands(np, values, np.float64(t), epsilon, decay_steps, draw)
            w = w - lrs * rule.evaluate(np, operand)  # a constant rule broadcasts, as broadcast_to would
        losses[:, steps] = value_and_grad(w)[0]
    return losses


def quadratic(dimension: int = 10, seed: int = 0) -> tuple[ValueAndGrad, np.ndarray]:
    """An ill-conditioned quadratic 0.5*sum(a_i w_i^2), a_i from 1 to 100: (value_and_grad, start)."""
    curvature = np.logspace(0, 2, dimension)
    start = np.random.default_rng(seed).normal(size=dimension)

    def value_and_grad(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return 0.5 * np.sum(curvature * w**2, axis=1), curvature * w

    return value_and_grad, start


def rosenbrock(a: float = 1.0, b: float = 100.0) -> tuple[ValueAndGrad, np.ndarray]:
    """f(x, y) = (a - x)^2 + b (y - x^2)^2 from the classic start (-1.5, 2): (value_and_grad, start)."""

    def value_and_grad(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x, y = w[:, 0], w[:, 1]
        value = (a - x) ** 2 + b * (y - x**2) ** 2
        grad = np.stack([-2 * (a - x) - 4 * b * x * (y - x**2), 2 * b * (y - x**2)], axis=1)
        return value, grad

    return value_and_grad, np.array([-1.5, 2.0])
