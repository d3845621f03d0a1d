"""How a rule's learning rate is chosen: interchangeable searches, each ``search(rule, trainer, learning_rates)``.

``make_lr_search`` picks one by the name ``Evaluator(lr_search=...)`` takes.
The log grid and the TPE study are shared with ``keras-nos compare``'s tuner,
so both spread and sample learning rates the same way.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Optional, Protocol, Union

import keras
import numpy as np

from keras_nos.errors import KerasNosError
from keras_nos.tasks import result as statuses
from keras_nos.tasks.result import EvaluationResult

if TYPE_CHECKING:
    import optuna

    from keras_nos.dsl.rule import Rule
    from keras_nos.tasks.fused_trainer import FusedTrainer

LR_SEARCHES = ("grid", "halving", "optuna")


def learning_rate_grid(low: float = 1e-5, high: float = 10.0, count: int = 7) -> tuple[float, ...]:
    """``count`` learning rates evenly spaced on a log scale from ``low`` to ``high``."""
    if not 0 < low <= high or count < 1:
        raise KerasNosError(f"A learning-rate grid needs 0 < low <= high and count >= 1, got {low}, {high}, {count}")
    return tuple(float(x) for x in np.geomspace(low, high, count))


# The one default grid: what `keras-nos search` tries for every candidate, what `keras-nos evaluate` and the
# funnel score a rule on, and what rl screens its proposals with, so a rule is scored alike everywhere.
DEFAULT_LEARNING_RATES = learning_rate_grid(1e-4, 1.0, 5)


def tpe_study(objective: Callable[[float, optuna.trial.Trial], Union[float, optuna.trial.TrialState]], trials: int,
              low: float, high: float, seed: int = 0, direction: str = "maximize",
              pruner: Optional[optuna.pruners.BasePruner] = None) -> None:
    """Run a TPE study of ``trials`` trials over the log learning rate in [``low``, ``high``].

    ``objective(learning_rate, trial)`` returns the value to tell, or a ``TrialState`` (``PRUNED``, ``FAIL``)
    for a trial without one. ``pruner`` is Optuna's default when not given.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction=direction, sampler=optuna.samplers.TPESampler(seed=seed), pruner=pruner)
    for _ in range(trials):
        trial = study.ask()
        outcome = objective(trial.suggest_float("learning_rate", low, high, log=True), trial)
        if isinstance(outcome, optuna.trial.TrialState):
            study.tell(trial, state=outcome)
        else:
            study.tell(trial, outcome)


class LearningRateSearch(Protocol):
    """What ``Evaluator`` calls: ``search`` trains ``rule`` with ``trainer`` and returns its result;
    ``trains_the_grid`` says whether it trains the rates it is given (so the hurdles may prune them first)."""

    trains_the_grid: bool

    def search(self, rule: Union[str, Rule], trainer: FusedTrainer,
               learning_rates: Sequence[float]) -> EvaluationResult: ...


class GridSearch:
    """Every learning rate for all the epochs; fused, one trace and one pass over the data for the grid."""

    trains_the_grid = True  # the hurdles may rule out some of its rates beforehand

    def search(self, rule: Union[str, Rule], trainer: FusedTrainer,
               learning_rates: Sequence[float]) -> EvaluationResult:
        """Every rate of ``learning_rates``, trained side by side for the trainer's epochs."""
        return trainer.train_rates(rule, learning_rates, trainer.epochs)


