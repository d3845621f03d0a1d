"""Executors: Ray gives the local pool's results; workers killed mid-evaluation; timeouts; asynchronous mode.

The Ray tests run on a local Ray instance this module starts and are skipped
when Ray is not installed. A worker is killed with SIGKILL while it evaluates:
the test-only task's ``build_model`` claims a marker file (writing its process
id) and then waits, so the test knows which process to kill and when.
"""

import functools
import hashlib
import os
import signal
import sys
import threading
import time

import pytest
from mlflow import MlflowClient

from keras_nos.cli import build_parser
from keras_nos.dsl import fingerprint as rule_fingerprint
from keras_nos.dsl import parse_rule
from keras_nos.executors import Executor, make_executor
from keras_nos.search import search
from keras_nos.tracking import SearchTracker
from keras_nos.tracking.in_memory import InMemoryTracker
from keras_nos.tasks import EvaluationResult, Task, get_task, models, register_task

try:
    import ray
except ImportError:
    ray = None

needs_ray = pytest.mark.skipif(ray is None, reason="Ray is not installed: pip install keras-nos[ray]")

TINY = dict(task="synthetic", space="small", strategy="random", budget=4, batch_size=4, seed=0, epochs=1,
            learning_rates=(0.01, 0.1), hurdles=(), funnel_top_k=1, funnel_seeds=1, funnel_suite="none",
            progress=False)
TRAINED = ("ok", "diverged", "no_progress")  # statuses of a candidate that was trained (no hurdles here)


