"""A pool of long-lived workers, whatever they run on: dispatch, time limits, lost workers, start-up failures.

``LocalExecutor`` (processes) and ``RayExecutor`` (actors) differ only in how
a worker is started, sent a rule, waited on and stopped; that is the
``WorkerHandle`` protocol and ``PoolExecutor._await_events``. Everything a
worker's life means for the candidates is decided here, once.
"""

from __future__ import annotations

import abc
import time
from typing import Any, Optional, Protocol

from keras_nos.executors.base import Executor
from keras_nos.tasks import result as statuses
from keras_nos.tasks.result import EvaluationResult

LONGEST_WAIT = 3600.0  # seconds; long time limits are waited for in hours, as poll() takes no more


class WorkerHandle(Protocol):
    """One worker as the pool sees it; the pool sets ``ready``, ``ticket`` and ``started``."""

    ready: bool  # it has built its Evaluator and takes rules
    ticket: int | None  # the candidate it evaluates now
    started: float | None  # ``time.monotonic()`` when it was sent that candidate

    def send(self, ticket: int, rule: str) -> bool:
        """Start evaluating ``rule``; False when the worker is gone (the pool sees that on its next wait)."""

    def stop(self) -> None:
        """Kill the worker; what it was evaluating is abandoned."""


class PoolExecutor(Executor):
    """Evaluates rules on ``workers`` long-lived workers, replacing those that die or run over time.

    A worker that dies mid-evaluation has its candidate retried on a fresh
    worker up to ``max_retries`` times, then reported ``worker_lost``. A
    candidate running longer than ``timeout`` seconds, counted from the moment
    it reached a ready worker so that start-up is not included, has its worker
    killed and replaced and is reported ``timeout``. Workers that keep dying
    while they start stop the executor with a RuntimeError.
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
            if worker.ready and worker.ticket is None:
                ticket = self._queue.popleft()
                if worker.send(ticket, self._tasks[ticket].rule):
                    worker.ticket, worker.started = ticket, time.monotonic()
                else:
                    self._queue.appendleft(ticket)

    def _time_to_deadline(self) -> Optional[float]:
        """Seconds until the first running candidate is over its time limit; None without a limit."""
        starts = [worker.started for worker in self._pool if worker.ticket is not None]
        if self.timeout is None or not starts:
            return None
        return min(max(0.0, min(starts) + self.timeout - time.monotonic()), LONGEST_WAIT)

    def _check_timeouts(self) -> None:
        if self.timeout is None or self._pool is None:
            return
        now = time.monotonic()
        for worker in list(self._pool):
            if worker.ticket is not None and now - worker.started >= self.timeout:
                ticket = worker.ticket
                self._replace(worker)  # a running evaluation cannot be cancelled; stopping its worker can
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

    def _on_result(self, worker: WorkerHandle, result: EvaluationResult) -> None:
        ticket = self._release(worker)
        if ticket in self._tasks:
            self._finish(ticket, result)

    def _on_error(self, worker: WorkerHandle, message: str) -> None:
        """The evaluation raised past the evaluator (which reports its own errors as results)."""
        self._fail(self._release(worker), statuses.ERROR, message)

    def _on_death(self, worker: WorkerHandle, why: str) -> None:
        """``worker`` died: replace it, and retry its candidate or count a failed start."""
        ticket, was_ready = worker.ticket, worker.ready
        self._replace(worker)
        if ticket is not None:
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
    def _release(worker: WorkerHandle) -> Optional[int]:
        ticket = worker.ticket
        worker.ticket = worker.started = None
        return ticket
