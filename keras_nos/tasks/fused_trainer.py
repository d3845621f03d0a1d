"""Train a rule at several learning rates at once: K copies of the child network in one Keras model.

Each copy's variables are updated with its own learning rate. One graph trace
and one pass over the data serve the whole grid, which on small proxies is
several times cheaper than K trainings. Every copy starts from the same
weights and sees the same batches, so copy k trains exactly as a one-copy
training at its learning rate would. A copy that diverges or stays at chance
is marked and ignored (it still trains: the grid is one graph); when every
copy is done for, training stops, without validation.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Optional, Protocol, Union

import keras
import numpy as np

from keras_nos.optimizers.rule_optimizer import RuleOptimizer
from keras_nos.tasks import fit_data
from keras_nos.tasks import result as statuses
from keras_nos.tasks.result import EvaluationResult
from keras_nos.tasks.scores import validation_scores

if TYPE_CHECKING:
    from keras_nos.dsl.rule import Rule
    from keras_nos.tasks.datasets import Splits
    from keras_nos.tasks.registry import Task
    from keras_nos.tasks.scores import ModelScore, Score


class GridRuleOptimizer(RuleOptimizer):
    """RuleOptimizer whose learning rate is set per model copy.

    ``copy_of_variable`` maps ``id(variable)`` to its copy's index: found by identity, not by the variable's
    path, so any model works (a functional model's variables are named ``dense_1/kernel``, whatever copy
    they are in).
    """

    def __init__(self, rule: Union[str, Rule], learning_rates: Sequence[float], copy_of_variable: Mapping[int, int],
                 **kwargs: Any) -> None:
        super().__init__(rule, learning_rate=1.0, **kwargs)
        self._grid = list(learning_rates)
        self._copy_of_variable = copy_of_variable

    def build(self, var_list: list[keras.Variable]) -> None:
        super().build(var_list)
        copies = [self._copy_of_variable[id(v)] for v in var_list]
        self._scales = [self._grid[k] for k in copies]
        # Position of each variable inside its own copy: the random streams of noise and drop() are keyed by
        # it, so copy k draws what a one-copy run at its learning rate draws, whichever copies exist beside it.
        seen: collections.Counter[int] = collections.Counter()
        self._index_in_copy = []
        for k in copies:
            self._index_in_copy.append(seen[k])
            seen[k] += 1

    def update_step(self, gradient: Any, variable: keras.Variable, learning_rate: Any) -> None:
        scale = self._scales[self._get_variable_index(variable)]
        super().update_step(gradient, variable, learning_rate * scale)

    def _random_draw(self, name, variable, index):
        return super()._random_draw(name, variable, self._index_in_copy[index])

    def _all_reduce_sum_gradients(self, grads_and_vars):
        """Skip the all-reduce on one replica (TensorFlow backend only; other backends never call this).

        Keras' TF optimizer sums gradients over replicas with ``ReplicaContext.all_reduce``,
        which in a traced train step wraps them in a ``tf.custom_gradient``. That registers a
        gradient function in TensorFlow's global gradient registry, never removed, whose closure
        holds the whole train graph: about 12 MiB per evaluation stayed alive, clear_session or
        not. With one replica the sum is the identity, so there is nothing to reduce.
        """
        import tensorflow as tf

        if tf.distribute.get_strategy().num_replicas_in_sync == 1:
            return list(grads_and_vars)
        return super()._all_reduce_sum_gradients(grads_and_vars)


class CopyMonitor(keras.callbacks.Callback):
    """Marks copies that diverge or make no progress, records validation curves, stops when all are done for.

    No progress: at ``no_progress_steps``, training accuracy at most 1.2 times chance (classification), or a
    running training loss no lower than the first step's (regression).
    """

    def __init__(self, copies: int, chance: Optional[float], no_progress_steps: Optional[int], early_stop: bool,
                 validate: Callable[[], Mapping[str, float]], validate_at: Iterable[int] = ()) -> None:
        super().__init__()
        self.validate = validate  # () -> {"lr0_score": ..., ...}: each copy's validation score
        # Steps to validate at besides each epoch's end (and then step 0 too): a dense curve, for speed to a target.
        self.validate_at = frozenset(validate_at)
        self.curve_steps: list[int] = []  # the step of each point of the curves
        self.last_validation: dict[str, float] = {}
        # Keras names a one-output model's logs "loss", "accuracy", not "lr0_loss" ...
        self.prefixes = [""] if copies == 1 else [f"lr{k}_" for k in range(copies)]
        self.status = [statuses.OK] * copies
        self.curves: list[list[float]] = [[] for _ in range(copies)]
        self.first_losses: list[Optional[float]] = [None] * copies
        self.chance = chance  # None for regression
        self.no_progress_steps = no_progress_steps
        self.early_stop = early_stop
        self.steps = 0

    def on_train_begin(self, logs: Optional[dict[str, Any]] = None) -> None:
        if self.validate_at:
            self._record()

    def on_train_batch_end(self, batch: int, logs: Optional[dict[str, Any]] = None) -> None:
        self.steps += 1
        if self.early_stop:
            self._judge(logs)
        if self.steps in self.validate_at and not (self.early_stop and statuses.OK not in self.status):
            self._record()

    def _judge(self, logs):
        for k, status in enumerate(self.status):
            if status != statuses.OK:
                continue
            loss = float(logs[f"{self.prefixes[k]}loss"])
            if self.first_losses[k] is None:
                self.first_losses[k] = loss
            if not math.isfinite(loss) or loss > 1e4:
                self.status[k] = statuses.DIVERGED
            elif self.steps == self.no_progress_steps and self._stalled(k, loss, logs):
                self.status[k] = statuses.NO_PROGRESS
        if all(s != statuses.OK for s in self.status):
            self.model.stop_training = True

    def _stalled(self, k, loss, logs):
        if self.chance is None:
            return not loss < self.first_losses[k]
        return float(logs[f"{self.prefixes[k]}accuracy"]) <= 1.2 * self.chance

    def on_epoch_end(self, epoch: int, logs: Optional[dict[str, Any]] = None) -> None:
        if self.early_stop and statuses.OK not in self.status:
            return  # every copy is done for: no validation, whose first call alone traces a test step
        if not self.curve_steps or self.curve_steps[-1] != self.steps:
            self._record()
        if logs is not None:
            logs.update(self.last_validation)  # for the callbacks after this one, as fit's own validation would

    def _record(self):
        """Validate every copy now and add the point to each curve."""
        sync = getattr(self.model, "jax_state_sync", None)  # Keras on JAX keeps the weights out of the model in fit
        if sync is not None:
            sync()
        validation = {f"val_{name}": value for name, value in self.validate().items()}
        self.last_validation = validation
        self.curve_steps.append(self.steps)
        for k, curve in enumerate(self.curves):
            value = float(validation.get(f"val_{self.prefixes[k]}score", float("nan")))
            curve.append(value)
            if not math.isfinite(value) and self.status[k] == statuses.OK:
                self.status[k] = statuses.DIVERGED


class Copies(keras.Model):
    """K copies of a child network side by side, each given the same inputs; outputs ``{"lr0": ..., ...}``.

    A subclassed model, so that the copies may take any inputs their own model takes: one array, a list or
    a dict of them.
    """

    def __init__(self, copies: Sequence[keras.Model], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.copies = copies

    def call(self, inputs: Any, training: Optional[bool] = None) -> dict[str, Any]:
        return {f"lr{k}": copy(inputs, training=training) for k, copy in enumerate(self.copies)}


def build_child(task: Task, input_shape: Optional[tuple[int, ...]], num_outputs: Optional[int]) -> keras.Model:
    """One new child network of ``task``: ``build_model()`` for a user's model, or, for a builder that takes
    them, ``build_model(input_shape, num_outputs)``."""
    if task.builds_from_shape:
        return task.build_model(input_shape, num_outputs)
    return task.build_model()


def _targets(y: Any, score: Union[Score, ModelScore]) -> Any:
    """Targets as given; float32 for the MSE of a regression score."""
    return np.asarray(y, dtype="float32") if y is not None and score.loss == "mse" else y


class TrainedCopies(Protocol):
    """What ``FusedTrainer.result`` reads of a training of copies (a ``CopyMonitor``): each copy's status and
    validation curve, the step of each curve point, and the steps trained."""

    status: list[str]
    curves: list[list[float]]
    curve_steps: list[int]
    steps: int


class FusedTrainer:
    """Trains rules at given learning rates on one task's train split and scores them on its validation split.

    Args:
        task: the network ``Task`` (its child network, batch size and steps per epoch).
        splits: the task's data (``datasets.Splits``): arrays, lists or dicts of arrays, or datasets, passed to
            ``model.fit`` as they are.
        score: the task's ``scores.Score`` or ``scores.ModelScore`` (loss, metrics and reward).
        epochs: the length of a full training; the decay schedules span it.
        seed: the initial weights, batch order and noise of a training unless it names its own.
        no_progress_steps, early_stop: see ``CopyMonitor``; ``no_progress_steps`` defaults to one epoch.
        fuse: train the rates of ``train_rates`` side by side in one model; ``False`` trains each alone.
        curve_points: validate at about this many evenly spaced steps of a training (and at step 0 and each
            epoch's end), not only at each epoch's end: curves dense enough for speed to a target. None: per epoch.
    """

    def __init__(self, task: Task, splits: Splits, score: Union[Score, ModelScore], epochs: int, seed: int = 0,
                 no_progress_steps: Optional[int] = None, early_stop: bool = True, fuse: bool = True,
                 curve_points: Optional[int] = None) -> None:
        self.task, self.score, self.epochs, self.seed = task, score, epochs, seed
        self.x_train, self.y_train = splits.x_train, _targets(splits.y_train, score)
        self.x_val, self.y_val = splits.x_val, _targets(splits.y_val, score)
        self.num_outputs = score.output_size(splits) if task.builds_from_shape else None
        self.steps_per_epoch = task.steps_per_epoch or fit_data.steps_per_epoch(self.x_train, task.batch_size)
        # A user's model is judged by its objective only: the running training loss of one epoch on small data
        # is too noisy a sign of no progress (Adam at 0.01 was marked stalled on a 200-example task).
        self.no_progress_steps = no_progress_steps or (self.steps_per_epoch if score.judges_progress else None)
        self.early_stop, self.fuse, self.curve_points = early_stop, fuse, curve_points
        self.baseline: Optional[float] = None  # the untrained network's validation value, for a score that needs it
        self._keras_state = False  # whether a model was built since the last clear_session

    def clear_session(self) -> None:
        """Drop the Keras state of the last model; a no-op when none was built (a hurdle failure costs ms).

        No forced ``gc.collect()`` (``free_memory=False``): with TensorFlow loaded a full collection
        costs 0.25 s, a quarter of a stopped candidate's evaluation, and Python's own collector frees
        the models' reference cycles anyway (benchmarks/evaluator_memory.py: RSS flat over 300 rules).
        """
        if self._keras_state:
            self._keras_state = False
            keras.backend.clear_session(free_memory=False)

    def train_rates(self, rule: Union[str, Rule], rates: Sequence[float], epochs: int) -> EvaluationResult:
        """An ``EvaluationResult`` of ``rates`` trained for ``epochs``, side by side or one by one (``fuse``)."""
        if self.fuse:
            return self.result(rule, [(rates, self.train(rule, rates, epochs))])
        parts: list[tuple[Sequence[float], TrainedCopies]] = []
        for lr in rates:
            parts.append(([lr], self.train(rule, [lr], epochs)))
            self.clear_session()
        return self.result(rule, parts)

    def train(self, rule: Union[str, Rule], learning_rates: Sequence[float], epochs: Optional[int] = None,
              callbacks: Sequence[keras.callbacks.Callback] = (), seed: Optional[int] = None) -> CopyMonitor:
        """One model of a copy per learning rate, fitted; the ``CopyMonitor`` holds each copy's curve and status."""
        seed = self.seed if seed is None else seed
        model = self._build(rule, learning_rates, seed)
        outputs = [f"lr{k}" for k in range(len(learning_rates))]
        if self.score.needs_baseline and self.baseline is None:
            self.baseline = self._validation_values(model)["lr0"]  # every copy starts from these weights

        def validate():
            values = self._validation_values(model)
            return {f"{prefix}score": self.score.reward(values[f"lr{k}"], self.baseline)
                    for k, prefix in enumerate(monitor.prefixes)}

        chance = 1.0 / self.num_outputs if self.score.classifies else None
        monitor = CopyMonitor(len(learning_rates), chance, self.no_progress_steps, self.early_stop, validate,
                              self._validation_steps(epochs or self.epochs))
        keras.utils.set_random_seed(seed)  # the batch order does not depend on how many copies were built
        x, y = fit_data.for_copies(self.x_train, self.y_train, outputs)
        arrays = y is not None  # a dataset brings its own batches and order
        model.fit(x, y, epochs=epochs or self.epochs, batch_size=self.task.batch_size if arrays else None,
                  shuffle=arrays, steps_per_epoch=self.task.steps_per_epoch, verbose=0, callbacks=[monitor, *callbacks])
        return monitor

    def _validation_steps(self, epochs: int) -> Iterable[int]:
        """The steps of a training of ``epochs`` at which ``curve_points`` asks for a validation."""
        if not self.curve_points or not self.steps_per_epoch:
            return ()
        total = epochs * self.steps_per_epoch
        return {max(1, round(total * i / self.curve_points)) for i in range(1, self.curve_points + 1)}

    def _validation_values(self, model: keras.Model) -> dict[str, float]:
        """Each copy's validation value (NaN where its outputs are not finite)."""
        return validation_scores(model, self.x_val, self.y_val, self.score)

    def _build(self, rule: Union[str, Rule], learning_rates: Sequence[float], seed: int) -> keras.Model:
        """The compiled model of copies ``lr0``, ``lr1``, ..., its ``GridRuleOptimizer``'s slots built."""
        self._keras_state = True
        x_few, y_few = fit_data.head(self.x_train, self.y_train)
        input_shape = self.x_train.shape[1:] if self.task.builds_from_shape else None
        copies = []
        for _ in learning_rates:
            # Every copy starts from the same weights, as K separate runs with one seed would: copy k at
            # learning rate X trains exactly as a one-copy evaluation at X does. A model that makes its
            # weights when first called (a subclassed one) is called here, under the same seed.
            keras.utils.set_random_seed(seed)
            copy = build_child(self.task, input_shape, self.num_outputs)
            if not copy.built:
                copy(x_few)
            copies.append(copy)
        model = Copies(copies)
        outputs = [f"lr{k}" for k in range(len(learning_rates))]
        copy_of_variable = {id(v): k for k, copy in enumerate(copies) for v in copy.trainable_variables}
        optimizer = GridRuleOptimizer(rule, learning_rates, copy_of_variable,
                                      decay_steps=self.epochs * (self.steps_per_epoch or 1), seed=seed)
        loss = self.score.keras_loss()
        model.compile(optimizer, loss={k: loss for k in outputs}, metrics={k: self.score.metrics() for k in outputs},
                      jit_compile=False)
        # Create the optimizer slots and the loss and metric trackers now, eagerly on two examples (fit resets
        # the trackers). Keras' TF trainer would create them inside the first trace of the train step, and a
        # tf.function that creates variables is traced twice: that second trace was half of an evaluation's
        # cost on small tasks (digits-mlp: 2.3 of 3.2 CPU s were tracing, 0.1 s the 136 steps).
        y_few = {k: y_few for k in outputs}
        y_pred = model(x_few)
        optimizer.build(model.trainable_variables)
        model.compute_loss(x_few, y_few, y_pred)
        model.compute_metrics(x_few, y_few, y_pred)
        return model

    def result(self, rule: Union[str, Rule],
               parts: Sequence[tuple[Sequence[float], TrainedCopies]]) -> EvaluationResult:
        """The result of trainings ``[(learning_rates, monitor), ...]``: the best final validation score of
        the rates that stayed ok, each rate's curve and status, and the steps trained in all."""
        learning_rates = [lr for rates, _ in parts for lr in rates]
        all_curves = [curve for _, monitor in parts for curve in monitor.curves]
        all_status = [status for _, monitor in parts for status in monitor.status]
        curves = {f"{lr:g}": curve for lr, curve in zip(learning_rates, all_curves)}
        curve_steps = {f"{lr:g}": list(monitor.curve_steps) for rates, monitor in parts for lr in rates}
        lr_status = {f"{lr:g}": status for lr, status in zip(learning_rates, all_status)}
        finals = [(curve[-1] if curve else 0.0, lr) for lr, curve, status in
                  zip(learning_rates, all_curves, all_status) if status == statuses.OK]
        result = EvaluationResult(str(rule), "", self.task.name, statuses.OK, curves=curves, lr_status=lr_status,
                                  steps_trained=sum(monitor.steps for _, monitor in parts), curve_steps=curve_steps)
        if finals:
            result.reward, result.best_learning_rate = max(finals)
        else:
            result.status = statuses.DIVERGED if statuses.DIVERGED in all_status else statuses.NO_PROGRESS
        return result
