"""The pool's bookkeeping on scripted workers: retries, time limits and failed starts, without processes.

``test_ray.py`` kills and hangs real processes and actors; these cases run
the same ``PoolExecutor`` logic over a fake ``WorkerHandle`` in milliseconds,
including the failed starts that no real test provokes.
"""

import pytest

from keras_nos.executors import Executor, PoolExecutor
from keras_nos.search.strategies import Strategy
from keras_nos.tasks.result import EvaluationResult


class _FakeWorker:
    def __init__(self):
        self.ready, self.tickets, self.started, self.stopped = False, None, None, False

    def send(self, tickets, rules):
        return True

    def stop(self):
        self.stopped = True


class _ScriptedExecutor(PoolExecutor):
    """Workers whose fate is the rule's text: ``ok`` finishes, ``die`` kills the worker, ``hang`` never ends.

    The first ``failing_starts`` workers spawned die while they start.
    """

    worker_kind = "Fake workers"

    def __init__(self, failing_starts=0, evaluator="keras", **options):
        super().__init__({"task": "synthetic", "evaluator": evaluator}, **options)
        self.failing_starts, self.spawned, self.units = failing_starts, [], []

    def _spawn(self):
        self.spawned.append(_FakeWorker())
        return self.spawned[-1]

    def _await_events(self, timeout):
        for worker in list(self._pool):
            if not worker.ready:
                self._start_up(worker)
            elif worker.tickets is not None:
                self._run(worker, [self._tasks[ticket].rule for ticket in worker.tickets])

    def _start_up(self, worker):
        if self.failing_starts:
            self.failing_starts -= 1
            self._on_death(worker, "it died while starting")
        else:
            self._on_ready(worker)

    def _run(self, worker, rules):
        self.units.append(list(rules))
        if "die" in rules:
            self._on_death(worker, "it was killed")
        elif "hang" not in rules:
            self._on_result(worker, [EvaluationResult(rule, "", "synthetic", "ok", reward=1.0) for rule in rules])


def _statuses(executor, rules):
    with executor:
        results = dict(executor.map_unordered(rules))
    return [(results[i].status, results[i].message) for i in range(len(rules))]


def test_a_candidate_whose_worker_dies_is_retried_and_then_reported_lost():
    executor = _ScriptedExecutor(workers=2, max_retries=1)
    (ok, _), (lost, message) = _statuses(executor, ["ok", "die"])
    assert (ok, lost) == ("ok", "worker_lost")
    assert message == "it was killed; gave up after 2 attempt(s)"
    assert len(executor.spawned) == 4 and all(worker.stopped for worker in executor.spawned)


def test_a_candidate_over_the_time_limit_has_its_worker_replaced_and_is_reported_timeout():
    executor = _ScriptedExecutor(workers=1, timeout=0.01)
    [(status, message)] = _statuses(executor, ["hang"])
    assert status == "timeout" and "0.01 s" in message
    assert executor.spawned[0].stopped and len(executor.spawned) == 2


def test_a_batched_evaluator_gets_an_equal_share_of_the_queue_per_worker_and_a_rule_after_rule_one_gets_one():
    batched = _ScriptedExecutor(workers=2, evaluator="batched")
    assert _statuses(batched, ["ok"] * 5) == [("ok", "")] * 5
    assert sorted(map(len, batched.units)) == [2, 3]
    one_by_one = _ScriptedExecutor(workers=2)
    assert _statuses(one_by_one, ["ok"] * 5) == [("ok", "")] * 5
    assert list(map(len, one_by_one.units)) == [1] * 5


def test_a_batch_whose_worker_dies_is_retried_rule_by_rule_so_only_the_killer_is_lost():
    executor = _ScriptedExecutor(workers=1, max_retries=1, evaluator="batched")
    assert [status for status, _ in _statuses(executor, ["ok", "die", "ok"])] == ["ok", "worker_lost", "ok"]
    assert executor.units == [["ok", "die", "ok"], ["ok"], ["die"], ["ok"]]  # the killer: once in the batch, once alone


def test_a_batch_over_its_time_limit_per_candidate_reports_each_candidate_timeout():
    executor = _ScriptedExecutor(workers=1, timeout=0.01, evaluator="batched")
    assert [status for status, _ in _statuses(executor, ["hang", "ok"])] == ["timeout", "timeout"]


def test_workers_that_keep_dying_while_they_start_stop_the_executor_and_a_good_start_resets_the_count():
    assert _statuses(_ScriptedExecutor(failing_starts=3, workers=1, max_retries=0), ["ok"]) == [("ok", "")]
    executor = _ScriptedExecutor(failing_starts=4, workers=1, max_retries=0)
    with pytest.raises(RuntimeError, match="Fake workers keep dying while they start: it died while starting"):
        executor.submit("ok")
        executor.next_result()
    assert executor.in_flight == 0 and executor.spawned[-1].stopped


def test_executor_and_strategy_are_abstract():
    with pytest.raises(TypeError, match="_wait"):
        Executor({"task": "synthetic"})
    with pytest.raises(TypeError, match="propose"):
        Strategy(None)
