"""MLflow records of a search: one parent run, one nested run per candidate.

The driver is the only writer. Every candidate is written the moment it is
finished, and the search checkpoint (strategy state and all results) is an
artifact of the parent run, so a search can resume from its run id alone.
"""

import json
import os
import pickle
import tempfile

from keras_nos import tracking as store
from keras_nos.search.settings import SETTINGS_TAG

TAG_PREFIX = "keras_nos."
CHECKPOINT_ARTIFACT = "checkpoint/search_state.pkl"


def _client(uri):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri)


def check_reachable(uri):
    """Raise ValueError when the tracking store at ``uri`` cannot be used."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    try:
        _client(uri).search_experiments(max_results=1)
    except Exception as error:  # any failure here means the store is unusable
        cause = " ".join(str(error).split())[:200]  # one line, whatever the store's message
        raise ValueError(f"Tracking URI {uri!r} is unreachable; start its MLflow server or pass another "
                         f"--tracking-uri (default: $MLFLOW_TRACKING_URI or ./mlruns). "
                         f"Cause: {type(error).__name__}: {cause}") from None


def find_run(uri, run_id):
    """The parent run ``run_id`` of a search; ValueError when it does not exist or is another kind of run."""
    try:
        run = _client(uri).get_run(run_id)
    except Exception:
        raise ValueError(f"No search run with id {run_id!r} in tracking store {uri!r}; "
                         f"'keras-nos leaderboard --tracking-uri URI' prints the latest search's run id") from None
    tags = run.data.tags
    kind = tags.get(TAG_PREFIX + "kind")
    if TAG_PREFIX + "stage" in tags:
        raise ValueError(f"Run {run_id!r} is a {tags[TAG_PREFIX + 'stage']} candidate of search run "
                         f"{tags.get('mlflow.parentRunId')!r}; give that parent run's id")
    if kind not in (None, "search"):
        raise ValueError(f"Run {run_id!r} in {uri!r} is a {kind} run, not a search's parent run; "
                         f"'keras-nos leaderboard --tracking-uri URI' prints the latest search's run id")
    return run


class SearchTracker:
    """Writes a search's parent run, candidate runs, artifacts and checkpoint."""

    def __init__(self, uri, experiment_name="keras-nos", run_id=None, params=None, run_name=None, settings=None):
        """``settings``: the JSON text of the search's settings (``keras_nos.search.settings``), stored as a tag
        when the run is made (a kill right after still leaves a resumable run) and again on each resume."""
        self.uri = uri
        self.client = _client(uri)
        settings_tag = {SETTINGS_TAG: settings} if settings is not None else {}
        if run_id is None:
            experiment_id = store.get_or_create_experiment(experiment_name, uri)
            run = self.client.create_run(experiment_id, run_name=run_name,
                                         tags={TAG_PREFIX + "kind": "search", **settings_tag})
            self.run_id = run.info.run_id
            self.experiment_id = experiment_id
            self._log_params(self.run_id, params or {})
        else:
            run = find_run(uri, run_id)
            self.run_id = run_id
            self.experiment_id = run.info.experiment_id
            for key, value in settings_tag.items():
                self.client.set_tag(run_id, key, value)
            self.client.update_run(run_id, status="RUNNING")

    def _log_params(self, run_id, params):
        from mlflow.entities import Param

        items = [Param(key, str(value)[:6000]) for key, value in sorted(params.items())]
        for start in range(0, len(items), 100):
            self.client.log_batch(run_id, params=items[start:start + 100])

    def log_candidate(self, record, stage="search"):
        """One nested run for a finished candidate; returns its run id."""
        from mlflow.entities import Metric

        result = record["result"]
        tags = {
            "mlflow.parentRunId": self.run_id,
            "mlflow.runName": f"{stage}-{record['index']:04d}",
            TAG_PREFIX + "stage": stage,
            TAG_PREFIX + "index": str(record["index"]),
            TAG_PREFIX + "status": result["status"],
            TAG_PREFIX + "cache_hit": str(record["cache_hit"]).lower(),
            TAG_PREFIX + "strategy": record.get("strategy", ""),
            TAG_PREFIX + "message": result["message"][:5000],
        }
        run = self.client.create_run(self.experiment_id, tags=tags)
        from keras_nos.search.leaderboard import simplified_text

        params = {
            "rule": result["rule"],
            "simplified_rule": simplified_text(result["rule"]),
            "tokens": " ".join(record.get("tokens") or []),
            "fingerprint": result["fingerprint"],
            "learning_rate": result["best_learning_rate"],
            "task": result["task"],
            "seed": record.get("seed", 0),
        }
        self._log_params(run.info.run_id, params)
        metrics = [Metric("reward", result["reward"], 0, 0), Metric("wall_time", result["wall_time"], 0, 0)]
        best = f"{result['best_learning_rate']:g}" if result["best_learning_rate"] else None
        for lr, curve in result["curves"].items():
            for epoch, value in enumerate(curve):
                if value == value:  # NaN epochs of a diverged rate are left out
                    metrics.append(Metric(f"val_accuracy_lr_{lr}", value, 0, epoch))
                    if lr == best:
                        metrics.append(Metric("val_accuracy", value, 0, epoch))
        # The best rate's reward with each seed, where the reward is their mean (reward_seeds > 1).
        metrics += [Metric("seed_reward", value, 0, k) for k, value in enumerate(result.get("seed_rewards") or [])]
        for start in range(0, len(metrics), 500):
            self.client.log_batch(run.info.run_id, metrics=metrics[start:start + 500])
        self.client.set_terminated(run.info.run_id, status="FINISHED" if result["status"] == "ok" else "FAILED")
        return run.info.run_id

    def log_artifact_file(self, path, artifact_path=None):
        self.client.log_artifact(self.run_id, path, artifact_path)

    def save_checkpoint(self, state):
        """Pickle the search state and store it on the parent run (replacing the last one)."""
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, os.path.basename(CHECKPOINT_ARTIFACT))
            with open(path, "wb") as handle:
                pickle.dump(state, handle)
            self.client.log_artifact(self.run_id, path, os.path.dirname(CHECKPOINT_ARTIFACT))

    def load_checkpoint(self):
        """The last checkpoint of this run, or None when it has none yet."""
        from mlflow.artifacts import download_artifacts

        with tempfile.TemporaryDirectory() as folder:
            try:
                path = download_artifacts(run_id=self.run_id, artifact_path=CHECKPOINT_ARTIFACT, dst_path=folder,
                                          tracking_uri=self.uri)
            except Exception:
                return None
            with open(path, "rb") as handle:
                return pickle.load(handle)

    def finish(self, metrics):
        from mlflow.entities import Metric

        self.client.log_batch(self.run_id, metrics=[Metric(k, float(v), 0, 0) for k, v in metrics.items()])
        self.client.set_terminated(self.run_id, status="FINISHED")

    def discard_half_written_candidates(self):
        """Delete candidate runs that a killed driver left unfinished; return the finished ones.

        ``log_candidate`` terminates every run it creates, so a run of this search still
        RUNNING when it resumes was cut off mid-write (its rule, metrics or status may be
        missing). Such a candidate never finished: it is evaluated again, and keeping its
        run would show it twice in the MLflow UI.
        """
        finished = []
        for run in candidate_runs(self.uri, self.run_id):
            if run.info.status == "RUNNING" and run.data.tags.get(TAG_PREFIX + "stage") in ("search", "funnel"):
                self.client.delete_run(run.info.run_id)
            else:
                finished.append(run)
        return finished

    def log_progress(self, steps):
        """Step metrics on the parent run, ``steps`` = [(step, {name: value})]: the curves of the chart view."""
        from mlflow.entities import Metric

        metrics = [Metric(name, float(value), 0, step) for step, values in steps for name, value in values.items()]
        for start in range(0, len(metrics), 500):
            self.client.log_batch(self.run_id, metrics=metrics[start:start + 500])

    def set_tag(self, key, value):
        self.client.set_tag(self.run_id, TAG_PREFIX + key, json.dumps(value) if not isinstance(value, str) else value)


def candidate_runs(uri, run_id):
    """The nested candidate runs of search ``run_id`` (finished ones), as MLflow Run objects."""
    client = _client(uri)
    parent = find_run(uri, run_id)
    return client.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{run_id}'", max_results=50000
    )
