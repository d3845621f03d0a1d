"""keras-nos compare: table and MLflow runs, equal tuning budgets, errors, Rosenbrock, user tasks, funnel suite."""

import math

import keras
import numpy as np
import pytest
from mlflow import MlflowClient

from keras_nos.cli import main as cli_main
from keras_nos.compare import Budget, CompareTask, Training, compare, get_compare_task, register_compare_task
from keras_nos.compare.runner import make_budget, tune
from keras_nos.compare.suite import COMPARE_TASKS, DEFAULT_SUITE, rosenbrock_trajectory, train_rosenbrock
from keras_nos.search import read_leaderboard, search
from keras_nos.search.leaderboard import format_leaderboard

QUICK = ["--tasks", "rosenbrock,friedman-regression", "--seeds", "2", "--lr-grid", "3", "--scale", "0.1",
         "--no-progress"]


def _runs(uri, parent_id):
    client = MlflowClient(tracking_uri=uri)
    parent = client.get_run(parent_id)
    return client.search_runs([parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent_id}'",
                              max_results=1000)


def _quadratic_train(task, data, optimizer, seed, epochs, split):
    """A user task with its own train function: minimise |w - 3|^2 from 0 with optimizer.apply."""
    variable = keras.Variable(np.zeros(4, dtype="float32"))
    optimizer.build([variable])
    losses = []
    for _ in range(epochs * task.steps_per_epoch):
        w = keras.ops.convert_to_numpy(variable.value)
        losses.append(float(np.sum((w - 3) ** 2)))
        optimizer.apply([keras.ops.convert_to_tensor(2 * (w - 3))], [variable])
    final = float(np.sum((keras.ops.convert_to_numpy(variable.value) - 3) ** 2))
    per = task.steps_per_epoch
    return Training(tuple(per * (k + 1) for k in range(epochs)),
                    tuple(float(np.mean(losses[k * per:(k + 1) * per])) for k in range(epochs)),
                    final if math.isfinite(final) else float("nan"))


QUADRATIC = CompareTask(name="test-quadratic", load_data=lambda seed: None, train=_quadratic_train, metric="loss",
                        higher_is_better=False, epochs=4, steps_per_epoch=5, description="|w - 3|^2, 20 steps")


@pytest.fixture(scope="module", autouse=True)
def quadratic_task():
    register_compare_task(QUADRATIC, overwrite=True)
    yield
    COMPARE_TASKS.pop(QUADRATIC.name, None)


def test_cli_prints_the_tables_and_logs_every_training_to_mlflow(tmp_path, capsys):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    assert cli_main(["compare", "powersign", "--baselines", "adam", "--tracking-uri", uri] + QUICK) == 0
    out = capsys.readouterr().out
    assert "| `powersign` |" in out and "| `adam` |" in out and "mean rank" in out and "speedup rosenbrock" in out
    assert "### friedman-regression" in out and "### rosenbrock" in out
    parent_id = out.split("compare run ")[1].split()[0]
    client = MlflowClient(tracking_uri=uri)
    parent = client.get_run(parent_id)
    assert parent.info.status == "FINISHED" and parent.data.tags["keras_nos.kind"] == "compare"
    assert {"mean_rank.adam", "mean_rank.powersign"} <= set(parent.data.metrics)
    children = _runs(uri, parent_id)
    by_stage = {}
    for run in children:
        tags = run.data.tags
        key = (tags["keras_nos.stage"], tags["keras_nos.task"], tags["keras_nos.optimizer"])
        by_stage.setdefault(key, []).append(run)
    for task in ("rosenbrock", "friedman-regression"):
        for optimizer in ("powersign", "adam"):
            # equal budgets: exactly --lr-grid trials per optimizer and task, at the same three rates
            tune_runs = by_stage[("tune", task, optimizer)]
            assert sorted(float(r.data.params["learning_rate"]) for r in tune_runs) == pytest.approx([1e-4, 1e-2, 1.0])
            seed_runs = by_stage[("seed", task, optimizer)]
            assert sorted(r.data.params["seed"] for r in seed_runs) == ["1", "2"]
            curve = client.get_metric_history(seed_runs[0].info.run_id, "train_loss")
            assert len(curve) >= 1 and all(m.step > 0 for m in curve)
    assert len(children) == 2 * 2 * (3 + 2)
    artifacts = {a.path for a in client.list_artifacts(parent_id)}
    assert {"comparison.md", "loss_curves.png"} <= artifacts


