"""The search's learning curve, candidate by candidate: what the paper's Figure 4 plots, as MLflow step metrics.

For candidate ``i`` (its index in proposal order): its own reward, the best so far, the mean reward of the
last ``MOVING_WINDOW`` candidates and the fraction of them that failed the hurdles. A strategy that learns
shows the moving mean rising and the failure fraction falling; the best so far alone cannot show that.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from keras_nos.tasks import result as statuses

if TYPE_CHECKING:
    from keras_nos.tracking import Trial

MOVING_WINDOW = 20


def moving_mean(values: Sequence[float], window: int = MOVING_WINDOW) -> np.ndarray:
    """Mean of the last ``window`` values at each position (fewer at the start)."""
    values = np.asarray(values, dtype=float)
    sums = np.cumsum(np.concatenate([[0.0], values]))
    ends = np.arange(1, len(values) + 1)
    starts = np.maximum(0, ends - window)
    return (sums[ends] - sums[starts]) / (ends - starts)


def progress_metrics(trials: Sequence[Trial]) -> list[tuple[int, dict[str, float]]]:
    """``[(step, {name: value})]`` for ``trials`` sorted by index: the step metrics of every candidate."""
    rewards = [trial.reward for trial in trials]
    failed = [trial.status == statuses.FAILED_HURDLE for trial in trials]
    best, mean, failing = np.maximum.accumulate(rewards) if rewards else [], moving_mean(rewards), moving_mean(failed)
    return [(trial.index, {"sample_reward": rewards[i], "best_reward": float(best[i]),
                               "moving_mean_reward": float(mean[i]), "hurdle_fail_fraction": float(failing[i])})
            for i, trial in enumerate(trials)]
