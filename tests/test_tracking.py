"""Where the MLflow store and its artifacts go."""

from pathlib import Path

import mlflow

from keras_nos import tracking


def test_artifacts_live_beside_a_sqlite_store_not_in_the_working_directory(tmp_path, monkeypatch):
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    (tmp_path / "store").mkdir()
    experiment_id = tracking.get_or_create_experiment("where-artifacts-go", uri)
    location = mlflow.get_experiment(experiment_id).artifact_location
    assert location == (tmp_path / "store" / "artifacts").as_uri()
    assert not (elsewhere / "mlruns").exists()
    assert tracking.get_or_create_experiment("where-artifacts-go", uri) == experiment_id


def test_default_store_is_under_mlruns_of_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    uri = tracking.default_tracking_uri()
    assert uri == f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}" and Path(tmp_path / "mlruns").is_dir()
    assert tracking.artifact_location_for(uri) == (tmp_path / "mlruns" / "artifacts").as_uri()
    assert tracking.artifact_location_for("http://127.0.0.1:5000") is None


def test_an_experiment_says_what_keras_nos_logs_and_opens_on_its_runs(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    experiment = mlflow.get_experiment(tracking.get_or_create_experiment("described", uri))
    assert "keras_nos.status" in experiment.tags["mlflow.note.content"]
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"  # not MLflow 3's GenAI pages
    client = mlflow.MlflowClient(uri)
    older = client.create_experiment("older", artifact_location=(tmp_path / "art").as_uri())  # made before
    client.set_experiment_tag(older, "mlflow.note.content", "my own notes")
    tracking.get_or_create_experiment("older", uri)
    tags = client.get_experiment(older).tags
    assert tags["mlflow.note.content"] == "my own notes" and tags["mlflow.experimentKind"] == "custom_model_development"
