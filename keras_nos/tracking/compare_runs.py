"""MLflow records of a comparison: one parent run, one nested run per training.

A tuning training is tagged stage ``tune`` (one per optimizer x task x
learning rate), a reported one stage ``seed`` (one per optimizer x task x
seed); each holds its training-loss curve as metric ``train_loss`` (step = the
optimizer step of the curve point) and its metric on the validation (``val_*``)
or test (``test_*``) split.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Optional

from keras_nos.tracking import store, tags
from keras_nos.tracking.writer import RunWriter


class CompareTracker(RunWriter):
    def __init__(self, uri: str, experiment_name: str = "keras-nos", params: Optional[Mapping[str, Any]] = None,
                 run_name: str = "compare", parent_run_id: Optional[str] = None) -> None:
        """A new parent run; nested (stage ``suite``) under ``parent_run_id`` when a search runs the comparison."""
        super().__init__(uri)
        if parent_run_id is None:
            self.experiment_id = store.get_or_create_experiment(experiment_name, uri)
        else:
            self.experiment_id = self.client.get_run(parent_run_id).info.experiment_id
        run_tags = {tags.KIND: "compare"}
        if parent_run_id is not None:
            run_tags.update({tags.PARENT: parent_run_id, tags.STAGE: "suite"})
        self.run_id = self._create_run(run_tags, run_name)
        self._log_params(self.run_id, params or {})

    def log_training(self, stage: str, task: Any, optimizer: str, learning_rate: float, seed: int,
                     training: Any) -> str:
        """One nested run for one training; returns its run id."""
        split = "val" if stage == "tune" else "test"
        run_tags = {tags.PARENT: self.run_id, tags.STAGE: stage, tags.TASK: task.name, tags.OPTIMIZER: optimizer}
        what = f"lr{learning_rate:.3g}" if stage == "tune" else f"seed{seed}"
        run_id = self._create_run(run_tags, f"{stage}-{task.name}-{optimizer[:40]}-{what}")
        self._log_params(run_id, {"optimizer": optimizer, "task": task.name, "learning_rate": learning_rate,
                                  "seed": seed, "stage": stage})
        self._log_metrics(run_id, [("train_loss", loss, int(step)) for step, loss in zip(training.steps, training.losses)]
                          + [(f"{split}_{task.metric}", training.metric, 0)])
        status = "error" if training.error else "diverged" if not math.isfinite(training.metric) else "ok"
        self.client.set_tag(run_id, tags.STATUS, status)
        if training.error:
            self.client.set_tag(run_id, tags.MESSAGE, training.error)
        self.client.set_terminated(run_id, status="FINISHED")
        return run_id
