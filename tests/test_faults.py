"""Faults a real deployment meets: a tracking server that restarts or stays away, processes that race for one
store or one run, kill -9 at random points, and Ctrl-C. Searches run as real `keras-nos` processes where the
fault is about processes."""

import json
import os
import random
import re
import shlex
import socket
import subprocess
import sys
import time

import pytest
from mlflow import MlflowClient
from test_search import TINY, _children, _search_run_id, _wait_for_children

from keras_nos.cli import main as cli_main
from keras_nos.errors import KerasNosError
from keras_nos.search import search
from keras_nos.tracking import check_reachable, lease, tags
from keras_nos.tracking.lease import RunLease, RunLeaseHeldError
from keras_nos.tracking.patience import PatientClient, StoreUnavailableError
from keras_nos.tracking.reachability import is_unreachable

SEARCH = [sys.executable, "-m", "keras_nos.cli", "search"]
TINY_FLAGS = ["--task", "synthetic", "--space", "small", "--epochs", "1", "--lr", "0.01,0.1", "--funnel-top-k", "0",
              "--batch-size", "2", "--no-progress"]


def _indices(uri, run_id):
    """The index of every candidate run of search ``run_id``, sorted, repeats kept."""
    return sorted(int(run.data.tags[tags.INDEX]) for run in _children(uri, run_id))


# --- what counts as the store being away ---------------------------------------------------------------------