def _claiming_mlp(input_shape, num_classes, folder, claims, driver, name=None):
    """The synthetic task's MLP, but the first builds in workers claim ``claims`` and wait there to be killed."""
    if os.getpid() != driver:  # only in workers: the driver must never wait to be killed
        for claim in claims:
            try:
                handle = os.open(os.path.join(folder, claim), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                continue
            os.write(handle, str(os.getpid()).encode())
            os.close(handle)
            deadline = time.time() + 300
            while time.time() < deadline:  # killed here, by the test ("kill") or the executor's timeout ("hang")
                time.sleep(0.1)
            break
    return models.mlp(input_shape, num_classes, name=name, hidden=16)


def _claiming_task(folder, claims):
    synthetic = get_task("synthetic")
    name = f"claiming-{os.path.basename(folder)}"
    register_task(Task(name=name, load_data=synthetic.load_data, epochs=synthetic.epochs,
                       batch_size=synthetic.batch_size, description="synthetic, whose workers can be killed",
                       build_model=functools.partial(_claiming_mlp, folder=str(folder), claims=tuple(claims),
                                                     driver=os.getpid())),
                  overwrite=True)
    return name


class _Killer(threading.Thread):
    """Kills (SIGKILL) the process that claims ``folder/kill``."""

    def __init__(self, folder):
        super().__init__(daemon=True)
        self.path, self.pid = os.path.join(folder, "kill"), None

    def run(self):
        deadline = time.time() + 240
        while time.time() < deadline:
            try:
                with open(self.path) as handle:
                    text = handle.read()
            except FileNotFoundError:
                text = ""
            if text:
                self.pid = int(text)
                os.kill(self.pid, signal.SIGKILL)
                return
            time.sleep(0.1)


def _search_children(uri):
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("keras-nos")
    parent = client.search_runs([experiment.experiment_id], filter_string="tags.`keras_nos.kind` = 'search'")[0]
    children = client.search_runs([experiment.experiment_id],
                                  filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    return [c for c in children if c.data.tags["keras_nos.stage"] == "search"]


def _by_rule(uri):
    """rule -> (status, reward, message) of every search candidate; also checks each index appears once."""
    children = _search_children(uri)
    indices = sorted(int(c.data.tags["keras_nos.index"]) for c in children)
    assert indices == list(range(TINY["budget"]))
    return {c.data.params["rule"]: (c.data.tags["keras_nos.status"], c.data.metrics["reward"],
                                    c.data.tags.get("keras_nos.message", "")) for c in children}


def _board(rows):
    return [(r["rule"], r["reward"], r["funnel_reward"]) for r in rows]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The tiny search on the local pool (2 workers), synchronous: its leaderboard and its candidates by rule."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('reference')}/mlflow.db"
    rows = search(tracking_uri=uri, workers=2, **TINY)
    by_rule = _by_rule(uri)
    assert all(status in TRAINED for status, _, _ in by_rule.values()), by_rule  # each builds models: claims work
    assert any(status == "ok" for status, _, _ in by_rule.values()), by_rule
    return rows, by_rule


@pytest.fixture(scope="module")
def local_ray():
    if ray is None:
        pytest.skip("Ray is not installed: pip install keras-nos[ray]")
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # Ray workers do not see tests/ on sys.path
    yield ray
    ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    if started:
        ray.shutdown()


@needs_ray
def test_ray_search_gives_the_local_leaderboard(tmp_path, reference, local_ray):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    rows = search(tracking_uri=uri, workers=2, executor="ray", **TINY)
    assert _board(rows) == _board(reference[0])
    assert _by_rule(uri) == reference[1]
    parent = MlflowClient(tracking_uri=uri).search_runs(
        [MlflowClient(tracking_uri=uri).get_experiment_by_name("keras-nos").experiment_id],
        filter_string="tags.`keras_nos.kind` = 'search'")[0]
    assert parent.data.params["executor"] == "ray" and parent.data.params["ray_address"] == "local"


@needs_ray
def test_ray_worker_killed_mid_evaluation_is_retried_and_a_hang_times_out(tmp_path, reference, local_ray):
    """In async mode: the random strategy's proposals do not depend on rewards, so the candidates are the reference's."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    task = _claiming_task(tmp_path, ["kill", "hang"])
    killer = _Killer(tmp_path)
    killer.start()
    started = time.time()
    # 30 s: the retry of the killed candidate starts a fresh actor (TensorFlow import and all), which took
    # over 15 s on a loaded 2-core machine and was timed out beside the hang.
    search(tracking_uri=uri, workers=2, executor="ray", candidate_timeout=30, max_retries=2, mode="async",
           **dict(TINY, task=task))
    killer.join(1)
    assert killer.pid is not None and time.time() - started < 240
    with pytest.raises(ProcessLookupError):
        os.kill(killer.pid, 0)
    results = _by_rule(uri)
    timed_out = [rule for rule, (status, _, _) in results.items() if status == "timeout"]
    assert len(timed_out) == 1 and "30 s" in results[timed_out[0]][2]
    # The killed candidate was retried on a fresh actor: every other result is the reference's.
    assert {r: v[:2] for r, v in results.items() if r not in timed_out} == \
        {r: v[:2] for r, v in reference[1].items() if r not in timed_out}


def test_local_pool_worker_killed_mid_evaluation_is_worker_lost_and_a_hang_times_out(tmp_path, reference):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    task = _claiming_task(tmp_path, ["kill", "hang"])
    killer = _Killer(tmp_path)
    killer.start()
    search(tracking_uri=uri, workers=2, executor="local", candidate_timeout=15, max_retries=0, **dict(TINY, task=task))
    killer.join(1)
    assert killer.pid is not None
    results = _by_rule(uri)
    statuses = sorted(status for status, _, _ in results.values())
    lost = [rule for rule, (status, _, _) in results.items() if status in ("worker_lost", "timeout")]
    assert statuses.count("worker_lost") == 1 and statuses.count("timeout") == 1, results
    assert any(f"worker process {killer.pid} died" in results[rule][2] for rule in lost)
    assert {r: v[:2] for r, v in results.items() if r not in lost} == \
        {r: v[:2] for r, v in reference[1].items() if r not in lost}


class _ReversingExecutor(Executor):
    """Finishes the newest submitted candidate first, at once, with a reward made from the rule's text."""

    name = "reversing"

    def _wait(self):
        ticket = self._queue.pop()
        rule = parse_rule(self._tasks[ticket].rule)
        reward = int(hashlib.sha256(str(rule).encode()).hexdigest()[:6], 16) / 16**6
        self._finish(ticket, EvaluationResult(str(rule), rule_fingerprint(rule), "synthetic", "ok", reward=reward,
                                              best_learning_rate=0.1))


def test_async_mode_observes_out_of_order_results_and_resumes_with_the_candidates_in_flight(tmp_path, monkeypatch):
    import keras_nos.search.loop as loop

    monkeypatch.setattr(loop, "make_executor", lambda name, options, workers, **kw: _ReversingExecutor(options, workers))
    options = dict(TINY, budget=6, batch_size=2, workers=3, mode="async")
    whole = f"sqlite:///{tmp_path}/whole.db"
    search(tracking_uri=whole, **options)
    uri = f"sqlite:///{tmp_path}/stopped.db"
    search(tracking_uri=uri, max_batches=1, **options)  # stops at the first checkpoint, candidates in flight
    children = _search_children(uri)
    assert len(children) == 2
    run_id = children[0].data.tags["mlflow.parentRunId"]
    tracker = SearchTracker(uri, run_id=run_id)
    state = tracker.load_checkpoint()
    assert [r["index"] for r in state["records"]] == [2, 3]  # the newest finish first
    assert [index for index, _ in state["pending"]] == [0, 1] and state["next_index"] == 4  # in flight: none lost
    search(tracking_uri=uri, resume=run_id, **options)
    by_index = {}
    for child in _search_children(uri):
        by_index.setdefault(int(child.data.tags["keras_nos.index"]), []).append(child.data.params["rule"])
    assert sorted(by_index) == list(range(6)) and all(len(rules) == 1 for rules in by_index.values())
    assert {i: rules[0] for i, rules in by_index.items()} == \
        {int(c.data.tags["keras_nos.index"]): c.data.params["rule"] for c in _search_children(whole)}


def test_cli_passes_the_executor_flags():
    args = build_parser().parse_args(["search", "--executor", "ray", "--ray-address", "auto", "--workers", "8",
                                      "--timeout", "600", "--max-retries", "1", "--async"])
    assert (args.executor, args.ray_address, args.workers, args.candidate_timeout, args.max_retries, args.mode) == \
        ("ray", "auto", 8, 600.0, 1, "async")
    left_out = vars(build_parser().parse_args(["search"]))  # search() fills in its defaults or the parent run's
    assert not {"executor", "ray_address", "candidate_timeout", "max_retries", "mode", "workers"} & set(left_out)
    with pytest.raises(ValueError):
        build_parser().parse_args(["search", "--executor", "dask"])
    with pytest.raises(ValueError, match="ray_address"):
        search(task="synthetic", executor="local", ray_address="auto", budget=1)
    with pytest.raises(ValueError, match="mode"):
        search(task="synthetic", mode="eventually", budget=1)


def test_missing_ray_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # "import ray" now raises ImportError
    with pytest.raises(ImportError, match=r"pip install keras-nos\[ray\]") as error:
        make_executor("ray", dict(task="synthetic"), workers=1)
    assert isinstance(error.value, ValueError)  # the CLI prints it as one line and exits with status 2


@needs_ray
def test_ray_actors_train_shares_of_a_batch_with_the_batched_evaluator_as_local_workers_do(local_ray):
    """Ray actors of the batched evaluator run Keras on JAX (their runtime environment says so) and give the
    trials the local worker processes give."""
    small = dict(task="digits-mlp", strategy="random", space="small", epochs=1, budget=8, batch_size=4,
                 learning_rates=(0.01, 0.1), funnel_top_k=0, progress=False, evaluator="batched", workers=2)
    trials = {}
    for executor in ("local", "ray"):
        tracker = InMemoryTracker()
        search(tracking_uri=tracker, executor=executor, **small)
        assert tracker.params["evaluator"] == "batched"
        trials[executor] = sorted(tracker.trials, key=lambda trial: trial.index)
    assert any(trial.status == "ok" for trial in trials["ray"])
    assert [(t.rule, t.status) for t in trials["ray"]] == [(t.rule, t.status) for t in trials["local"]]
    for on_ray, local in zip(trials["ray"], trials["local"]):
        assert on_ray.reward == pytest.approx(local.reward, abs=1e-6)
