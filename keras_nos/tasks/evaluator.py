"""Turn a rule into a reward: train the task's child network with it.

The evaluator runs the cheap hurdles first, then hands the learning rates that
survive them to a learning-rate search (``lr_search.py``), which trains them on
a ``FusedTrainer`` (``fused_trainer.py``: the whole grid at once, in one model).
Objective tasks such as ``rosenbrock`` are minimised in NumPy instead. With
``reward_seeds`` the best rate is trained again with more seeds.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any, Literal, Optional, Union

from keras_nos.dsl import fingerprint as rule_fingerprint
from keras_nos.dsl.parser import parse_rule
from keras_nos.dsl.rule import Rule
from keras_nos.errors import KerasNosError
from keras_nos.tasks import result as statuses
from keras_nos.tasks.checks import check_network_task
from keras_nos.tasks.fused_trainer import FusedTrainer
from keras_nos.tasks.hurdles import DEFAULT_HURDLES, run_hurdles
from keras_nos.tasks.lr_search import DEFAULT_LEARNING_RATES, make_lr_search
from keras_nos.tasks.objectives import minimize_task
from keras_nos.tasks.registry import Task, get_task
from keras_nos.tasks.result import EvaluationResult


class Evaluator:
    """Evaluates rules on one task; loads the data once for all of them.

    Args:
        task: a registered task name or a ``Task``.
        learning_rates: the grid tried for each rule (default ``DEFAULT_LEARNING_RATES``: 1e-4 ... 1, five
            values, the search's).
        seed: seeds the data split, the initial weights and the rule's noise.
        data_path: where the task's data set is (for CIFAR-10 tasks).
        epochs: override the task's number of epochs.
        hurdles: names of cheap hurdles (``keras_nos.tasks.hurdles.HURDLES``); empty to skip.
        early_stop: stop a learning rate at once when it diverges or makes no progress.
        prune_learning_rates: with hurdles on and the grid, train only the learning rates that made
            progress on some hurdle (``hurdles.PROMISING_RATIO``); the others get status ``failed_hurdle``.
        no_progress_steps: steps after which training accuracy at chance level means no progress.
        lr_search: ``"grid"`` (every rate at once), ``"halving"`` (every rate for ``screen_epochs``, then the
            ``halving_keep`` best trained again from the start for all the epochs: a long training for the rates
            that can win at the price of a short one for the rest) or ``"optuna"`` (a TPE study with a median
            pruner); see ``lr_search.py``. Objective tasks such as ``rosenbrock`` always run the grid, which
            costs milliseconds.
        halving_keep: how many of the screened rates ``"halving"`` trains in full.
        screen_epochs: the epochs of ``"halving"``'s screen over the whole grid.
        optuna_trials: trials of the Optuna study.
        fuse_grid: train the grid's learning rates side by side in one model (one trace, one pass over the
            data). ``False`` trains each on its own, so a rate that diverges or stalls stops at once instead of
            riding along until the others finish: worth it where steps, not tracing, cost the time (CIFAR-size
            tasks on a CPU). The rewards are the same either way.
        reward_seeds: train the best learning rate with this many seeds (``seed``, ``seed + 1``, ...: other
            initial weights, batch order and noise, the same data split); the reward is the mean of their final
            validation accuracies, each in ``result.seed_rewards``, and 0 for a seed that diverges or stalls. One
            training's accuracy is noisy enough to reorder rules of nearly equal merit; each extra seed costs one
            training. Grid and halving only.
        curve_points: validate at about this many evenly spaced steps of each training, and at step 0, besides
            each epoch's end (None: at each epoch's end only): the dense curves the funnel's speed to a target
            reads (``result.curve_steps``). The reward does not change.
    """

    def __init__(self, task: Union[str, Task], learning_rates: Sequence[float] = DEFAULT_LEARNING_RATES, seed: int = 0,
                 data_path: Optional[Union[str, os.PathLike]] = None, epochs: Optional[int] = None,
                 hurdles: Optional[Sequence[str]] = DEFAULT_HURDLES, early_stop: bool = True,
                 no_progress_steps: Optional[int] = None, lr_search: Literal["grid", "halving", "optuna"] = "grid",
                 optuna_trials: int = 8, prune_learning_rates: bool = True, fuse_grid: bool = True,
                 halving_keep: int = 2, screen_epochs: int = 1, reward_seeds: int = 1,
                 curve_points: Optional[int] = None) -> None:
        self.task = get_task(task)
        self.lr_search = make_lr_search(lr_search, seed, halving_keep, screen_epochs, optuna_trials)
        if halving_keep < 1 or screen_epochs < 1 or reward_seeds < 1:
            raise KerasNosError(f"halving_keep, screen_epochs and reward_seeds must be at least 1, got {halving_keep}, "
                             f"{screen_epochs} and {reward_seeds}")
        if reward_seeds > 1 and not self.lr_search.trains_the_grid:
            raise KerasNosError(f"reward_seeds={reward_seeds} needs lr_search 'grid' or 'halving', not {lr_search!r}")
        self.learning_rates = tuple(float(lr) for lr in learning_rates)
        if not self.learning_rates or min(self.learning_rates) <= 0:
            raise KerasNosError(f"Learning rates must be positive numbers, got {learning_rates!r}")
        self.seed = seed
        self.epochs = epochs or self.task.epochs
        self.hurdles = tuple(hurdles or ())
        self.prune_learning_rates = prune_learning_rates
        self.reward_seeds = reward_seeds
        self.trainer = None  # objective tasks: a function to minimise, no data, no network
        self.curve_points = curve_points
        if self.task.objective is not None:
            self.steps_per_epoch = self.task.steps_per_epoch
            return
        splits = self.task.load_data(data_path, seed)
        check_network_task(self.task, splits)
        self.trainer = FusedTrainer(self.task, splits, self.task.make_score(),
                                    self.epochs, seed, no_progress_steps, early_stop, fuse_grid, curve_points)
        self.num_outputs = self.trainer.num_outputs
        self.steps_per_epoch = self.trainer.steps_per_epoch
        self.no_progress_steps = self.trainer.no_progress_steps

    def evaluate(self, rule: Union[str, Rule]) -> EvaluationResult:
        """An ``EvaluationResult``; a bad candidate is a status, never an exception."""
        started = time.perf_counter()
        text, fingerprint = str(rule), ""
        try:
            rule = parse_rule(rule)
            text, fingerprint = str(rule), rule_fingerprint(rule)
            hurdles = run_hurdles(rule, self.learning_rates, self.hurdles, seed=self.seed) if self.hurdles else None
            if hurdles and hurdles.failure:
                result = EvaluationResult(text, fingerprint, self.task.name, statuses.FAILED_HURDLE,
                                          message=hurdles.failure)
            elif self.task.objective is not None:
                result = minimize_task(rule, self.task, self.learning_rates, self.epochs, seed=self.seed,
                                       curve_points=self.curve_points)
            elif self.lr_search.trains_the_grid:
                result = self._train_promising(rule, hurdles)
            else:
                result = self.lr_search.search(rule, self.trainer, self.learning_rates)
        except Exception as error:  # a crashing candidate is a result, not a crashed search
            result = EvaluationResult(text, fingerprint, self.task.name, statuses.ERROR,
                                      message=f"{type(error).__name__}: {error}"[:2000])
        finally:
            if self.trainer is not None:
                self.trainer.clear_session()
        result.fingerprint = result.fingerprint or fingerprint
        result.wall_time = time.perf_counter() - started
        return result

    def _train_promising(self, rule, hurdles):
        """Search the grid, less the learning rates the hurdles showed to be hopeless (a copy costs tracing and
        compute whatever becomes of it; each copy trains as it would alone, so the others' rewards stay)."""
        keep = hurdles.promising if hurdles and self.prune_learning_rates else [True] * len(self.learning_rates)
        rates = [lr for lr, kept in zip(self.learning_rates, keep) if kept]
        result = self.lr_search.search(rule, self.trainer, rates)
        if result.status == statuses.OK and self.reward_seeds > 1:
            self._average_over_seeds(rule, result)
        result.lr_status = {f"{lr:g}": result.lr_status[f"{lr:g}"] if kept else statuses.FAILED_HURDLE
                            for lr, kept in zip(self.learning_rates, keep)}
        return result

    def _average_over_seeds(self, rule, result):
        """Train the best rate again with the next ``reward_seeds - 1`` seeds; the reward becomes the mean."""
        finals = [result.reward]
        for seed in range(self.seed + 1, self.seed + self.reward_seeds):
            final, steps = self.train_with_seed(rule, result.best_learning_rate, seed)
            finals.append(final)
            result.steps_trained += steps
        result.seed_rewards = finals
        result.reward = sum(finals) / len(finals)

    def train_with_seed(self, rule: Union[str, Rule], learning_rate: float, seed: int) -> tuple[float, int]:
        """(final validation score, steps) of one training at ``learning_rate`` whose initial weights, batch
        order and noise come from ``seed``, on this evaluator's data split; 0.0 if it diverges or stalls. What
        ``reward_seeds`` adds to a reward, one seed at a time."""
        self.trainer.clear_session()
        monitor = self.trainer.train(parse_rule(rule), [learning_rate], self.epochs, seed=seed)
        self.trainer.clear_session()
        curve = monitor.curves[0]
        return (curve[-1] if monitor.status[0] == statuses.OK and curve else 0.0), monitor.steps


def evaluate(rule: Union[str, Rule], task: Union[str, Task], **options: Any) -> EvaluationResult:
    """Evaluate one rule on one task; see ``Evaluator`` for the options."""
    return Evaluator(task, **options).evaluate(rule)
