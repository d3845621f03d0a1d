"""Where MLflow writes, and whether it can: one place that every command and example agrees on.

MLflow 3 defaults to ``sqlite:///mlflow.db`` in the working directory; the
project promises ``./mlruns`` instead, so the default is set explicitly here.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Union

from keras_nos.errors import KerasNosError
from keras_nos.tracking.reachability import is_unreachable
from keras_nos.tracking.store_lock import store_creation_lock

if TYPE_CHECKING:
    from mlflow import MlflowClient

DEFAULT_STORE_DIR = "mlruns"

# A new SQLite store logs its schema migration at INFO ("Creating initial MLflow database tables..."); that is
# MLflow's business, not a line users of a search, a comparison or a benchmark need to read. Only that logger.
logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)


def default_tracking_uri(store_dir: Union[str, os.PathLike] = DEFAULT_STORE_DIR) -> str:
    """``MLFLOW_TRACKING_URI`` if set, else a SQLite database under ``./mlruns``."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    path = Path(store_dir).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path / 'mlflow.db'}"


def artifact_location_for(uri: str) -> Optional[str]:
    """Artifacts beside a SQLite store's database file (``<db folder>/artifacts``); None (MLflow's
    choice: the server's artifact root) for any other store."""
    if not uri.startswith("sqlite:///"):
        return None
    database = Path(uri[len("sqlite:///"):])
    return (database.resolve().parent / "artifacts").as_uri()


def client(uri: str) -> MlflowClient:
    """An MLflow client of the store at ``uri`` (MLflow loads here, on first use, not on import)."""
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri)


def check_reachable(uri: str) -> None:
    """Raise KerasNosError when the tracking store at ``uri`` cannot be used: "unreachable" only when it is away
    (:func:`~keras_nos.tracking.reachability.is_unreachable`). A new local store is created here, one process
    at a time (:func:`~keras_nos.tracking.store_lock.store_creation_lock`)."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    try:
        with store_creation_lock(uri):
            client(uri).search_experiments(max_results=1)
    except KerasNosError:  # the lock's own message
        raise
    except Exception as error:  # any failure here means the store is unusable
        cause = " ".join(str(error).split())[:200]  # one line, whatever the store's message
        if not is_unreachable(error):
            raise KerasNosError(f"Tracking URI {uri!r} cannot be used: {type(error).__name__}: {cause}") from None
        raise KerasNosError(f"Tracking URI {uri!r} is unreachable; start its MLflow server or pass another "
                         f"--tracking-uri (default: $MLFLOW_TRACKING_URI or ./mlruns). "
                         f"Cause: {type(error).__name__}: {cause}") from None


def use_tracking_uri(uri: Optional[str] = None) -> str:
    """Point MLflow at ``uri`` (or the default) and return the URI in use."""
    import mlflow

    uri = uri or default_tracking_uri()
    mlflow.set_tracking_uri(uri)
    return uri


EXPERIMENT_DESCRIPTION = """\
**keras_nos**: update rules found by search (Neural Optimizer Search, Bello et al. 2017) and their comparisons.

* Each `keras-nos search` is one parent run (tag `keras_nos.kind` = `search`): its settings as parameters and in
  the tag `keras_nos.settings` (what `--resume RUN_ID` uses), and the artifacts `leaderboard.csv`,
  `reward_vs_samples.png` (reward of every candidate in proposal order) and `checkpoint/`.
* Under it, one nested run per candidate (`keras_nos.stage` = `search`) and per funnel training (`funnel`):
  parameters `rule`, `simplified_rule`, `tokens`, `fingerprint`, `learning_rate` (the best); metrics `reward`
  (best final validation accuracy over the learning rates), `val_accuracy` at each validation (the MLflow step
  is the training step: each epoch's end, and in the funnel 24 evenly spaced steps too) at the best rate and
  `val_accuracy_lr_<rate>` for every rate; a funnel training of a found rule also has `speedup` over tuned Adam on
  its seed, `speedup_lower_bound`, `steps_to_target` and `adam_steps_to_target`; tags `keras_nos.status` (`ok`,
  `failed_hurdle`, `diverged`, `no_progress`, `pruned`, `error`, `timeout`, `worker_lost`) and
  `keras_nos.cache_hit`.
* Read it in the runs table (Model training): sort by `metrics.reward`, filter with
  `tags.keras_nos.status = 'ok'`, or open the chart view; `keras-nos leaderboard RUN_ID` prints a search's table.
* `keras-nos compare` makes a parent run (`keras_nos.kind` = `compare`) with one nested run per training
  (`train_loss` per step, the held-out metric) and the tables and loss curves as artifacts.
"""
# The experiment page of MLflow 3 opens on GenAI pages (Overview, Traces), empty for these runs, unless the
# experiment says it holds model training ("Machine learning" in its kind selector).
EXPERIMENT_TAGS = {"mlflow.note.content": EXPERIMENT_DESCRIPTION, "mlflow.experimentKind": "custom_model_development"}


def get_or_create_experiment(name: str, uri: Optional[str] = None) -> str:
    """The id of experiment ``name``, creating it with artifacts beside a local SQLite store
    (not under the working directory: two folders' stores must not share artifacts) and with
    :data:`EXPERIMENT_TAGS`; an experiment without them (made before, or by hand) gets them, one
    that has its own description or kind keeps it."""
    import mlflow

    uri = use_tracking_uri(uri)
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is None:
        return mlflow.create_experiment(name, artifact_location=artifact_location_for(uri), tags=EXPERIMENT_TAGS)
    for key, value in EXPERIMENT_TAGS.items():
        if key not in experiment.tags:
            mlflow.MlflowClient(uri).set_experiment_tag(experiment.experiment_id, key, value)
    return experiment.experiment_id
