"""Run a comparison: the same learning-rate tuning budget for every optimizer, then seeds at its best rate.

``Budget`` is the one place that decides how many learning rates each
optimizer tries on each task (and where); ``compare`` makes one for the whole
comparison and there is no way to give one optimizer more trials than another.
Tuning trains with seed 0 and chooses on the validation metric; the reported
numbers come from seeds 1..S at the chosen rate, measured on the test split.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Optional, Union

import numpy as np

from keras_nos.compare import report
from keras_nos.compare.plots import plot_loss_curves
from keras_nos.compare.suite import CompareTask, Training, resolve_tasks
from keras_nos.errors import KerasNosError
from keras_nos.tracking import CompareTracker, check_reachable, default_tracking_uri
from keras_nos.tasks.lr_search import learning_rate_grid, tpe_study

if TYPE_CHECKING:
    from keras_nos.tasks.registry import Task

# Called after each training: (stage "tune" or "seed", learning rate, seed, the training).
OnTraining = Callable[[str, float, int, Training], None]

TUNERS = ("grid", "optuna")
DEFAULT_BASELINES = ("adam", "sgd", "momentum", "rmsprop", "lion")


@dataclasses.dataclass(frozen=True)
class Budget:
    """Learning-rate trials per optimizer and task (a log grid over [low, high], or an Optuna study of as
    many trials), and the seeds run at the chosen rate. Every optimizer of a comparison gets this budget."""

    trials: int = 5
    seeds: int = 3
    tuner: Literal["grid", "optuna"] = "grid"
    low: float = 1e-4
    high: float = 1.0

    def __post_init__(self) -> None:
        for name in ("trials", "seeds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise KerasNosError(f"{name} must be one whole number >= 1 for every optimizer, got {value!r}")
        if self.tuner not in TUNERS:
            raise KerasNosError(f"Unknown tuner {self.tuner!r}; allowed: {', '.join(TUNERS)}")
        if not 0 < self.low <= self.high:
            raise KerasNosError(f"The learning-rate range needs 0 < low <= high, got {self.low}, {self.high}")

    def grid(self) -> tuple[float, ...]:
        """The grid tuner's learning rates, evenly spaced on a log scale (the evaluator's grid)."""
        return learning_rate_grid(self.low, self.high, self.trials)


@dataclasses.dataclass
class Outcome:
    """One optimizer on one task: its tuning trials, the chosen rate and the seed trainings."""

    task: CompareTask
    optimizer: str
    trials: list[tuple[float, Training]] = dataclasses.field(default_factory=list)  # on the validation split
    best_learning_rate: Optional[float] = None
    seeds: list[Training] = dataclasses.field(default_factory=list)  # on the test split

    @property
    def metrics(self) -> np.ndarray:
        return np.array([t.metric for t in self.seeds], dtype=float)

    @property
    def mean(self) -> float:
        values = self.metrics
        return float(np.mean(values)) if len(values) and np.all(np.isfinite(values)) else float("nan")

    @property
    def std(self) -> float:
        values = self.metrics
        return float(np.std(values)) if len(values) and np.all(np.isfinite(values)) else float("nan")

    def mean_curve(self) -> tuple[np.ndarray, np.ndarray]:
        """(steps, mean training loss over seeds); NaN where a seed diverged or stopped early."""
        length = max((len(t.steps) for t in self.seeds), default=0)
        steps = next((t.steps for t in self.seeds if len(t.steps) == length), ())
        losses = np.full((len(self.seeds), length), np.nan)
        for row, training in zip(losses, self.seeds):
            row[:len(training.losses)] = training.losses
        return np.array(steps, dtype=float), np.mean(losses, axis=0) if len(self.seeds) else np.array([])


@dataclasses.dataclass
class Comparison:
    """Every outcome of a comparison, by (task name, optimizer)."""

    tasks: list[CompareTask]
    optimizers: list[str]
    budget: Budget
    outcomes: dict[tuple[str, str], Outcome]
    run_id: Optional[str] = None
    wall_time: float = 0.0

    def outcome(self, task: Union[str, CompareTask], optimizer: str) -> Outcome:
        return self.outcomes[(getattr(task, "name", task), optimizer)]


def resolve_optimizers(optimizers: Iterable[str], baselines: Iterable[str] = DEFAULT_BASELINES) -> list[str]:
    """Specs in order, baselines after, without repeats; every spec is built once so a bad one fails now."""
    from keras_nos.optimizers import make_optimizer

    specs = []
    for spec in list(optimizers) + list(baselines):
        spec = spec.strip()
        if spec and spec not in specs:
            make_optimizer(spec, learning_rate=1e-3, decay_steps=100)
            specs.append(spec)
    if not specs:
        raise KerasNosError("No optimizers to compare")
    return specs


def make_budget(lr_grid: int = 5, seeds: int = 3, tuner: Literal["grid", "optuna"] = "grid",
                lr_range: tuple[float, float] = (1e-4, 1.0)) -> Budget:
    """The budget of a comparison; one number of trials for all optimizers (a mapping is refused)."""
    if isinstance(lr_grid, Mapping) or isinstance(seeds, Mapping):
        raise KerasNosError("Every optimizer gets the same tuning budget: lr_grid and seeds are single numbers")
    low, high = lr_range
    return Budget(trials=lr_grid, seeds=seeds, tuner=tuner, low=float(low), high=float(high))


def tune(task: CompareTask, data: Any, spec: str, budget: Budget, scale: float = 1.0,
         on_training: Optional[OnTraining] = None) -> tuple[list[tuple[float, Training]], float]:
    """``budget.trials`` trainings of ``spec`` on ``task`` at different rates; [(lr, Training)] and the best rate."""
    evaluate = _trainer(task, data, spec, scale)
    trials = []

    def trial(lr: float) -> Training:
        training = evaluate(lr, seed=0, split="val")
        trials.append((lr, training))
        if on_training:
            on_training("tune", lr, 0, training)
        return training

    if budget.tuner == "grid":
        for lr in budget.grid():
            trial(lr)
    else:
        _optuna(budget, trial, task.higher_is_better)
    if len(trials) != budget.trials:  # the fairness promise, checked where it is kept
        raise RuntimeError(f"{spec} got {len(trials)} learning-rate trials on {task.name}, not {budget.trials}")
    best = max(trials, key=lambda t: (report.score(t[1].metric, task.higher_is_better), -t[0]))
    return trials, best[0]


def _optuna(budget: Budget, trial: Callable[[float], Training], higher_is_better: bool) -> None:
    """The evaluator's TPE study (seed 0) over the budget's range; a non-finite metric is a failed trial."""
    from optuna.trial import TrialState

    def objective(lr: float, _: Any) -> Any:
        metric = trial(lr).metric
        return metric if math.isfinite(metric) else TrialState.FAIL

    direction = "maximize" if higher_is_better else "minimize"
    tpe_study(objective, budget.trials, budget.low, budget.high, direction=direction)


def _trainer(task: CompareTask, data: Any, spec: str, scale: float) -> Callable[..., Training]:
    import keras

    from keras_nos.optimizers import make_optimizer

    decay_steps = task.total_steps(data, scale)

    def evaluate(lr: float, seed: int, split: str) -> Training:
        keras.backend.clear_session()
        try:
            optimizer = make_optimizer(spec, learning_rate=lr, decay_steps=decay_steps)
            return task.run(data, optimizer, seed, scale=scale, split=split)
        except Exception as error:  # a rule that crashes on a task fails that task, like a diverged one
            return Training((), (), float("nan"), error=f"{type(error).__name__}: {error}"[:2000])

    return evaluate


def run_seeds(task: CompareTask, data: Any, spec: str, lr: float, seeds: int, scale: float = 1.0,
              on_training: Optional[OnTraining] = None) -> list[Training]:
    """Trainings from seeds 1..``seeds`` at ``lr``, measured on the test split."""
    evaluate = _trainer(task, data, spec, scale)
    trainings = []
    for seed in range(1, seeds + 1):
        trainings.append(evaluate(lr, seed=seed, split="test"))
        if on_training:
            on_training("seed", lr, seed, trainings[-1])
    return trainings


def compare(optimizers: Iterable[str], baselines: Iterable[str] = DEFAULT_BASELINES,
            tasks: Union[str, Sequence[Union[str, CompareTask, Task]], None] = "all", seeds: int = 3, lr_grid: int = 5,
            tuner: Literal["grid", "optuna"] = "grid", lr_range: tuple[float, float] = (1e-4, 1.0),
            scale: float = 1.0, tracking_uri: Optional[str] = None, experiment: str = "keras-nos",
            progress: bool = True, parent_run_id: Optional[str] = None, run_name: Optional[str] = None) -> Comparison:
    """Compare ``optimizers`` (specs: names or rule text) and ``baselines`` on the suite; a ``Comparison``.

    Every optimizer gets ``lr_grid`` learning-rate trials per task (``tuner``
    ``"grid"``: a log grid over ``lr_range``; ``"optuna"``: a TPE study of as
    many trials), then ``seeds`` seeds at its best rate. ``scale`` shrinks
    every task's training (tests). Everything is logged to MLflow under one
    parent run (nested under ``parent_run_id`` when given), with the tables
    and the loss-curve plot as artifacts. Arguments are all checked first.
    """
    budget = make_budget(lr_grid, seeds, tuner, lr_range)
    task_list = resolve_tasks(tasks)
    specs = resolve_optimizers(optimizers, baselines)
    if not scale > 0:
        raise KerasNosError(f"scale must be a positive number, got {scale!r}")
    uri = tracking_uri or default_tracking_uri()
    check_reachable(uri)
    params = {"optimizers": ",".join(specs), "tasks": ",".join(t.name for t in task_list), "lr_trials": budget.trials,
              "seeds": budget.seeds, "tuner": budget.tuner, "lr_low": budget.low, "lr_high": budget.high,
              "scale": scale}
    tracker = CompareTracker(uri, experiment, params=params, run_name=run_name or "compare",
                             parent_run_id=parent_run_id)
    started = time.perf_counter()
    outcomes = {}
    bar = _progress_bar(len(task_list) * len(specs) * (budget.trials + budget.seeds), progress)
    try:
        for task in task_list:
            data = task.load_data(0)  # once per task; seeds change the weights and the batches
            for spec in specs:
                bar.set_postfix(task=task.name, optimizer=spec[:24], refresh=False)

                def log(stage: str, lr: float, seed: int, training: Training, task: CompareTask = task,
                        spec: str = spec) -> None:
                    tracker.log_training(stage, task, spec, lr, seed, training)
                    bar.update(1)

                outcome = Outcome(task, spec)
                outcome.trials, outcome.best_learning_rate = tune(task, data, spec, budget, scale, log)
                outcome.seeds = run_seeds(task, data, spec, outcome.best_learning_rate, budget.seeds, scale, log)
                outcomes[(task.name, spec)] = outcome
    except BaseException:
        bar.close()
        tracker.fail()
        raise
    bar.close()
    comparison = Comparison(task_list, specs, budget, outcomes, tracker.run_id, time.perf_counter() - started)
    _log_results(tracker, comparison)
    return comparison


def _log_results(tracker: CompareTracker, comparison: Comparison) -> None:
    """Tables (markdown) and the loss curves (PNG) as artifacts; mean ranks and speedups as metrics."""
    summary = report.summary_rows(comparison)
    with tempfile.TemporaryDirectory() as folder:
        table = os.path.join(folder, "comparison.md")
        with open(table, "w") as handle:
            handle.write(report.to_markdown(comparison))
        tracker.log_artifact_file(table)
        plot = os.path.join(folder, "loss_curves.png")
        plot_loss_curves(comparison, plot)
        tracker.log_artifact_file(plot)
    metrics = {"wall_time": comparison.wall_time}
    for row in summary:
        key = report.metric_key(row["optimizer"])
        metrics[f"mean_rank.{key}"] = row["mean_rank"]
    tracker.finish(metrics)


def _progress_bar(total: int, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="trainings", unit="run", disable=not enabled, dynamic_ncols=True)
