"""Tasks that minimise a function directly, with no network and no data: Rosenbrock.

A rule runs on the function for every learning rate of the grid at once, in
NumPy (``numpy_stepper``), in milliseconds. Its reward is the number of orders
of magnitude it takes off the function, divided by ``ORDERS`` and clipped to
[0, 1], so that, like a validation accuracy, higher is better and 1 is as good
as it gets: 1e-10 of the starting value or less.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Optional, Union

import numpy as np

from keras_nos.tasks import numpy_stepper
from keras_nos.tasks import result as statuses
from keras_nos.tasks.result import EvaluationResult

if TYPE_CHECKING:
    from keras_nos.dsl.rule import Rule
    from keras_nos.tasks.registry import Task

ORDERS = 10.0
DIVERGED_GROWTH = 1e4  # a learning rate whose value grows this much over the start has diverged


def reward_of(value: Union[float, np.ndarray], start_value: float) -> np.ndarray:
    """Orders of magnitude taken off ``start_value``, over ORDERS, in [0, 1]; 0 for NaN or growth."""
    with np.errstate(all="ignore"):
        orders = np.log10(start_value / np.maximum(value, 1e-300))
    return np.clip(np.nan_to_num(orders / ORDERS, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)


def minimize_task(rule: Union[str, Rule], task: Task, learning_rates: Sequence[float], epochs: int, seed: int = 0,
                  curve_points: Optional[int] = None) -> EvaluationResult:
    """An ``EvaluationResult`` for ``rule`` on an objective task: one curve point per "epoch" of
    ``task.steps_per_epoch`` steps (with ``curve_points``, also at step 0 and that many evenly spaced steps),
    the reward of the best learning rate that neither diverged nor failed to reduce the function."""
    value_and_grad, start = task.objective()
    steps = epochs * task.steps_per_epoch
    losses = numpy_stepper.minimize(rule, value_and_grad, start, learning_rates, steps, seed=seed)
    start_value = losses[0, 0]
    at = set(range(task.steps_per_epoch, steps + 1, task.steps_per_epoch))
    if curve_points:
        at |= {0} | {max(1, round(steps * i / curve_points)) for i in range(1, curve_points + 1)}
    at = sorted(at)
    checkpoints = losses[:, at]
    curves, lr_status, finals = {}, {}, []
    for lr, path, points in zip(learning_rates, losses, checkpoints):
        key = f"{lr:g}"
        curves[key] = [float(x) for x in reward_of(points, start_value)]
        if not np.all(np.isfinite(path)) or np.max(path) > DIVERGED_GROWTH * start_value:
            lr_status[key] = statuses.DIVERGED
        elif not path[-1] < start_value:
            lr_status[key] = statuses.NO_PROGRESS
        else:
            lr_status[key] = statuses.OK
            finals.append((curves[key][-1], lr))
    result = EvaluationResult(str(rule), "", task.name, statuses.OK, curves=curves, lr_status=lr_status,
                              steps_trained=steps, curve_steps={f"{lr:g}": list(at) for lr in learning_rates})
    if finals:
        result.reward, result.best_learning_rate = max(finals)
    else:
        result.status = statuses.DIVERGED if statuses.DIVERGED in lr_status.values() else statuses.NO_PROGRESS
    return result
