"""A user's own model and data: ``OptimizerSearch`` on every kind of Keras model, and ``--task module:attr``.

Every trained candidate must end ``ok`` or ``diverged``: an ``error`` means the
library failed the user's model, which is what these tests exist to catch.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from mlflow import MlflowClient

import keras_nos
from keras_nos.search import search
from keras_nos.tasks import result as statuses
from keras_nos.tracking import read_search

TESTS = Path(__file__).parent
TRAINED_OK = (statuses.OK, statuses.DIVERGED)
TINY = dict(strategy="random", budget=3, batch_size=3, hurdles=(), learning_rates=(0.01, 0.1), funnel_top_k=0,
            progress=False)


def _classes(rows=96, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 8)).astype("float32")
    return x, (x[:, 0] + x[:, 1] > 0).astype("int64")


def _search_statuses(searcher):
    trials, _, _ = read_search(searcher.tracking_uri, searcher.run_id)
    return [trial.status for trial in trials if trial.stage == "search" and not trial.cache_hit]


def _searched(build_model, x, y, validation_data, tmp_path, **options):
    searcher = keras_nos.OptimizerSearch(build_model, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                                         metrics=["accuracy"], objective="val_accuracy",
                                         tracking_uri=f"sqlite:///{tmp_path}/mlflow.db", **dict(TINY, **options))
    searcher.search(x, y, validation_data=validation_data, epochs=1, batch_size=16)
    trained = _search_statuses(searcher)
    assert trained and all(status in TRAINED_OK for status in trained), trained
    return searcher


def test_a_functional_model_with_two_inputs(tmp_path):
    x, y = _classes()
    wide, narrow = x[:, :5], x[:, 5:]

    def build():
        first, second = keras.Input((5,)), keras.Input((3,))
        hidden = keras.layers.Dense(8, activation="relu")(keras.layers.Concatenate()([first, second]))
        return keras.Model([first, second], keras.layers.Dense(2)(hidden))

    _searched(build, [wide[:64], narrow[:64]], y[:64], ([wide[64:], narrow[64:]], y[64:]), tmp_path)


class _Residual(keras.Model):
    def __init__(self):
        super().__init__()
        self.hidden, self.out = keras.layers.Dense(8, activation="relu"), keras.layers.Dense(2)

    def call(self, x):
        return self.out(self.hidden(x) + x[:, :8])


def test_a_subclassed_model_whose_weights_are_made_on_first_call(tmp_path):
    x, y = _classes()
    _searched(_Residual, x[:64], y[:64], (x[64:], y[64:]), tmp_path)


def test_a_model_with_batch_norm_and_dropout_and_a_dict_input(tmp_path):
    x, y = _classes()

    def build():
        features = keras.Input((8,), name="features")
        hidden = keras.layers.Dense(8)(features)
        hidden = keras.layers.Dropout(0.2)(keras.layers.ReLU()(keras.layers.BatchNormalization()(hidden)))
        return keras.Model({"features": features}, keras.layers.Dense(2)(hidden))

    _searched(build, {"features": x[:64]}, y[:64], ({"features": x[64:]}, y[64:]), tmp_path)


def test_a_tf_data_dataset_and_the_best_optimizer_beside_tuned_adam(tmp_path):
    import tensorflow as tf

    x, y = _classes(rows=128)
    train = tf.data.Dataset.from_tensor_slices((x[:96], y[:96])).batch(16)
    validation = tf.data.Dataset.from_tensor_slices((x[96:], y[96:])).batch(16)
    build = lambda: keras.Sequential([keras.Input((8,)), keras.layers.Dense(8, activation="relu"),  # noqa: E731
                                      keras.layers.Dense(2)])
    searcher = _searched(build, train, None, validation, tmp_path, funnel_top_k=1, funnel_seeds=2)
    rows = searcher.leaderboard()
    assert [row["rule"] for row in rows if row["reference"]] == ["adam"]  # tuned Adam's row, marked
    optimizer = searcher.best_optimizer()
    best = next(row for row in rows if not row["reference"])
    assert str(searcher.best_rule()) == best["rule"]
    assert float(optimizer.learning_rate) == pytest.approx(best["best_learning_rate"])
    model = build()
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    model.fit(train, epochs=1, verbose=0, shuffle=False)  # the found rule trains the user's model as a plain Keras optimizer


def test_a_search_of_your_model_resumes_without_training_anything_twice(tmp_path):
    x, y = _classes()
    data = dict(validation_data=(x[64:], y[64:]), epochs=1, batch_size=16)
    first = _searched(_Residual, x[:64], y[:64], data["validation_data"], tmp_path)
    more = keras_nos.OptimizerSearch(_Residual, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                                     metrics=["accuracy"], objective="val_accuracy", resume=first.run_id,
                                     tracking_uri=first.tracking_uri, **dict(TINY, budget=5))
    more.search(x[:64], y[:64], **data)
    assert more.run_id == first.run_id
    trials, _, _ = read_search(more.tracking_uri, more.run_id)
    indices = sorted(trial.index for trial in trials if trial.stage == "search")
    assert indices == [0, 1, 2, 3, 4]  # the first three kept, two more trained, none twice


def test_a_regression_objective_is_the_share_of_the_untrained_loss_removed(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(96, 4)).astype("float32")
    y = x @ np.array([1.0, -2.0, 0.5, 0.0], "float32")
    searcher = keras_nos.OptimizerSearch(lambda: keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)]),
                                         loss="mse", tracking_uri=f"sqlite:///{tmp_path}/mlflow.db",
                                         **dict(TINY, learning_rates=(0.03,)))
    rows = searcher.search(x[:64], y[:64], validation_data=(x[64:], y[64:]), epochs=3, batch_size=8)
    assert 0 < rows[0]["reward"] <= 1  # a linear model learns a linear target: most of the loss removed


def test_mlflow_marks_only_broken_evaluations_failed(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    search(task="rosenbrock", strategy="random", budget=12, batch_size=12, funnel_top_k=0, progress=False,
                     tracking_uri=uri)
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("keras-nos").experiment_id
    runs = client.search_runs([experiment], filter_string="tags.`keras_nos.stage` = 'search'")
    not_ok = [run for run in runs if run.data.tags["keras_nos.status"] != statuses.OK]
    assert not_ok, "a random search of 12 rules has some that fail a hurdle or diverge"
    assert all(run.info.status == "FINISHED" for run in runs), [(r.data.tags["keras_nos.status"], r.info.status)
                                                                for r in runs]


def test_every_bundled_task_pickles_for_the_workers():
    """In a fresh process, so that only the bundled tasks are registered (tests register their own)."""
    check = ("import pickle; from keras_nos.tasks.registry import TASKS; "
             "print(sorted(pickle.loads(pickle.dumps(t)).name for t in TASKS.values()))")
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "digits-autoencoder" in done.stdout and "cifar10-convnet" in done.stdout


def test_a_batch_of_zero_candidates_is_refused():
    with pytest.raises(keras_nos.errors.KerasNosError, match="batch_size must be a whole number.*>= 1, got 0"):
        search(task="rosenbrock", batch_size=0, progress=False)


def test_one_default_learning_rate_grid_for_search_evaluate_and_rl():
    from keras_nos.search.config import TaskConfig
    from keras_nos.search.screen import HurdleScreen
    from keras_nos.tasks import DEFAULT_LEARNING_RATES, Evaluator

    assert TaskConfig().learning_rates == DEFAULT_LEARNING_RATES
    assert Evaluator("rosenbrock").learning_rates == DEFAULT_LEARNING_RATES
    assert HurdleScreen().learning_rates == DEFAULT_LEARNING_RATES  # what rl screens by when the search does not say


def _cli(args, tmp_path, timeout=600):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]))
    env.pop("MLFLOW_TRACKING_URI", None)  # MLflow sets it in this process when a test picks a store
    return subprocess.run([sys.executable, "-m", "keras_nos.cli", *args], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_two_workers_on_the_default_task(tmp_path):
    done = _cli(["search", "--workers", "2", "--budget", "4", "--batch-size", "4", "--strategy", "random",
                 "--funnel-top-k", "0", "--no-progress"], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("keras-nos").experiment_id],
                              filter_string="tags.`keras_nos.stage` = 'search'")
    assert len(runs) == 4 and all(run.data.tags["keras_nos.status"] != statuses.ERROR for run in runs)


def test_search_evaluate_and_compare_take_a_users_task_by_module_and_attribute(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    searched = _cli(["search", "--task", "own_task:make_task", "--strategy", "random", "--budget", "3",
                     "--batch-size", "3", "--no-hurdles", "--lr", "0.01,0.1", "--funnel-top-k", "0", "--no-progress",
                     "--tracking-uri", uri], tmp_path)
    assert searched.returncode == 0, searched.stderr[-2000:]
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("keras-nos").experiment_id],
                              filter_string="tags.`keras_nos.stage` = 'search'")
    assert len(runs) == 3 and {run.data.tags["keras_nos.status"] for run in runs} <= set(TRAINED_OK)
    parent = client.get_run(runs[0].data.tags["mlflow.parentRunId"])
    assert json.loads(parent.data.tags["keras_nos.settings"])["funnel_suite"] == "none"  # the bundled suite: asked only
    evaluated = _cli(["evaluate", "adam", "--task", "own_task:task", "--lr", "0.01"], tmp_path)
    assert evaluated.returncode == 0 and "status ok" in evaluated.stdout, evaluated.stderr[-2000:]
    compared = _cli(["compare", "powersign", "--task", "own_task:make_task", "--baselines", "adam", "--seeds", "1",
                     "--lr-grid", "1", "--no-progress", "--tracking-uri", uri], tmp_path)
    assert compared.returncode == 0, compared.stderr[-2000:]
    assert "own-two-inputs" in compared.stdout and "powersign" in compared.stdout


def test_a_task_whose_every_candidate_errors_stops_with_one_line(tmp_path):
    done = _cli(["search", "--task", "own_task:broken", "--strategy", "random", "--budget", "20", "--batch-size", "2",
                 "--no-hurdles", "--lr", "0.1", "--max-consecutive-errors", "4", "--funnel-top-k", "0",
                 "--no-progress", "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db"], tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "last 4 candidates all ended in error" in lines[0], done.stderr[-2000:]
    assert "BrokenLayer cannot train" in lines[0]


def test_the_own_model_example_runs(tmp_path):
    example = TESTS.parent / "examples" / "own_model.py"
    done = subprocess.run([sys.executable, str(example), "--budget", "3", "--funnel-top-k", "1", "--tracking-uri",
                           f"sqlite:///{tmp_path}/mlflow.db"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "best rule" in done.stdout
    assert len(example.read_text().splitlines()) <= 30


def test_bad_input_to_optimizer_search_is_one_error_before_mlflow(tmp_path):
    from keras_nos.errors import KerasNosError

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    x, y = _classes()
    build = lambda: keras.Sequential([keras.Input((8,)), keras.layers.Dense(2)])  # noqa: E731
    with pytest.raises(KerasNosError, match="build_model must be a function.*got 3"):
        keras_nos.OptimizerSearch(3, loss="mse")
    with pytest.raises(KerasNosError, match="'val_f2'.*add 'f2' to metrics or use 'val_loss'"):
        keras_nos.OptimizerSearch(build, loss="mse", objective="val_f2")
    with pytest.raises(KerasNosError, match="Unknown loss 'msq'"):
        keras_nos.OptimizerSearch(build, loss="msq")
    searcher = keras_nos.OptimizerSearch(build, loss="sparse_categorical_crossentropy", tracking_uri=uri, **TINY)
    with pytest.raises(KerasNosError, match="64 targets for 96 inputs"):
        searcher.search(x, y[:64], validation_data=(x, y))
    with pytest.raises(KerasNosError, match="validation_data must be"):
        searcher.search(x, y, validation_data=x)
    client = MlflowClient(uri)
    assert all(not client.search_runs([e.experiment_id]) for e in client.search_experiments())
