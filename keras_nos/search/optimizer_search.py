"""``OptimizerSearch``: which update rule trains *your* model best, asked as KerasTuner asks for hyperparameters.

KerasTuner's four ideas are kept: a ``build_model`` function, an objective,
a search object, and ``.search(x, y, validation_data=...)`` that takes what
``model.fit`` takes. Everything else (the task, its registration, the MLflow
runs) is made here from them, and every input is checked before anything is
written to MLflow.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Optional, Union

import keras

from keras_nos.dsl.rule import Rule
from keras_nos.errors import KerasNosError
from keras_nos.search.leaderboard import REFERENCE
from keras_nos.search.loop import search as run_search
from keras_nos.tasks import fit_data
from keras_nos.tasks.datasets import Splits
from keras_nos.tasks.registry import Task
from keras_nos.tasks.scores import ModelScore, Objective
from keras_nos.tracking import default_tracking_uri, latest_search_run_id

if TYPE_CHECKING:
    from keras_nos.optimizers import RuleOptimizer


@dataclasses.dataclass(frozen=True, eq=False)
class InMemoryData:
    """A task's ``load_data`` over data the user handed over; it pickles with its arrays."""

    splits: Splits

    def __call__(self, data_path: Optional[Union[str, os.PathLike]], seed: int) -> Splits:
        return self.splits


