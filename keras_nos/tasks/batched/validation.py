"""The bundled scores (``keras_nos.tasks.scores.SCORES``) of validation outputs, in JAX, inside the program.

The same formulas as ``scores.py`` computes in NumPy after training, here in float32 so that a copy's
per-epoch validation never leaves the compiled program; NaN where a copy's outputs are not all finite, as
``scores.validation_scores`` gives. A user's ``ModelScore`` has no JAX form here: such a task is left to the
current evaluator.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from keras_nos.errors import KerasNosError


def _accuracy(targets):
    labels = jnp.asarray(targets)
    return lambda logits: jnp.mean(jnp.argmax(logits, axis=-1) == labels)


def _log_loss(targets):
    labels = jnp.asarray(targets)

    def value(logits):
        log_normaliser = jnp.log(jnp.sum(jnp.exp(logits - logits.max(-1, keepdims=True)), -1)) + logits.max(-1)
        cross_entropy = jnp.mean(log_normaliser - jnp.take_along_axis(logits, labels[:, None], -1)[:, 0])
        return jnp.maximum(0.0, 1.0 - cross_entropy / np.log(logits.shape[-1]))
    return value


def _r2(targets):
    targets = np.asarray(targets, np.float64)
    variance = float(np.mean((targets - targets.mean(axis=0)) ** 2))
    targets = jnp.asarray(targets, jnp.float32)

    def value(predictions):
        error = jnp.mean((predictions.reshape(targets.shape) - targets) ** 2)
        return jnp.maximum(0.0, 1.0 - error / variance)
    return value


_VALUES = {"accuracy": _accuracy, "log_loss": _log_loss, "r2": _r2}


def has_jax_form(score: Any) -> bool:
    """Whether ``score`` is one of the bundled scores this module computes."""
    return getattr(score, "name", None) in _VALUES and not getattr(score, "needs_baseline", False)


def validation_value(score: Any, targets: np.ndarray) -> Callable[[jax.Array], jax.Array]:
    """``outputs -> score`` on fixed validation ``targets``: a float32 scalar, NaN for non-finite outputs."""
    if not has_jax_form(score):
        raise KerasNosError(f"The batched trainer computes the scores {', '.join(_VALUES)}; this task's score is "
                            f"{getattr(score, 'name', score)!r}: use the current evaluator for it")
    value = _VALUES[score.name](targets)
    return lambda outputs: jnp.where(jnp.all(jnp.isfinite(outputs)), value(outputs), jnp.nan)
