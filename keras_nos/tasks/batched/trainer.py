"""Train many (rule, learning rate) copies of one task's child network in one compiled JAX program.

Needs Keras on its JAX backend (``KERAS_BACKEND=jax``, set before Keras is first imported): a model built
under one backend cannot run under another in the same process, and the rest of the library runs Keras
under whatever backend the user has, TensorFlow by default. A TensorFlow program that wants the batched
trainer runs it in a child process with that variable set (as ``benchmarks/evaluator_throughput.py`` does).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING

import keras
import numpy as np

from keras_nos.errors import KerasNosError
from keras_nos.tasks.batched.program import make_program
from keras_nos.tasks.batched.validation import validation_value
from keras_nos.tasks.fused_trainer import build_child

if TYPE_CHECKING:
    from keras_nos.tasks.batched.rule_code import RuleCode
    from keras_nos.tasks.batched.start import TrainingStart
    from keras_nos.tasks.datasets import Splits
    from keras_nos.tasks.registry import Task
    from keras_nos.tasks.scores import Score

DEFAULT_COPIES_PER_CALL = 256


def require_jax_backend() -> None:
    """A ``KerasNosError`` unless Keras runs on JAX in this process."""
    if keras.backend.backend() != "jax":
        raise KerasNosError(f"The batched trainer needs Keras on JAX: set KERAS_BACKEND=jax before Keras is "
                            f"imported (this process runs {keras.backend.backend()!r}), for example in a child "
                            f"process (as a search's workers do)")


@dataclasses.dataclass(frozen=True)
class TrainingLog:
    """What each copy did: ``loss`` and ``correct`` (copies, epochs, steps) per training step, ``validation``
    (copies, epochs) at each epoch's end, and ``batch_sizes`` (steps,), the examples of each step."""

    loss: np.ndarray
    correct: np.ndarray
    validation: np.ndarray
    batch_sizes: np.ndarray


COPIES_STEP = 32  # a call's copies are a multiple of this: few sizes to compile, little padding to train


def padded_size(count: int, limit: int) -> int:
    """Copies a call runs for ``count`` copies: a multiple of ``COPIES_STEP``, at most ``limit``."""
    return min(limit, -(-count // COPIES_STEP) * COPIES_STEP)


class BatchedTrainer:
    """Trains copies of ``task``'s child network on ``splits`` from ``start`` (a ``start.TrainingStart``).

    Args:
        task, splits, score: as ``FusedTrainer`` takes them; ``score`` one of the bundled scores.
        epochs: the length of a training; ``start.batch_order`` holds at least as many epochs.
        decay_steps: T of the decay operands; the current evaluator's is ``epochs * steps_per_epoch``.
        seed: the seed of the random operands ``noise`` and ``drop``.
        copies_per_call: the most copies one call of the program trains (memory grows with it).
    """

    def __init__(self, task: Task, splits: Splits, score: Score, epochs: int, start: TrainingStart,
                 decay_steps: float, seed: int = 0, copies_per_call: int = DEFAULT_COPIES_PER_CALL) -> None:
        require_jax_backend()
        self.start, self.epochs, self.copies_per_call = start, epochs, copies_per_call
        self.x, self.x_val = np.asarray(splits.x_train), np.asarray(splits.x_val)
        dtype = "float32" if score.loss == "mse" else None
        self.y, self.y_val = np.asarray(splits.y_train, dtype), np.asarray(splits.y_val, dtype)
        num_outputs = score.output_size(splits) if task.builds_from_shape else None
        model = build_child(task, self.x.shape[1:] if task.builds_from_shape else None, num_outputs)
        if not model.built:
            model(self.x[:2])
        self._check_start(model, task)
        self.run = make_program(model, score.keras_loss(), validation_value(score, self.y_val), score.classifies,
                                task.batch_size, float(decay_steps), seed)
        full, partial = divmod(len(self.x), task.batch_size)
        self.batch_sizes = np.array([task.batch_size] * full + ([partial] if partial else []))

    def _check_start(self, model: keras.Model, task: Task) -> None:
        shapes = [tuple(v.shape) for v in model.trainable_variables + model.non_trainable_variables]
        given = [np.shape(w) for w in self.start.trainable + self.start.non_trainable]
        if shapes != given or len(self.start.batch_order) < self.epochs:
            raise KerasNosError(f"Task {task.name!r}: the training start does not fit its child network or "
                                f"epochs (weights {given} for {shapes}, {len(self.start.batch_order)} epochs of batch "
                                f"order for {self.epochs})")

    def train(self, code: RuleCode, learning_rates: Sequence[float]) -> TrainingLog:
        """The ``TrainingLog`` of copies ``code.take(i)`` at ``learning_rates[i]``, in calls of at most
        ``copies_per_call`` copies, the last padded with copies of the first."""
        learning_rates = np.asarray(learning_rates, np.float32)
        parts = []
        for begin in range(0, len(learning_rates), self.copies_per_call):
            rows = np.arange(begin, min(begin + self.copies_per_call, len(learning_rates)))
            size = padded_size(len(rows), self.copies_per_call)
            padded = np.concatenate([rows, np.full(size - len(rows), rows[0])])
            out = self.run(dataclasses.asdict(code.take(padded)), learning_rates[padded], self.start.trainable,
                           self.start.non_trainable, self.start.batch_order[:self.epochs], self.x, self.y, self.x_val)
            parts.append({name: np.asarray(value)[:len(rows)] for name, value in out.items()})
        joined = {name: np.concatenate([part[name] for part in parts]) for name in ("loss", "correct", "validation")}
        return TrainingLog(**joined, batch_sizes=self.batch_sizes)