class OptimizerSearch:
    """Search for the update rule that trains your own Keras model best.

    Args:
        build_model: a function of no arguments that returns a new, uncompiled ``keras.Model`` (Sequential,
            functional, subclassed, several inputs, batch norm, dropout: anything ``model.fit`` trains).
        loss: the Keras loss the model trains with (a name or a ``keras.losses.Loss``).
        objective: ``"val_loss"``, ``"val_<metric>"`` for a metric in ``metrics`` (its direction known, as in
            KerasTuner), a ``keras_nos.tasks.Objective(name, direction)``, or a callable
            ``(y_true, y_pred) -> float``, higher is better.
        metrics: Keras metrics compiled with each candidate's model.
        strategy, budget, space, seed: who proposes rules, how many are trained, from which space.
        warm_start: rules trained first, for the strategy to start from: ``"named"`` (the named optimizers
            the space can express, Adam among them) or a list of rule texts and names; None: none.
        learning_rates: the grid each rule is tried at (default: the search's five, 1e-4 ... 1).
        tracking_uri, experiment: the MLflow store and experiment (default: ``./mlruns``).
        funnel_top_k, funnel_seeds: the best rules and tuned Adam trained again with more seeds, on your task.
        funnel_suite: bundled compare tasks to run the winner on too (default ``"none"``: only your task).
        max_consecutive_errors: stop when this many candidates in a row fail with an error (0: never).
        resume: the parent run id of an earlier search of this model to continue; finished candidates are
            kept, never trained again.
        name: the task's name in MLflow.
        **search_options: any other setting of ``keras_nos.search`` (``hurdles``, ``workers``, ``batch_size``,
            ``strategy_options``, ...).
    """

    def __init__(self, build_model: Callable[[], keras.Model], *, loss: Union[str, keras.losses.Loss, Callable],
                 objective: Union[str, Objective, Callable[[Any, Any], float]] = "val_loss",
                 metrics: Optional[Sequence[Any]] = None, strategy: str = "rl", budget: int = 200,
                 space: str = "paper", learning_rates: Optional[Sequence[float]] = None, seed: int = 0,
                 tracking_uri: Optional[str] = None, experiment: str = "keras-nos", funnel_top_k: int = 3,
                 funnel_seeds: int = 3, funnel_suite: str = "none", max_consecutive_errors: int = 10,
                 resume: Optional[str] = None, name: str = "own-model", progress: bool = True,
                 warm_start: Optional[Union[str, Sequence[str]]] = None, **search_options: Any) -> None:
        if not callable(build_model):
            raise KerasNosError(f"build_model must be a function that returns a keras.Model, got {build_model!r}")
        if isinstance(loss, str):
            try:
                keras.losses.get(loss)
            except ValueError:
                raise KerasNosError(f"Unknown loss {loss!r}; pass a name keras.losses.get knows "
                                    f"('mse', 'sparse_categorical_crossentropy', ...) or a keras.losses.Loss") from None
        self.build_model, self.loss, self.metrics = build_model, loss, tuple(metrics or ())
        self.objective = ModelScore(loss, objective, self.metrics).objective  # checks the objective's name
        self.name, self.resume, self.progress = name, resume, progress
        self.tracking_uri = tracking_uri
        self.settings = dict(strategy=strategy, budget=budget, space=space, seed=seed, experiment=experiment,
                             funnel_top_k=funnel_top_k, funnel_seeds=funnel_seeds, funnel_suite=funnel_suite,
                             max_consecutive_errors=max_consecutive_errors, **search_options)
        if warm_start is not None:
            self.settings["warm_start"] = warm_start
        if learning_rates is not None:
            self.settings["learning_rates"] = tuple(learning_rates)
        self.task: Optional[Task] = None
        self.run_id: Optional[str] = None
        self._rows: Optional[list[dict[str, Any]]] = None

    def search(self, x: Any, y: Any = None, *, validation_data: Any, epochs: int = 3, batch_size: int = 32,
               steps_per_epoch: Optional[int] = None) -> list[dict[str, Any]]:
        """Train candidate rules on (``x``, ``y``) and rank them on ``validation_data``; returns the leaderboard.

        ``x`` is what ``model.fit`` takes: an array, a list or dict of arrays for a model of several inputs, or
        a batched ``tf.data.Dataset`` of (inputs, targets) with ``y`` None. ``validation_data`` is
        ``(x_val, y_val)`` or a dataset.
        """
        splits = _splits(x, y, validation_data)
        self.task = Task(self.name, load_data=InMemoryData(splits), build_model=self.build_model, epochs=epochs,
                         batch_size=batch_size, steps_per_epoch=steps_per_epoch, loss=self.loss,
                         metrics=self.metrics, score=self.objective, description="a user's own model")
        uri = self.tracking_uri or default_tracking_uri()
        self._rows = run_search(task=self.task, tracking_uri=uri, resume=self.resume, progress=self.progress,
                                **self.settings)
        self.run_id = self.resume or latest_search_run_id(uri, self.settings["experiment"])
        return self.leaderboard()

    def leaderboard(self) -> list[dict[str, Any]]:
        """The rows, best first; tuned Adam's row (from the funnel) has ``reference`` true."""
        if self._rows is None:
            raise KerasNosError("No search has run yet; call .search(x, y, validation_data=...) first")
        return [dict(row) for row in self._rows]

    def best_rule(self) -> Rule:
        """The best rule found (a ``keras_nos.Rule``), Adam's reference row left out."""
        from keras_nos.dsl import parse_rule

        return parse_rule(self._best_row()["rule"])

    def best_optimizer(self, **kwargs: Any) -> RuleOptimizer:
        """A ``keras_nos.RuleOptimizer`` of the best rule at its tuned learning rate; ``kwargs`` go to it
        (``decay_steps`` defaults to the search's training length, which decaying rules span)."""
        from keras_nos.optimizers import RuleOptimizer

        row = self._best_row()
        steps = (self.task.steps_per_epoch or fit_data.steps_per_epoch(self.task.load_data(None, 0).x_train,
                                                                      self.task.batch_size) or 1)
        options = dict(learning_rate=row["best_learning_rate"], decay_steps=steps * self.task.epochs, **kwargs)
        return RuleOptimizer(row["rule"], **options)

    def _best_row(self) -> dict[str, Any]:
        found = [row for row in self.leaderboard() if not row["reference"] and row["best_learning_rate"]]
        if not found:
            raise KerasNosError(f"No rule trained without failing in this search; see the leaderboard's statuses "
                                f"(the reference is {REFERENCE})")
        return found[0]


def _splits(x: Any, y: Any, validation_data: Any) -> Splits:
    """The ``Splits`` of the user's data, each part checked."""
    fit_data.check_pair(x, y, "training data")
    if fit_data.is_dataset(validation_data):
        x_val, y_val = validation_data, None
    elif isinstance(validation_data, (tuple, list)) and len(validation_data) == 2:
        x_val, y_val = validation_data
    else:
        raise KerasNosError(f"validation_data must be (x_val, y_val) or a tf.data.Dataset, got "
                            f"{type(validation_data).__name__}")
    fit_data.check_pair(x_val, y_val, "validation_data")
    return Splits(x, fit_data.as_array(y), x_val, fit_data.as_array(y_val))
