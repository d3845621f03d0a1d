"""Where MLflow writes: one place that every command and example agrees on.

MLflow 3 defaults to ``sqlite:///mlflow.db`` in the working directory; the
project promises ``./mlruns`` instead, so the default is set explicitly here.
"""

import logging
import os
from pathlib import Path

DEFAULT_STORE_DIR = "mlruns"

# A new SQLite store logs its schema migration at INFO ("Creating initial MLflow database tables..."); that is
# MLflow's business, not a line users of a search, a comparison or a benchmark need to read. Only that logger.
logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)


def default_tracking_uri(store_dir=DEFAULT_STORE_DIR):
    """``MLFLOW_TRACKING_URI`` if set, else a SQLite database under ``./mlruns``."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    path = Path(store_dir).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path / 'mlflow.db'}"


def artifact_location_for(uri):
    """Artifacts beside a SQLite store's database file (``<db folder>/artifacts``); None (MLflow's
    choice: the server's artifact root) for any other store."""
    if not uri.startswith("sqlite:///"):
        return None
    database = Path(uri[len("sqlite:///"):])
    return (database.resolve().parent / "artifacts").as_uri()


def use_tracking_uri(uri=None):
    """Point MLflow at ``uri`` (or the default) and return the URI in use."""
    import mlflow

    uri = uri or default_tracking_uri()
    mlflow.set_tracking_uri(uri)
    return uri


def get_or_create_experiment(name, uri=None):
    """The id of experiment ``name``, creating it with artifacts beside a local SQLite store
    (not under the working directory: two folders' stores must not share artifacts)."""
    import mlflow

    uri = use_tracking_uri(uri)
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    return mlflow.create_experiment(name, artifact_location=artifact_location_for(uri))
