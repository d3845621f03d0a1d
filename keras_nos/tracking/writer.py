"""Writing to one MLflow parent run and its nested runs, in batches of the sizes MLflow accepts."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, Optional

from keras_nos.tracking import store

PARAMS_PER_BATCH = 100  # MLflow's limits on one log_batch call
METRICS_PER_BATCH = 500
PARAM_LENGTH = 6000  # MLflow's longest parameter value


class RunWriter:
    """The client, the parent run and the batching that the search's and the comparison's trackers share."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.client = store.client(uri)
        self.run_id: Optional[str] = None
        self.experiment_id: Optional[str] = None

    def _create_run(self, tags: Mapping[str, str], run_name: Optional[str] = None) -> str:
        return self.client.create_run(self.experiment_id, run_name=run_name, tags=tags).info.run_id

    def _log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(key, str(value)[:PARAM_LENGTH]) for key, value in sorted(params.items())]
        for start in range(0, len(items), PARAMS_PER_BATCH):
            self.client.log_batch(run_id, params=items[start:start + PARAMS_PER_BATCH])

    def _log_metrics(self, run_id: str, metrics: Iterable[tuple[str, Optional[float], int]]) -> None:
        """``metrics``: [(name, value, step)]; values that are None or not finite are left out."""
        from mlflow.entities import Metric

        items = [Metric(name, float(value), 0, step) for name, value, step in metrics
                 if value is not None and math.isfinite(value)]
        for start in range(0, len(items), METRICS_PER_BATCH):
            self.client.log_batch(run_id, metrics=items[start:start + METRICS_PER_BATCH])

    def log_artifact_file(self, path: str, artifact_path: Optional[str] = None) -> None:
        self.client.log_artifact(self.run_id, path, artifact_path)

    def finish(self, metrics: Mapping[str, float]) -> None:
        """End the parent run with its summary ``metrics`` ({name: value})."""
        self._log_metrics(self.run_id, [(name, value, 0) for name, value in metrics.items()])
        self.client.set_terminated(self.run_id, status="FINISHED")

    def fail(self) -> None:
        self.client.set_terminated(self.run_id, status="FAILED")