class HalvingSearch:
    """Screen every rate for ``screen_epochs``, then train the ``keep`` best again from the start for all the
    epochs: a long training for the rates that can win at the price of a short one for the rest. The others
    keep their screen curves and get status ``pruned``; a kept rate scores exactly what the grid gives it."""

    trains_the_grid = True

    def __init__(self, keep: int = 2, screen_epochs: int = 1) -> None:
        self.keep, self.screen_epochs = keep, screen_epochs

    def search(self, rule: Union[str, Rule], trainer: FusedTrainer,
               learning_rates: Sequence[float]) -> EvaluationResult:
        """Screen ``learning_rates``, then train the ``keep`` best for the trainer's epochs."""
        if len(learning_rates) <= self.keep or self.screen_epochs >= trainer.epochs:
            return GridSearch().search(rule, trainer, learning_rates)
        screen = trainer.train_rates(rule, learning_rates, self.screen_epochs)
        trainer.clear_session()
        alive = [lr for lr in learning_rates if screen.lr_status[f"{lr:g}"] == statuses.OK]
        if not alive:
            return screen
        ranked = sorted(alive, key=lambda lr: screen.curves[f"{lr:g}"][-1], reverse=True)
        result = trainer.train_rates(rule, sorted(ranked[:self.keep]), trainer.epochs)
        result.curves = {**screen.curves, **result.curves}
        result.curve_steps = {**screen.curve_steps, **result.curve_steps}
        result.lr_status = {**{f"{lr:g}": screen.lr_status[f"{lr:g}"] if lr not in alive else statuses.PRUNED
                               for lr in learning_rates}, **result.lr_status}
        result.steps_trained += screen.steps_trained
        return result


class OptunaSearch:
    """A TPE study of ``trials`` trainings over the log learning rate between the grid's ends, whose median
    pruner stops a bad rate after an epoch."""

    trains_the_grid = False  # it samples its own rates from the grid's range

    def __init__(self, trials: int = 8, seed: int = 0) -> None:
        self.trials, self.seed = trials, seed

    def search(self, rule: Union[str, Rule], trainer: FusedTrainer,
               learning_rates: Sequence[float]) -> EvaluationResult:
        """The study's trainings merged in one result: every rate's curve and status, the best one's reward."""
        import optuna

        merged = EvaluationResult(str(rule), "", trainer.task.name, statuses.NO_PROGRESS)

        def train(lr: float, trial: optuna.trial.Trial) -> Union[float, optuna.trial.TrialState]:
            pruning = PruningCallback(trial)
            single = trainer.result(rule, [([lr], trainer.train(rule, [lr], callbacks=[pruning]))])
            trainer.clear_session()
            merged.curves.update(single.curves)
            merged.curve_steps.update(single.curve_steps)
            merged.lr_status.update({k: statuses.PRUNED if pruning.pruned else v for k, v in single.lr_status.items()})
            merged.steps_trained += single.steps_trained
            if single.status == statuses.OK and not pruning.pruned:
                if single.reward > merged.reward or merged.status != statuses.OK:
                    merged.reward, merged.best_learning_rate, merged.status = single.reward, lr, statuses.OK
                return single.reward
            if merged.status != statuses.OK and single.status == statuses.DIVERGED:
                merged.status = statuses.DIVERGED
            return optuna.trial.TrialState.PRUNED

        tpe_study(train, self.trials, min(learning_rates), max(learning_rates), seed=self.seed,
                  pruner=optuna.pruners.MedianPruner(n_startup_trials=2))
        return merged


class PruningCallback(keras.callbacks.Callback):
    """Reports each epoch's validation score to an Optuna trial; stops training when its pruner says so.

    Stops rather than raising ``TrialPruned`` out of ``fit`` (as optuna-integration's
    ``KerasPruningCallback`` does): the pruned rate's curve and steps stay in the result.
    """

    def __init__(self, trial: optuna.trial.Trial) -> None:
        super().__init__()
        self.trial = trial
        self.pruned = False

    def on_epoch_end(self, epoch: int, logs: Optional[dict[str, Any]] = None) -> None:
        value = float(logs.get("val_score", 0.0))  # one copy: no "lr0_" prefix
        self.trial.report(value if math.isfinite(value) else 0.0, epoch)
        if self.trial.should_prune():
            self.pruned = True
            self.model.stop_training = True


def make_lr_search(name: str, seed: int = 0, halving_keep: int = 2, screen_epochs: int = 1,
                   optuna_trials: int = 8) -> LearningRateSearch:
    """The search named ``name`` (one of ``LR_SEARCHES``); each takes only the options that are its own."""
    if name == "grid":
        return GridSearch()
    if name == "halving":
        return HalvingSearch(halving_keep, screen_epochs)
    if name == "optuna":
        return OptunaSearch(optuna_trials, seed)
    raise KerasNosError(f"Unknown lr_search {name!r}; allowed: {', '.join(LR_SEARCHES)}")
