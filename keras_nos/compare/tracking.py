"""MLflow records of a comparison: one parent run, one nested run per training.

A tuning training is tagged stage ``tune`` (one per optimizer x task x
learning rate), a reported one stage ``seed`` (one per optimizer x task x
seed); each holds its training-loss curve as metric ``train_loss`` (step = the
optimizer step of the curve point) and its metric on the validation (``val_*``)
or test (``test_*``) split.
"""

import math

from keras_nos import tracking as store
from keras_nos.search.tracking import TAG_PREFIX


class CompareTracker:
    def __init__(self, uri, experiment_name="keras-nos", params=None, run_name="compare", parent_run_id=None):
        from mlflow import MlflowClient

        self.uri = uri
        self.client = MlflowClient(tracking_uri=uri)
        if parent_run_id is None:
            self.experiment_id = store.get_or_create_experiment(experiment_name, uri)
        else:
            self.experiment_id = self.client.get_run(parent_run_id).info.experiment_id
        tags = {TAG_PREFIX + "kind": "compare"}
        if parent_run_id is not None:
            tags.update({"mlflow.parentRunId": parent_run_id, TAG_PREFIX + "stage": "suite"})
        self.run_id = self.client.create_run(self.experiment_id, run_name=run_name, tags=tags).info.run_id
        self._log(self.run_id, params=params or {})

    def _log(self, run_id, params=None, metrics=()):
        from mlflow.entities import Param

        params = [Param(k, str(v)[:6000]) for k, v in sorted((params or {}).items())]
        metrics = list(metrics)
        for start in range(0, len(params), 100):
            self.client.log_batch(run_id, params=params[start:start + 100])
        for start in range(0, len(metrics), 500):
            self.client.log_batch(run_id, metrics=metrics[start:start + 500])

    def log_training(self, stage, task, optimizer, learning_rate, seed, training):
        """One nested run for one training; returns its run id."""
        from mlflow.entities import Metric

        split = "val" if stage == "tune" else "test"
        tags = {"mlflow.parentRunId": self.run_id, TAG_PREFIX + "stage": stage, TAG_PREFIX + "task": task.name,
                TAG_PREFIX + "optimizer": optimizer}
        what = f"lr{learning_rate:.3g}" if stage == "tune" else f"seed{seed}"
        name = f"{stage}-{task.name}-{optimizer[:40]}-{what}"
        run_id = self.client.create_run(self.experiment_id, run_name=name, tags=tags).info.run_id
        metrics = [Metric("train_loss", loss, 0, int(step)) for step, loss in zip(training.steps, training.losses)
                   if math.isfinite(loss)]
        if math.isfinite(training.metric):
            metrics.append(Metric(f"{split}_{task.metric}", training.metric, 0, 0))
        params = {"optimizer": optimizer, "task": task.name, "learning_rate": learning_rate, "seed": seed,
                  "stage": stage}
        self._log(run_id, params=params, metrics=metrics)
        status = "error" if training.error else "diverged" if not math.isfinite(training.metric) else "ok"
        self.client.set_tag(run_id, TAG_PREFIX + "status", status)
        if training.error:
            self.client.set_tag(run_id, TAG_PREFIX + "message", training.error)
        self.client.set_terminated(run_id, status="FINISHED")
        return run_id

    def log_artifact(self, path, artifact_path=None):
        self.client.log_artifact(self.run_id, path, artifact_path)

    def finish(self, metrics):
        from mlflow.entities import Metric

        finite = [Metric(k, float(v), 0, 0) for k, v in metrics.items() if v is not None and math.isfinite(v)]
        self._log(self.run_id, metrics=finite)
        self.client.set_terminated(self.run_id, status="FINISHED")

    def fail(self):
        self.client.set_terminated(self.run_id, status="FAILED")