def test_every_optimizer_gets_the_same_number_of_trials(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    comparison = compare(["addsign"], baselines=["adam", "sgd"], tasks=["test-quadratic"], seeds=1, lr_grid=4,
                         tuner="optuna", tracking_uri=uri, progress=False)
    for spec in ("addsign", "adam", "sgd"):
        outcome = comparison.outcome("test-quadratic", spec)
        assert len(outcome.trials) == 4 and len(outcome.seeds) == 1
        assert outcome.best_learning_rate in [lr for lr, _ in outcome.trials]
    with pytest.raises(ValueError, match="same tuning budget"):
        compare(["addsign"], baselines=["adam"], tasks=["test-quadratic"], lr_grid={"addsign": 2, "adam": 5},
                tracking_uri=uri, progress=False)
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError):
            make_budget(lr_grid=bad)
    # tune() itself checks the count it promised
    budget = Budget(trials=3, seeds=1)
    trials, _ = tune(QUADRATIC, None, "sgd", budget, scale=1.0)
    assert [lr for lr, _ in trials] == pytest.approx([1e-4, 1e-2, 1.0])


@pytest.mark.parametrize("argv, fragment", [
    (["compare", "exp(((", "--tasks", "rosenbrock"], "Unknown optimizer 'exp((('"),
    (["compare", "powersign", "--baselines", "adam,notanoptimizer"], "Unknown optimizer 'notanoptimizer'"),
    (["compare", "powersign", "--tasks", "rosenbrock,nosuchtask"], "Unknown compare task 'nosuchtask'"),
    (["compare", "powersign", "--lr-grid", "0"], "--lr-grid: must be at least 1, got 0"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv, fragment):
    assert cli_main(argv + ["--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("keras-nos: error:") and fragment in err and err.count("\n") == 1
    assert not (tmp_path / "mlflow.db").exists()  # checked before anything was written


def test_rosenbrock_is_minimised_by_adam_and_sgd_at_a_large_rate_diverges():
    points, values = rosenbrock_trajectory(keras.optimizers.Adam(learning_rate=0.1), 500)
    assert values[0] == pytest.approx(12.5)  # f(-1.5, 2)
    assert values[-1] < 0.01 * values[0]
    assert np.allclose(points[-1], [1.0, 1.0], atol=0.2)
    task = get_compare_task("rosenbrock")
    diverged = train_rosenbrock(task, None, keras.optimizers.SGD(learning_rate=0.1), 0, task.epochs, "test")
    assert math.isnan(diverged.metric)
    reduced = train_rosenbrock(task, None, keras.optimizers.Adam(learning_rate=0.1), 0, task.epochs, "test")
    assert reduced.metric < 0.125 and reduced.losses[-1] < reduced.losses[0]


def test_suite_has_six_tasks_that_each_declare_their_metric():
    assert len(DEFAULT_SUITE) >= 6
    for name in DEFAULT_SUITE:
        task = get_compare_task(name)
        assert task.metric in ("accuracy", "mse", "loss") and task.higher_is_better == (task.metric == "accuracy")
        assert task.description


def test_a_user_registered_network_task_runs_and_duplicates_are_refused(tmp_path):
    from keras_nos.tasks.datasets import Splits

    def load(seed):
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(96, 3)).astype("float32")
        y = (x @ np.array([1.0, -2.0, 0.5], dtype="float32"))[:, None]
        return Splits(x[:64], y[:64], x[64:80], y[64:80], x[80:], y[80:])

    task = CompareTask(name="test-linear", load_data=load, build_model=lambda data: keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(1)]), loss="mse", metric="mse", higher_is_better=False, epochs=3,
        batch_size=16)
    register_compare_task(task)
    try:
        with pytest.raises(ValueError, match="already registered"):
            register_compare_task(task)
        comparison = compare(["momentum"], baselines=["adam"], tasks="test-linear", seeds=1, lr_grid=2,
                             lr_range=(1e-2, 1e-1), tracking_uri=f"sqlite:///{tmp_path}/mlflow.db", progress=False)
        for spec in ("momentum", "adam"):
            outcome = comparison.outcome("test-linear", spec)
            assert math.isfinite(outcome.mean) and outcome.seeds[0].steps == (4, 8, 12)
    finally:
        COMPARE_TASKS.pop("test-linear", None)
    with pytest.raises(ValueError, match="registered compare tasks:.*rosenbrock"):
        get_compare_task("test-linear")


def test_funnel_suite_adds_a_generalization_column(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    rows = search(task="synthetic", space="small", strategy="random", budget=3, batch_size=3, epochs=1,
                  learning_rates=(0.01, 0.1), funnel_top_k=1, funnel_seeds=1, funnel_suite=["test-quadratic"],
                  tracking_uri=uri, progress=False)
    found = [row for row in rows if not row["reference"]]
    assert found[0]["suite_vs_adam"] in ("0/1", "1/1")
    assert all(row["suite_vs_adam"] is None for row in found[1:])
    assert "suite wins" in format_leaderboard(rows)
    client = MlflowClient(tracking_uri=uri)
    search_id = client.search_runs([client.get_experiment_by_name("keras-nos").experiment_id],
                                   filter_string="tags.`keras_nos.kind` = 'search'")[0].info.run_id
    read_back = {row["fingerprint"]: row["suite_vs_adam"] for row in read_leaderboard(uri, search_id)}
    assert read_back == {row["fingerprint"]: row["suite_vs_adam"] for row in rows}
    suite_runs = [r for r in _runs(uri, search_id) if r.data.tags.get("keras_nos.stage") == "suite"]
    assert len(suite_runs) == 1
    # the rule and Adam, each with the search's two learning rates and one seed
    assert len(_runs(uri, suite_runs[0].info.run_id)) == 2 * (2 + 1)
    csv = client.download_artifacts(search_id, "leaderboard.csv", str(tmp_path))
    assert "suite_vs_adam" in open(csv).readline()
    with pytest.raises(ValueError, match="Unknown compare task"):
        search(task="synthetic", space="small", strategy="random", budget=3, funnel_suite=["nope"], tracking_uri=uri,
               progress=False)


def test_rosenbrock_example_writes_the_picture_and_logs_it(tmp_path):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "examples" / "rosenbrock.py"
    spec = importlib.util.spec_from_file_location("rosenbrock_example", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    out, uri = tmp_path / "r.png", f"sqlite:///{tmp_path}/mlflow.db"
    assert example.main(["--optimizers", "adam,powersign", "--steps", "50", "--lr-grid", "2", "--lr-range", "1e-2,1e-1",
                         "--out", str(out), "--tracking-uri", uri]) == 0
    assert out.stat().st_size > 10_000
    client = MlflowClient(tracking_uri=uri)
    run = client.search_runs([client.get_experiment_by_name("keras-nos").experiment_id])[0]
    assert {"lr.adam", "lr.powersign"} <= set(run.data.params) and run.data.metrics["final_f.adam"] < 12.5
    assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["r.png"]


def test_rosenbrock_example_keeps_tensorflow_start_up_lines_off_the_terminal(tmp_path):
    from example_scripts import run_example

    done = run_example("rosenbrock.py", "--optimizers", "adam", "--steps", "10", "--lr-grid", "1",
                       "--out", str(tmp_path / "r.png"), "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db",
                       cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "absl" not in done.stderr and "oneDNN" not in done.stderr and "cuda" not in done.stderr, done.stderr
