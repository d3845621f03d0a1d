"""A pool of long-lived workers, whatever they run on: dispatch, time limits, lost workers, start-up failures.

``LocalExecutor`` (processes) and ``RayExecutor`` (actors) differ only in how
a worker is started, sent rules, waited on and stopped; that is the
``WorkerHandle`` protocol and ``PoolExecutor._await_events``. Everything a
worker's life means for the candidates is decided here, once.

A worker's unit of work is a batch of candidates: one for the evaluator that
trains rule after rule (which balances the workers best), an equal share of
the queue per idle worker for the batched evaluator, which trains a whole
batch in one compiled program.
"""

from __future__ import annotations

import abc
import math
import time
from typing import Any, Optional, Protocol

from keras_nos.executors.base import Executor
from keras_nos.executors.worker import evaluates_batches
from keras_nos.tasks import result as statuses
from keras_nos.tasks.result import EvaluationResult

LONGEST_WAIT = 3600.0  # seconds; long time limits are waited for in hours, as poll() takes no more


class WorkerHandle(Protocol):
    """One worker as the pool sees it; the pool sets ``ready``, ``tickets`` and ``started``."""

    ready: bool  # it has built its evaluator and takes rules
    tickets: list[int] | None  # the candidates it evaluates now
    started: float | None  # ``time.monotonic()`` when it was sent them

    def send(self, tickets: list[int], rules: list[str]) -> bool:
        """Start evaluating ``rules``; False when the worker is gone (the pool sees that on its next wait)."""

    def stop(self) -> None:
        """Kill the worker; what it was evaluating is abandoned."""


class PoolExecutor(Executor):
    """Evaluates rules on ``workers`` long-lived workers, replacing those that die or run over time.

    A worker that dies mid-evaluation has its candidates retried on fresh
    workers, each alone (so that a rule that kills its worker takes no batch
    with it), up to ``max_retries`` times, then reported ``worker_lost``. A
    batch running longer than ``timeout`` seconds per candidate, counted from
    the moment it reached a ready worker so that start-up is not included, has
    its worker killed and replaced and its candidates reported ``timeout``.
    Workers that keep dying while they start stop the executor with a
    RuntimeError.
    """

    worker_kind = "Workers"  # how errors name the workers, plural

    def __init__(self, evaluator_options: dict[str, Any], workers: int = 1, max_retries: int = 2,
                 timeout: float | None = None) -> None:
        super().__init__(evaluator_options, workers=workers, max_retries=max_retries, timeout=timeout)
        self._pool: Optional[list[Any]] = None  # list of WorkerHandle once started
        self._startup_failures = 0

    @abc.abstractmethod
    def _spawn(self) -> WorkerHandle:
        """Start a worker with the current options."""

    @abc.abstractmethod
    def _await_events(self, timeout: float | None) -> None:
        """Block up to ``timeout`` seconds (None: no limit) for news from the workers, and report it.

        News is reported with ``_on_ready``, ``_on_result``, ``_on_error``,
        ``_on_death`` and ``_on_init_error``.
        """

    def _wait(self) -> None:
        if self._pool is None:
            self._pool = [self._spawn() for _ in range(self.workers)]
        self._dispatch()
        self._await_events(self._time_to_deadline())
        self._check_timeouts()

    def _dispatch(self) -> None:
        for worker in self._pool:
            if not self._queue:
                return
            if worker.ready and worker.tickets is None:
                tickets = self._next_unit()
                if worker.send(tickets, [self._tasks[ticket].rule for ticket in tickets]):
                    worker.tickets, worker.started = tickets, time.monotonic()
                else:
                    self._queue.extendleft(reversed(tickets))

    def _next_unit(self) -> list[int]:
        """The queued tickets the next idle worker takes: one, or for a batched evaluator an equal share of
        the queue per idle worker, up to the first candidate being retried (which goes alone)."""
        if not evaluates_batches(self.options) or self._tasks[self._queue[0]].attempts:
            return [self._queue.popleft()]
        idle = sum(worker.tickets is None for worker in self._pool)
        share = math.ceil(len(self._queue) / max(1, idle))
        unit = []
        while self._queue and len(unit) < share and not self._tasks[self._queue[0]].attempts:
            unit.append(self._queue.popleft())
        return unit

    def _deadline(self, worker: WorkerHandle) -> float:
        return worker.started + self.timeout * len(worker.tickets)

    def _time_to_deadline(self) -> Optional[float]:
        """Seconds until the first running batch is over its time limit; None without a limit."""
        if self.timeout is None:
            return None
        deadlines = [self._deadline(worker) for worker in self._pool if worker.tickets is not None]
        if not deadlines:
            return None
        return min(max(0.0, min(deadlines) - time.monotonic()), LONGEST_WAIT)

    def _check_timeouts(self) -> None:
        if self.timeout is None or self._pool is None:
            return
        now = time.monotonic()
        for worker in list(self._pool):
            if worker.tickets is not None and now >= self._deadline(worker):
                tickets = worker.tickets
                self._replace(worker)  # a running evaluation cannot be cancelled; stopping its worker can
                for ticket in tickets:
                    self._timed_out(ticket)

    def _replace(self, worker: WorkerHandle) -> None:
        worker.stop()
        self._pool[self._pool.index(worker)] = self._spawn()

    def _stop_workers(self) -> None:
        pool, self._pool = self._pool, None
        for worker in pool or []:
            worker.stop()

    # -- what the workers report --------------------------------------------------------------

    def _on_ready(self, worker: WorkerHandle) -> None:
        worker.ready = True
        self._startup_failures = 0

    def _on_result(self, worker: WorkerHandle, results: list[EvaluationResult]) -> None:
        for ticket, result in zip(self._release(worker), results):
            if ticket in self._tasks:
                self._finish(ticket, result)

    def _on_error(self, worker: WorkerHandle, message: str) -> None:
        """The evaluation raised past the evaluator (which reports its own errors as results)."""
        for ticket in self._release(worker):
            self._fail(ticket, statuses.ERROR, message)

    def _on_death(self, worker: WorkerHandle, why: str) -> None:
        """``worker`` died: replace it, and retry its candidates or count a failed start."""
        tickets, was_ready = worker.tickets, worker.ready
        self._replace(worker)
        if tickets is not None:
            for ticket in reversed(tickets):  # requeued at the front, in their order
                self._lost(ticket, why)
        elif not was_ready:
            self._startup_failures += 1
            if self._startup_failures > max(3, self.max_retries + 1):
                self.close()
                raise RuntimeError(f"{self.worker_kind} keep dying while they start: {why}")

    def _on_init_error(self, error: BaseException) -> None:
        """A worker could not build its Evaluator (a bad task, missing data): every worker would fail alike."""
        self.close()
        raise error

    @staticmethod
    def _release(worker: WorkerHandle) -> list[int]:
        tickets = worker.tickets or []
        worker.tickets = worker.started = None
        return tickets
