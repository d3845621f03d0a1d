"""End-to-end searches on the synthetic task: strategies, cache, MLflow, resume, CLI errors."""

import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from mlflow import MlflowClient

from keras_nos.cli import main as cli_main
from keras_nos.errors import KerasNosError
from keras_nos.search import read_leaderboard, search
from keras_nos.search.strategies import STRATEGIES, Strategy
from keras_nos.tracking.in_memory import InMemoryTracker
from keras_nos.tracking.store_lock import store_creation_lock

TINY = dict(task="synthetic", space="small", epochs=1, learning_rates=(0.01, 0.1), funnel_top_k=1, funnel_seeds=1,
            funnel_suite="none", progress=False)


def _client(uri):
    """A client of the store at ``uri`` opened as the search opens it (under its creation lock): a test that
    polls a store while a search creates it must not run MLflow's migrations beside the search's."""
    with store_creation_lock(uri):  # MLflow opens the store, and builds a new one, as the client is made
        client = MlflowClient(tracking_uri=uri)
        client.search_experiments(max_results=1)
    return client


def _children(uri, run_id):
    client = _client(uri)
    parent = client.get_run(run_id)
    return client.search_runs([parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{run_id}'")


def _search_run_id(uri, experiment="keras-nos"):
    client = _client(uri)
    experiment = client.get_experiment_by_name(experiment)
    runs = client.search_runs([experiment.experiment_id], filter_string="tags.`keras_nos.kind` = 'search'")
    return runs[0].info.run_id


def _wait_for_children(uri, count, process, timeout=240, stderr=None):
    """The run id of the only search in ``uri`` once it has ``count`` candidate runs (``process`` still running;
    ``stderr``: the file of its stderr, shown if it stopped)."""
    deadline = time.time() + timeout
    while time.time() < deadline and process.poll() is None:
        try:
            run_id = _search_run_id(uri)
            if len(_children(uri, run_id)) >= count:
                return run_id
        except Exception:  # the store or the run does not exist yet
            pass
        time.sleep(0.2)
    said = stderr.read_text()[-3000:] if stderr else ""
    pytest.fail(f"the search did not reach {count} candidates (exit {process.poll()}) {said}")


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_each_strategy_runs_a_tiny_search_end_to_end(tmp_path, strategy):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    options = {"pretrain_samples": 20} if strategy == "rl" else None
    rows = search(strategy=strategy, budget=4, batch_size=2, tracking_uri=uri, strategy_options=options, **TINY)
    assert rows and rows[0]["rank"] == 1
    assert all(rows[i]["funnel_reward"] is not None or rows[i]["reward"] <= rows[0]["reward"] for i in range(len(rows)))
    run_id = _search_run_id(uri)
    children = _children(uri, run_id)
    search_runs = [r for r in children if r.data.tags["keras_nos.stage"] == "search"]
    assert len(search_runs) == 4
    for child in search_runs:
        assert {"rule", "tokens", "fingerprint", "learning_rate"} <= set(child.data.params)
        assert "reward" in child.data.metrics and child.data.tags["keras_nos.strategy"] == strategy
    parent = MlflowClient(tracking_uri=uri).get_run(run_id)
    assert parent.data.params["strategy"] == strategy and parent.info.status == "FINISHED"
    artifacts = {a.path for a in MlflowClient(tracking_uri=uri).list_artifacts(run_id)}
    assert {"leaderboard.csv", "reward_vs_samples.png", "checkpoint"} <= artifacts
    assert [r["rule"] for r in read_leaderboard(uri, run_id)] == [r["rule"] for r in rows]


def test_parent_run_logs_the_learning_curve_and_the_controller_diagnostics_as_step_metrics(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    options = {"pretrain_samples": 20, "update_every": 3}
    search(strategy="rl", budget=6, batch_size=3, tracking_uri=uri, strategy_options=options,
           **dict(TINY, funnel_top_k=0))
    client = MlflowClient(tracking_uri=uri)
    run_id = _search_run_id(uri)
    history = {name: client.get_metric_history(run_id, name) for name in
               ("sample_reward", "best_reward", "moving_mean_reward", "hurdle_fail_fraction", "controller_entropy")}
    assert [m.step for m in history["sample_reward"]] == list(range(6))  # step = candidate index
    children = {int(r.data.tags["keras_nos.index"]): r.data.metrics["reward"] for r in _children(uri, run_id)}
    samples = [m.value for m in sorted(history["sample_reward"], key=lambda m: m.step)]
    assert samples == pytest.approx([children[i] for i in range(6)])
    assert [m.value for m in sorted(history["best_reward"], key=lambda m: m.step)] == pytest.approx(
        np.maximum.accumulate(samples))
    assert [m.value for m in history["moving_mean_reward"] if m.step == 5] == pytest.approx([np.mean(samples)])
    assert all(0 <= m.value <= 1 for m in history["hurdle_fail_fraction"])
    assert [m.step for m in history["controller_entropy"]] == [2, 5]  # after each batch's update


def test_funnel_top_k_zero_trains_nothing_after_the_search(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    rows = search(strategy="random", budget=3, batch_size=3, tracking_uri=uri, **dict(TINY, funnel_top_k=0))
    stages = [r.data.tags["keras_nos.stage"] for r in _children(uri, _search_run_id(uri))]
    assert stages == ["search"] * 3
    assert all(row["funnel_reward"] is None and not row["reference"] for row in rows)


def test_reward_seeds_reward_the_mean_over_seeds_and_log_each_while_the_funnel_trains_one_seed_a_run(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    search(strategy="random", budget=3, batch_size=3, tracking_uri=uri, reward_seeds=2, **TINY)
    run_id = _search_run_id(uri)
    client = MlflowClient(tracking_uri=uri)
    assert client.get_run(run_id).data.params["reward_seeds"] == "2"
    children = _children(uri, run_id)
    trained = [r for r in children if r.data.tags["keras_nos.stage"] == "search"
               and r.data.tags["keras_nos.status"] == "ok"]
    assert trained
    for child in trained:
        history = sorted(client.get_metric_history(child.info.run_id, "seed_reward"), key=lambda m: m.step)
        seeds = [m.value for m in history]
        assert len(seeds) == 2 and child.data.metrics["reward"] == pytest.approx(np.mean(seeds))
    funnel = [r for r in children if r.data.tags["keras_nos.stage"] == "funnel"]
    assert funnel and all("seed_reward" not in r.data.metrics for r in funnel)


class _RepeatingStrategy(Strategy):
    """Proposes the same two behaviours again and again."""

    name = "repeat"
    defaults = {}

    def _propose(self, n):
        return [["g", "1", "identity", "identity", "mul", "h0", "1", "identity", "identity", "mul"],
                ["sign(m)", "1", "identity", "identity", "mul", "h0", "1", "identity", "identity", "mul"]][:n]

    def observe(self, results):
        self.seen = results


def test_cache_answers_a_repeated_fingerprint(tmp_path, monkeypatch):
    import keras_nos.search.loop as loop

    monkeypatch.setitem(STRATEGIES, "repeat", _RepeatingStrategy)
    monkeypatch.setattr(loop, "make_strategy", lambda name, space, seed=0, **o: _RepeatingStrategy(space, seed))
    calls = []
    original = loop.make_executor

    def counting_executor(*args, **kwargs):
        executor = original(*args, **kwargs)
        inner = executor.map_unordered

        def map_unordered(rules):
            calls.extend(rules)
            return inner(rules)

        executor.map_unordered = map_unordered
        return executor

    monkeypatch.setattr(loop, "make_executor", counting_executor)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    search(strategy="repeat", budget=6, batch_size=2, tracking_uri=uri, **dict(TINY, funnel_top_k=0))
    assert len(calls) == 2  # two behaviours trained once each; four proposals answered from the cache
    children = [r for r in _children(uri, _search_run_id(uri)) if r.data.tags["keras_nos.stage"] == "search"]
    assert sum(r.data.tags["keras_nos.cache_hit"] == "true" for r in children) == 4


def test_funnel_trains_on_the_executor_seed_by_seed_and_a_resume_runs_only_what_is_missing(tmp_path, monkeypatch):
    import keras_nos.search.loop as loop
    from keras_nos.tasks import Evaluator

    reconfigured, funnel_logs = [], []
    original_executor, original_log = loop.make_executor, loop.SearchTracker.log_candidate

    def spying_executor(*args, **kwargs):
        executor = original_executor(*args, **kwargs)
        inner = executor.reconfigure

        def reconfigure(options, timeout=None):
            reconfigured.append((options["seed"], options["epochs"], options["hurdles"]))
            return inner(options, timeout)

        executor.reconfigure = reconfigure
        return executor

    def crashing_log(self, trial):
        if trial.stage == "funnel":
            funnel_logs.append(trial.seed)
            if len(funnel_logs) == 3:  # the machine goes down after the first result of seed 1
                raise RuntimeError("power cut")
        return original_log(self, trial)

    monkeypatch.setattr(loop, "make_executor", spying_executor)
    monkeypatch.setattr(loop.SearchTracker, "log_candidate", crashing_log)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    options = dict(TINY, strategy="random", budget=3, batch_size=3, funnel_seeds=2, funnel_epochs=2, tracking_uri=uri)
    with pytest.raises(RuntimeError, match="power cut"):
        search(**options)
    # The top rule and Adam with seed 0 on fresh workers, Adam twice as long for the speedup, then seed 1.
    assert reconfigured == [(0, 2, ()), (0, 4, ()), (1, 2, ())]
    reconfigured.clear()
    rows = search(resume=_search_run_id(uri), **options)
    assert reconfigured == [(1, 2, ()), (1, 4, ())]  # seed 0 was checkpointed: only seed 1 runs again
    funnel_runs = [r for r in _children(uri, _search_run_id(uri)) if r.data.tags["keras_nos.stage"] == "funnel"]
    assert sorted(int(r.data.params["seed"]) for r in funnel_runs) == [0, 0, 1, 1]
    top = next(row for row in rows if not row["reference"])
    alone = [Evaluator("synthetic", learning_rates=(0.01, 0.1), seed=seed, epochs=2, hurdles=()).evaluate(top["rule"])
             for seed in (0, 1)]
    assert top["funnel_reward"] == pytest.approx(np.mean([r.reward for r in alone]), abs=1e-6)
    assert top["funnel_std"] == pytest.approx(np.std([r.reward for r in alone]), abs=1e-6)
    adam = [Evaluator("synthetic", learning_rates=(0.01, 0.1), seed=seed, epochs=2, hurdles=()).evaluate("adam")
            for seed in (0, 1)]
    differences = [r.reward - a.reward for r, a in zip(alone, adam)]  # paired by seed, Adam on the same grid
    assert top["vs_adam"] == pytest.approx(np.mean(differences), abs=1e-6)
    assert top["vs_adam_se"] == pytest.approx(np.std(differences, ddof=1) / np.sqrt(2), abs=1e-6)
    read_back = next(r for r in read_leaderboard(uri, _search_run_id(uri)) if r["fingerprint"] == top["fingerprint"])
    assert (read_back["vs_adam"], read_back["vs_adam_se"]) == pytest.approx((top["vs_adam"], top["vs_adam_se"]))


def test_resume_after_stop_loses_and_repeats_nothing(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    options = dict(TINY, strategy="evolution", budget=6, batch_size=2, tracking_uri=uri)
    search(max_batches=1, **options)
    run_id = _search_run_id(uri)
    before = {r.info.run_id for r in _children(uri, run_id)}
    assert len(before) == 2
    search(resume=run_id, **options)
    children = [r for r in _children(uri, run_id) if r.data.tags["keras_nos.stage"] == "search"]
    indices = sorted(int(r.data.tags["keras_nos.index"]) for r in children)
    assert indices == list(range(6))  # every candidate once, none repeated
    assert before <= {r.info.run_id for r in children}


@pytest.mark.parametrize("cut", ["before its rule", "before its status"])
def test_resume_discards_a_candidate_run_cut_off_mid_write(tmp_path, monkeypatch, cut):
    # A kill can land inside log_candidate: after its run was created (no rule yet), or just before it was
    # terminated. That candidate never finished: the resume must evaluate it again, once, and drop the stub.
    from keras_nos.tracking import SearchTracker

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    options = dict(TINY, strategy="random", budget=4, batch_size=2, funnel_top_k=0, tracking_uri=uri)
    owner, name = (SearchTracker, "_log_params") if cut == "before its rule" else (MlflowClient, "set_terminated")
    original, calls = getattr(owner, name), []

    def power_cut(self, run_id, *args, **kwargs):
        if run_id != _search_run_id(uri):  # a candidate's run, not the parent's
            calls.append(run_id)
            if len(calls) == 3:  # the third candidate's write is cut off
                raise KeyboardInterrupt("power cut")
        return original(self, run_id, *args, **kwargs)

    monkeypatch.setattr(owner, name, power_cut)
    with pytest.raises(KeyboardInterrupt):
        search(**options)
    monkeypatch.setattr(owner, name, original)
    run_id = _search_run_id(uri)
    stub = calls[2]
    assert MlflowClient(tracking_uri=uri).get_run(stub).info.status == "RUNNING"
    search(resume=run_id, **options)
    children = _children(uri, run_id)
    assert stub not in {r.info.run_id for r in children}
    assert sorted(int(r.data.tags["keras_nos.index"]) for r in children) == [0, 1, 2, 3]
    assert all(r.info.status in ("FINISHED", "FAILED") and "rule" in r.data.params for r in children)


def test_resume_takes_every_setting_from_the_parent_run(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    options = dict(TINY, strategy="evolution", budget=6, batch_size=2, seed=3, reward_seeds=2, experiment="other")
    search(max_batches=1, tracking_uri=uri, **options)
    client = MlflowClient(tracking_uri=uri)
    run_id = _search_run_id(uri, "other")
    search(resume=run_id, tracking_uri=uri, progress=False)  # nothing else: the stored settings are used
    children = _children(uri, run_id)
    trained = [r for r in children if r.data.tags["keras_nos.stage"] == "search"]
    assert sorted(int(r.data.tags["keras_nos.index"]) for r in trained) == list(range(6))
    assert {r.data.tags["keras_nos.strategy"] for r in trained} == {"evolution"}
    assert {r.data.params["seed"] for r in trained} == {"3"} and {r.data.params["task"] for r in trained} == {"synthetic"}
    assert all(len(client.get_metric_history(r.info.run_id, "seed_reward")) == 2 for r in trained
               if r.data.tags["keras_nos.status"] == "ok")
    funnel = [r for r in children if r.data.tags["keras_nos.stage"] == "funnel"]
    assert len(funnel) == 2  # funnel_top_k=1 and funnel_seeds=1: the top rule and Adam, once each


def test_resume_refuses_a_contradicting_setting_and_may_raise_the_budget(tmp_path, capsys):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    options = dict(TINY, strategy="random", budget=4, batch_size=2, funnel_top_k=0, tracking_uri=uri)
    search(max_batches=1, **options)
    run_id = _search_run_id(uri)
    with pytest.raises(ValueError, match=r"strategy='rl' contradicts the strategy='random'"):
        search(resume=run_id, tracking_uri=uri, strategy="rl")
    with pytest.raises(ValueError, match=r"budget=3 contradicts the budget=4"):
        search(resume=run_id, tracking_uri=uri, budget=3)
    assert cli_main(["search", "--resume", run_id, "--tracking-uri", uri, "--lr", "0.5"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "learning_rates=(0.5,)" in err and "[0.01, 0.1]" in err, err
    assert len(_children(uri, run_id)) == 2  # the refused resumes ran nothing
    search(resume=run_id, tracking_uri=uri, budget=6, progress=False, **{"strategy": "random", "workers": 2})
    assert sorted(int(r.data.tags["keras_nos.index"]) for r in _children(uri, run_id)) == list(range(6))
    search(resume=run_id, tracking_uri=uri, progress=False)  # the raised budget is stored: nothing left to do
    assert len(_children(uri, run_id)) == 6


def test_a_run_made_before_settings_were_stored_is_refused_with_one_clear_error(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    options = dict(TINY, strategy="random", budget=4, batch_size=2, funnel_top_k=0, tracking_uri=uri)
    search(max_batches=1, **options)
    run_id = _search_run_id(uri)
    MlflowClient(tracking_uri=uri).delete_tag(run_id, "keras_nos.settings")
    with pytest.raises(KerasNosError, match="no stored settings.*earlier keras_nos version"):
        search(resume=run_id, **options)
    assert len(_children(uri, run_id)) == 2  # the refused resume ran nothing


@pytest.mark.parametrize("evaluator, batch_size", [("keras", 2), ("batched", 6)])
def test_resume_after_kill_9_needs_only_the_run_id(tmp_path, evaluator, batch_size):
    # Most random rules fail the hurdles in milliseconds; the budget must outlast the poll below, or the
    # search finishes before the kill (8 candidates did, on an idle machine). With the batched evaluator the
    # kill lands while a worker trains the second batch (or a later one) as one program.
    BUDGET = 30
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    command = [sys.executable, "-m", "keras_nos.cli", "search", "--tracking-uri", uri]
    with open(tmp_path / "stderr", "w") as stderr:
        process = subprocess.Popen(command + ["--task", "digits-mlp", "--strategy", "random", "--budget", str(BUDGET),
                                              "--batch-size", str(batch_size), "--epochs", "1", "--funnel-top-k", "0",
                                              "--evaluator", evaluator],
                                   cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=stderr)
    run_id = _wait_for_children(uri, batch_size + 1, process, stderr=tmp_path / "stderr")  # a batch kept, the next begun
    process.send_signal(signal.SIGKILL)
    process.wait()
    # the kill may land while a candidate's run is being written: a run not yet terminated never finished
    finished_before = {int(r.data.tags["keras_nos.index"]): (r.info.run_id, r.data.params["rule"])
                       for r in _children(uri, run_id) if r.info.status != "RUNNING"}
    assert 0 < len(finished_before) < BUDGET
    resumed = subprocess.run(command + ["--resume", run_id], cwd=tmp_path, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "I0000" not in resumed.stderr and "absl::InitializeLog" not in resumed.stderr  # no worker's TF chatter
    children = _children(uri, run_id)
    assert all(r.info.status != "RUNNING" for r in children)  # the half-written run, if any, is gone
    assert {r.data.tags["keras_nos.stage"] for r in children} == {"search"}  # the stored funnel_top_k=0
    by_index = {}
    for child in children:
        by_index.setdefault(int(child.data.tags["keras_nos.index"]), []).append((child.info.run_id,
                                                                                 child.data.params["rule"]))
    assert sorted(by_index) == list(range(BUDGET))
    assert all(len(runs) == 1 for runs in by_index.values())  # nothing evaluated twice
    assert all(by_index[i] == [run] for i, run in finished_before.items())  # nothing finished lost or redone
    assert {child.data.params["task"] for child in children} == {"digits-mlp"}
    assert _client(uri).get_run(run_id).data.params["evaluator"] == evaluator


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["search", "--task", "nope"], "Unknown task 'nope'"),
        (["search", "--strategy", "nope"], "Unknown strategy 'nope'"),
        (["search", "--space", "nope"], "Unknown search space 'nope'; allowed: paper"),
        (["search", "--budget", "0"], "budget must be a whole number of candidates >= 1, got 0"),
        (["search", "--tracking-uri", "http://127.0.0.1:9"], "'http://127.0.0.1:9' is unreachable"),
        (["search", "--resume", "0123456789abcdef"], "No search run with id '0123456789abcdef'"),
        (["evaluate", "exp(g", "--task", "synthetic"], "Unbalanced parentheses"),
        (["evaluate", "g", "--task", "nope"], "Unknown task"),
        (["evaluate", "g", "--task", "synthetic", "--lr-search", "nope"], "invalid choice: 'nope'"),
        (["evaluate", "g", "--task", "synthetic", "--reward-seeds", "0"], "must be at least 1, got 0"),
        (["evaluate", "g", "--task", "synthetic", "--reward-seeds", "2", "--lr-search", "optuna"],
         "reward_seeds=2 needs lr_search 'grid' or 'halving'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys, argv, fragment):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    assert cli_main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and fragment in err
    if "--tracking-uri" not in argv:
        client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db")
        experiment = client.get_experiment_by_name("keras-nos")
        assert experiment is None or not client.search_runs([experiment.experiment_id])  # nothing written


def test_evaluate_prints_the_best_rate_with_each_seed(capsys):
    argv = ["evaluate", "g", "--task", "synthetic", "--lr", "0.1", "--epochs", "1", "--no-hurdles",
            "--reward-seeds", "2"]
    assert cli_main(argv) == 0
    out = capsys.readouterr().out
    seeds = re.search(r"best lr with each seed: ([0-9.]+), ([0-9.]+)", out)
    reward = re.search(r"reward ([0-9.]+)", out)
    assert seeds and reward
    assert float(reward[1]) == pytest.approx((float(seeds[1]) + float(seeds[2])) / 2, abs=1e-4)


def test_search_against_a_real_mlflow_server(mlflow_server):
    uri = mlflow_server.uri
    rows = search(strategy="random", budget=3, batch_size=3, tracking_uri=uri, **TINY)
    run_id = _search_run_id(uri)
    assert len([r for r in _children(uri, run_id) if r.data.tags["keras_nos.stage"] == "search"]) == 3
    assert [r["rule"] for r in read_leaderboard(uri, run_id)] == [r["rule"] for r in rows]
    assert "leaderboard.csv" in {a.path for a in MlflowClient(tracking_uri=uri).list_artifacts(run_id)}


def test_a_search_checkpoint_from_an_older_version_gets_one_clear_error(tmp_path):
    from keras_nos.tracking import SearchTracker

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    search(max_batches=1, tracking_uri=uri, **dict(TINY, strategy="random", budget=4, batch_size=2))
    run_id = _search_run_id(uri)
    tracker = SearchTracker(uri, run_id=run_id)
    state = tracker.load_checkpoint()
    del state["reference_speedups"]  # as a checkpoint written before the funnel had Adam references
    tracker.save_checkpoint(state)
    with pytest.raises(KerasNosError, match="older keras_nos .*reference_speedups.*start a new search"):
        search(resume=run_id, tracking_uri=uri, progress=False)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_the_progress_bar_shows_the_best_reward_while_the_batch_is_still_training(capsys, mode):
    """A batch's trials reach the records only when it ends; the bar must show them as they finish."""
    tracker = InMemoryTracker()
    search(tracking_uri=tracker, strategy="random", budget=4, batch_size=4, mode=mode, seed=3,
           **dict(TINY, funnel_top_k=0, progress=True))
    shown = [float(best) for best in re.findall(r"best=([0-9.]+)", capsys.readouterr().err)]
    best = max(trial.reward for trial in tracker.trials)
    assert best > 0 and shown and shown[-1] == pytest.approx(best, abs=1e-4)