def test_a_refused_connection_is_an_outage_and_a_bad_value_is_not(monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # as check_reachable sets it, or MLflow backs off 4 min
    try:
        MlflowClient("http://127.0.0.1:9").search_experiments(max_results=1)
    except Exception as error:
        assert is_unreachable(error)
    assert not is_unreachable(ValueError("Invalid value 'x' for parameter 'max_results'"))


def test_a_store_that_is_not_a_database_is_not_called_unreachable(tmp_path):
    (tmp_path / "mlflow.db").write_text("not a database")
    with pytest.raises(KerasNosError, match="cannot be used") as error:
        check_reachable(f"sqlite:///{tmp_path}/mlflow.db")
    assert "unreachable" not in str(error.value)


class _FlakyClient:
    """A client whose ``set_tag`` is refused ``outage`` times (as a stopped server refuses), then works."""

    def __init__(self, outage):
        self.outage, self.calls = outage, []

    def set_tag(self, *args):
        self.calls.append(args)
        if len(self.calls) <= self.outage:
            raise ConnectionRefusedError("Connection refused")
        return "written"

    def get_run(self, run_id):
        raise KeyError(run_id)  # not an outage: raised at once


def _patient(client, patience):
    lines, now = [], [0.0]

    def sleep(seconds):
        now[0] += seconds

    waiting = PatientClient(client, "http://store:5000", patience, report=lines.append, clock=lambda: now[0],
                            sleep=sleep)
    return waiting, lines, now


def test_a_patient_client_retries_with_backoff_says_so_each_minute_and_goes_on():
    flaky = _FlakyClient(outage=8)
    client, lines, now = _patient(flaky, patience=600)
    client.waiting = lambda: 3
    assert client.set_tag("run", "k", "v") == "written"
    assert len(flaky.calls) == 9 and now[0] == 1 + 2 + 4 + 8 + 15 + 15 + 15 + 15  # backoff doubles up to 15 s
    unreachable = [line for line in lines if line.startswith("tracking store unreachable since ")]
    assert len(unreachable) == 2 and all(line.endswith("; 3 results waiting; retrying") for line in unreachable)
    assert lines[-1].startswith("tracking store back after 75 s")
    with pytest.raises(KeyError):
        client.get_run("run")  # an error that is not an outage is not waited for


def test_a_patient_client_stops_after_its_patience_with_the_resume_command():
    client, lines, now = _patient(_FlakyClient(outage=10**6), patience=30)
    client.run_id = "abc123"
    with pytest.raises(StoreUnavailableError) as stop:
        client.set_tag("abc123", "k", "v")
    message = str(stop.value)
    assert now[0] == 30 and "\n" not in message
    assert "search run abc123 stopped" in message and "--store-patience" in message
    assert message.endswith("resume with: keras-nos search --resume abc123 --tracking-uri http://store:5000")
    with pytest.raises(ConnectionRefusedError):
        client.set_tag("abc123", "k", "v")  # once given up, later writes fail at once instead of waiting again


# --- a tracking server that goes away ------------------------------------------------------------------------


def test_a_search_waits_for_a_restarted_mlflow_server_and_loses_nothing(tmp_path, mlflow_server):
    budget = 40  # the outage lands before the search ends, however fast the machine
    process = subprocess.Popen(SEARCH + TINY_FLAGS + ["--strategy", "random", "--budget", str(budget),
                                                      "--tracking-uri", mlflow_server.uri],
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    run_id = _wait_for_children(mlflow_server.uri, 3, process)
    mlflow_server.kill()
    time.sleep(10)  # the search meets the outage and waits
    mlflow_server.start()
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err[-2000:]
    assert "Traceback" not in err and "tracking store unreachable since " in err, err[-2000:]
    assert _indices(mlflow_server.uri, run_id) == list(range(budget))  # every candidate once
    parent = MlflowClient(mlflow_server.uri).get_run(run_id)
    assert parent.info.status == "FINISHED" and tags.LEASE not in parent.data.tags


def test_a_store_away_past_the_patience_stops_with_the_resume_command(tmp_path, mlflow_server):
    budget = 40  # the outage lands before the search ends, however fast the machine
    process = subprocess.Popen(SEARCH + TINY_FLAGS + ["--strategy", "random", "--budget", str(budget),
                                                      "--tracking-uri", mlflow_server.uri, "--store-patience", "4"],
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    run_id = _wait_for_children(mlflow_server.uri, 3, process)
    mlflow_server.kill()
    out, err = process.communicate(timeout=120)
    assert process.returncode == 2, err[-2000:]
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("keras-nos: error: tracking store ") and f"search run {run_id} stopped" in last, err
    command = last.split("resume with: ")[1]
    assert command == f"keras-nos search --resume {run_id} --tracking-uri {mlflow_server.uri}"
    mlflow_server.start()
    resumed = subprocess.run(SEARCH + shlex.split(command)[2:] + ["--no-progress"], cwd=tmp_path,
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert _indices(mlflow_server.uri, run_id) == list(range(budget))


# --- processes that race -----------------------------------------------------------------------------------


def test_two_searches_started_at_once_in_an_empty_folder_both_finish(tmp_path):
    env = {key: value for key, value in os.environ.items() if key != "MLFLOW_TRACKING_URI"}
    processes = [subprocess.Popen(SEARCH + TINY_FLAGS + ["--strategy", "random", "--budget", "2", "--seed", str(seed)],
                                  cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for seed in (0, 1)]
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err[-2000:]
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("keras-nos")
    searches = client.search_runs([experiment.experiment_id], filter_string="tags.`keras_nos.kind` = 'search'")
    assert len(searches) == 2 and all(_indices(uri, run.info.run_id) == [0, 1] for run in searches)


def _stopped_search(tmp_path, budget):
    """A search of ``budget`` candidates stopped after its first batch of two; its store and run id."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    search(strategy="random", budget=budget, batch_size=2, tracking_uri=uri, max_batches=1, **dict(TINY, funnel_top_k=0))
    return uri, _search_run_id(uri)


def test_a_run_resumed_by_two_processes_at_once_is_run_by_one(tmp_path):
    budget = 8
    uri, run_id = _stopped_search(tmp_path, budget)
    processes = [subprocess.Popen(SEARCH + ["--resume", run_id, "--tracking-uri", uri, "--no-progress"], cwd=tmp_path,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    finished = [(process.communicate(timeout=300)[1], process.returncode) for process in processes]
    assert sorted(code for _, code in finished) == [0, 2], finished
    refusal = next(err for err, code in finished if code == 2).strip()
    assert len(refusal.splitlines()) == 1 and f"search run {run_id} is being run by pid " in refusal, refusal
    assert f"on host {socket.gethostname()} (heartbeat " in refusal
    assert _indices(uri, run_id) == list(range(budget))  # nothing written twice


def test_a_fresh_lease_of_another_host_is_refused_and_a_stale_one_taken_over(tmp_path):
    uri, run_id = _stopped_search(tmp_path, budget=4)
    client = MlflowClient(uri)

    def held_by(heartbeat):
        client.set_tag(run_id, tags.LEASE, json.dumps({"host": "elsewhere", "pid": 1, "token": "theirs",
                                                       "heartbeat": heartbeat}))

    held_by(time.time() - 2)
    with pytest.raises(RunLeaseHeldError, match=r"pid 1 on host elsewhere \(heartbeat \d+ s ago\)") as refused:
        RunLease(uri, run_id).acquire(contested=False)
    age = int(re.search(r"heartbeat (\d+) s ago", str(refused.value)).group(1))
    assert 2 <= age < lease.STALE_AFTER_SECONDS  # its own age, however slowly this machine reads the store
    held_by(time.time() - lease.STALE_AFTER_SECONDS - 1)
    mine = RunLease(uri, run_id).acquire(contested=False)
    try:
        assert json.loads(client.get_run(run_id).data.tags[tags.LEASE])["token"] == mine.token
    finally:
        mine.release()
    assert tags.LEASE not in client.get_run(run_id).data.tags


def test_kill_9_then_resume_takes_the_dead_process_lease_over_at_once(tmp_path):
    budget = 40  # about 8 s of candidates after the third: the kill lands before the search ends, however slow the poll
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    with open(tmp_path / "stderr", "w") as stderr:
        process = subprocess.Popen(SEARCH + TINY_FLAGS + ["--strategy", "random", "--budget", str(budget),
                                                          "--tracking-uri", uri],
                                   cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=stderr)
    run_id = _wait_for_children(uri, 3, process, stderr=tmp_path / "stderr")
    process.kill()
    process.wait()
    assert tags.LEASE in MlflowClient(uri).get_run(run_id).data.tags  # the killed search left its lease
    started = time.time()
    resumed = subprocess.run(SEARCH + ["--resume", run_id, "--tracking-uri", uri, "--no-progress"], cwd=tmp_path,
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert time.time() - started < lease.STALE_AFTER_SECONDS  # taken over at once, not after the lease's timeout
    assert _indices(uri, run_id) == list(range(budget))


# --- kill -9 at random points ------------------------------------------------------------------------------------


def _candidates(uri, run_id):
    """{index: (rule, reward)} of search ``run_id``; a repeated index fails the test."""
    found = {}
    for run in _children(uri, run_id):
        index = int(run.data.tags[tags.INDEX])
        assert index not in found, f"candidate {index} written twice"
        found[index] = (run.data.params["rule"], run.data.metrics.get("reward"))
    return found


def test_kill_9_at_three_random_points_ends_as_an_uninterrupted_search(tmp_path):
    budget, flags = 16, TINY_FLAGS + ["--strategy", "rl", "--strategy-option", "pretrain_samples=20", "--seed", "7"]
    whole_uri = f"sqlite:///{tmp_path}/whole.db"
    subprocess.run(SEARCH + flags + ["--budget", str(budget), "--tracking-uri", whole_uri], cwd=tmp_path, check=True,
                   capture_output=True, timeout=300)
    expected = _candidates(whole_uri, _search_run_id(whole_uri))
    assert sorted(expected) == list(range(budget))

    chance = random.Random()
    points = sorted(chance.sample(range(1, budget - 1), 3))  # candidates written before each kill
    uri, run_id = f"sqlite:///{tmp_path}/killed.db", None
    for point in points:
        command = (["--resume", run_id] if run_id else flags + ["--budget", str(budget)]) + ["--tracking-uri", uri]
        with open(tmp_path / "stderr", "w") as stderr:
            process = subprocess.Popen(SEARCH + command + ["--no-progress"], cwd=tmp_path, stdout=subprocess.DEVNULL,
                                       stderr=stderr)
        run_id = _wait_for_children(uri, point, process, stderr=tmp_path / "stderr")
        time.sleep(chance.uniform(0, 0.5))  # the kill lands anywhere: mid-training, mid-write, mid-checkpoint
        process.kill()
        process.wait()
    resumed = subprocess.run(SEARCH + ["--resume", run_id, "--tracking-uri", uri, "--no-progress"], cwd=tmp_path,
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert _candidates(uri, run_id) == expected, f"killed after {points} candidates"


# --- Ctrl-C ------------------------------------------------------------------------------------------------------


def test_ctrl_c_names_the_run_and_the_pasteable_resume_command(tmp_path, monkeypatch, capsys):
    from keras_nos.tracking import SearchTracker

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    original, written = SearchTracker.log_candidate, []

    def interrupted(self, trial):
        written.append(trial.index)
        if len(written) == 3:
            raise KeyboardInterrupt
        return original(self, trial)

    monkeypatch.setattr(SearchTracker, "log_candidate", interrupted)
    argv = ["search", "--tracking-uri", uri] + TINY_FLAGS + ["--strategy", "random", "--budget", "4"]
    assert cli_main(argv) == 130
    run_id = _search_run_id(uri)
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line == f"keras-nos: interrupted; resume with: keras-nos search --resume {run_id} --tracking-uri {uri}"
    monkeypatch.setattr(SearchTracker, "log_candidate", original)
    assert cli_main(shlex.split(line.split("resume with: ")[1])[1:] + ["--no-progress"]) == 0
    assert _indices(uri, run_id) == [0, 1, 2, 3]
