"""Where MLflow writes: one place that every command and example agrees on.

MLflow 3 defaults to ``sqlite:///mlflow.db`` in the working directory; the
project promises ``./mlruns`` instead, so the default is set explicitly here.
"""

import os
from pathlib import Path

DEFAULT_STORE_DIR = "mlruns"


def default_tracking_uri(store_dir=DEFAULT_STORE_DIR):
    """``MLFLOW_TRACKING_URI`` if set, else a SQLite database under ``./mlruns``."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    path = Path(store_dir).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path / 'mlflow.db'}"


def default_artifact_location(store_dir=DEFAULT_STORE_DIR):
    """Artifacts of experiments created by the default store live beside it."""
    return (Path(store_dir).resolve() / "artifacts").as_uri()


def use_tracking_uri(uri=None):
    """Point MLflow at ``uri`` (or the default) and return the URI in use."""
    import mlflow

    uri = uri or default_tracking_uri()
    mlflow.set_tracking_uri(uri)
    return uri


def get_or_create_experiment(name, uri=None):
    """The id of experiment ``name``, creating it with artifacts beside a local store."""
    import mlflow

    uri = use_tracking_uri(uri)
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    artifact_location = default_artifact_location() if uri.startswith("sqlite:") else None
    return mlflow.create_experiment(name, artifact_location=artifact_location)
