"""The one compiled program: ``jax.jit`` of ``jax.vmap`` over copies of a ``lax.scan`` over a whole training.

A copy is a rule (its ``RuleCode`` row) and a learning rate. Every copy starts from the same weights and
sees the same batches in the same order (``start.TrainingStart``); the batch is not mapped over, so the
copies share it. Each epoch is a scan over its full batches, one step on the partial batch when the data
does not divide by the batch size (as ``model.fit`` does it, last), and a validation pass. The program
returns what the current evaluator's ``CopyMonitor`` reads, per copy: every step's training loss and
correct answers, and every epoch's validation score; ``replay.py`` turns them into statuses and curves.
Nothing is reduced across copies, so a NaN in one copy stays in it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import keras
from jax import lax

from keras_nos.dsl.semantics import DEFAULT_HYPERPARAMETERS
from keras_nos.tasks.batched.interpreter import AVERAGE_SLOTS, rule_step, step_draws
from keras_nos.tasks.batched.rule_code import RuleCode

VALIDATION_CHUNK = 500  # rows a validation forward pass takes at once, as scores.validation_outputs


def make_program(model: keras.Model, loss: Callable[[Any, Any], Any], value: Callable[[jax.Array], jax.Array],
                 classifies: bool, batch_size: int, decay_steps: float,
                 seed: int) -> Callable[..., dict[str, jax.Array]]:
    """The compiled ``run(code, learning_rates, trainable, non_trainable, order, x, y, x_val)``.

    ``model``: a built Keras model (JAX backend), called through ``stateless_call``; ``loss(y, y_pred)``: the
    training loss; ``value(outputs)``: the validation score (``validation.validation_value``); ``code``: a
    ``RuleCode``'s fields as a dict, mapped over with ``learning_rates``; ``order``: (epochs, examples).
    ``decay_steps`` and ``seed`` are the decay operands' T and the random operands' seed, as ``RuleOptimizer``
    takes them. Returns ``{"loss", "correct"}`` of shape (copies, epochs, steps) and ``"validation"`` (copies,
    epochs).
    """
    settings = {**DEFAULT_HYPERPARAMETERS, "decay_steps": decay_steps}

    def forward_loss(trainable, non_trainable, x, y):
        y_pred, non_trainable, losses = model.stateless_call(trainable, non_trainable, x, training=True,
                                                             return_losses=True)
        return loss(y, y_pred) + sum(losses, 0.0), (y_pred, non_trainable)

    gradient = jax.value_and_grad(forward_loss, has_aux=True)

    def correct_answers(y_pred, y):
        return jnp.sum(jnp.argmax(y_pred, -1) == y).astype(jnp.float32) if classifies else jnp.float32(0)

    def train_copy(code, learning_rate, trainable, non_trainable, order, x, y, x_val):
        code = RuleCode(**code)
        epochs, examples = order.shape
        full_steps, partial = divmod(examples, batch_size)
        steps = full_steps + (partial > 0)

        def step(carry, indices, t):
            trainable, non_trainable, slots, draws = carry
            (batch_loss, (y_pred, non_trainable)), grads = gradient(trainable, non_trainable, x[indices], y[indices])
            trainable, slots = rule_step(code, learning_rate, trainable, grads, slots, t, settings, draws)
            carry = (trainable, non_trainable, slots, step_draws(seed, t + 1, trainable))
            return carry, (batch_loss, correct_answers(y_pred, y[indices]))

        def validate(trainable, non_trainable):
            chunks = [model.stateless_call(trainable, non_trainable, x_val[i:i + VALIDATION_CHUNK], training=False)[0]
                      for i in range(0, len(x_val), VALIDATION_CHUNK)]
            return value(jnp.concatenate(chunks))

        def epoch(carry, inputs):
            epoch_order, epoch_index = inputs
            first_t = epoch_index * steps
            batches = epoch_order[:full_steps * batch_size].reshape(full_steps, batch_size)
            carry, (losses, correct) = lax.scan(lambda c, xs: step(c, *xs), carry,
                                                (batches, first_t + jnp.arange(full_steps)))
            if partial:
                carry, (last_loss, last_correct) = step(carry, epoch_order[full_steps * batch_size:],
                                                        first_t + full_steps)
                losses, correct = jnp.append(losses, last_loss), jnp.append(correct, last_correct)
            return carry, (losses, correct, validate(carry[0], carry[1]))

        slots = {slot: [jnp.zeros_like(w) for w in trainable] for slot in AVERAGE_SLOTS}
        start = (trainable, non_trainable, slots, step_draws(seed, 0, trainable))
        _, (losses, correct, validation) = lax.scan(epoch, start, (order, jnp.arange(epochs)))
        return {"loss": losses, "correct": correct, "validation": validation}

    return jax.jit(jax.vmap(train_copy, in_axes=(0, 0, None, None, None, None, None, None)))
