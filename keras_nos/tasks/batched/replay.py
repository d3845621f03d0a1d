"""The current evaluator's judgement of a rule's copies, replayed from the batched program's arrays.

``fused_trainer.CopyMonitor`` watches a training step by step: after each step it reads every copy's running
loss of the epoch (and running accuracy at the no-progress step), marks a copy diverged or stalled, and
stops the training once no copy of the rule is ok; at each epoch's end it records the validation scores.
The batched program trains every copy to the end and keeps every step's loss, so the same judgement is made
afterwards from its arrays: the same statuses, curves and steps as a ``FusedTrainer`` training of the rule.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

from keras_nos.tasks import result as statuses


def running_means(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Each step's mean of ``values`` since the epoch began, weighted by ``weights``, as Keras' ``Mean`` logs."""
    return np.cumsum(values * weights, axis=-1) / np.cumsum(weights)


class Judgement:
    """Statuses, curves and steps of the copies of one rule (the rates one ``FusedTrainer.train`` call trains).

    Args:
        loss, correct: (copies, epochs, steps) from the program; validation: (copies, epochs).
        batch_sizes: (steps,); chance: 1 / classes, None for a regression; no_progress_steps: the step of the
            no-progress test (None: none); early_stop: as ``CopyMonitor``.
    """

    def __init__(self, loss: np.ndarray, correct: np.ndarray, validation: np.ndarray, batch_sizes: np.ndarray,
                 chance: Optional[float], no_progress_steps: Optional[int], early_stop: bool) -> None:
        copies, epochs, _ = loss.shape
        self.loss = running_means(loss.astype(np.float64), batch_sizes)
        self.accuracy = np.cumsum(correct.astype(np.float64), axis=-1) / np.cumsum(batch_sizes)  # of the epoch
        self.first_loss = loss[:, 0, 0].astype(np.float64)
        self.chance, self.no_progress_steps, self.early_stop = chance, no_progress_steps, early_stop
        self.status = [statuses.OK] * copies
        self.curves: list[list[float]] = [[] for _ in range(copies)]
        self.curve_steps: list[int] = []  # the step of each point of the curves: each epoch's end
        self.steps = 0
        for epoch in range(epochs):
            if self._train_epoch(epoch):
                self._end_epoch(epoch, validation)
                break
            self._end_epoch(epoch, validation)

    def _train_epoch(self, epoch: int) -> bool:
        """Judge each step of ``epoch``; True when training stopped in it (every copy done for)."""
        for step in range(self.loss.shape[2]):
            self.steps += 1
            if not self.early_stop:
                continue
            for k, status in enumerate(self.status):
                if status != statuses.OK:
                    continue
                loss = self.loss[k, epoch, step]
                if not math.isfinite(loss) or loss > 1e4:
                    self.status[k] = statuses.DIVERGED
                elif self.steps == self.no_progress_steps and self._stalled(k, epoch, step, loss):
                    self.status[k] = statuses.NO_PROGRESS
            if statuses.OK not in self.status:
                return True
        return False

    def _stalled(self, k: int, epoch: int, step: int, loss: float) -> bool:
        if self.chance is None:
            return not loss < self.first_loss[k]
        return self.accuracy[k, epoch, step] <= 1.2 * self.chance

    def _end_epoch(self, epoch: int, validation: np.ndarray) -> None:
        if self.early_stop and statuses.OK not in self.status:
            return
        self.curve_steps.append(self.steps)
        for k, curve in enumerate(self.curves):
            value = float(validation[k, epoch])
            curve.append(value)
            if not math.isfinite(value) and self.status[k] == statuses.OK:
                self.status[k] = statuses.DIVERGED
