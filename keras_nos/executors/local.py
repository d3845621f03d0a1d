"""Run evaluations on this machine: inline, or in a pool of worker processes.

Workers are spawned, not forked, because TensorFlow is not fork-safe once
initialised, and a batched evaluator's worker runs Keras on JAX whatever this
process runs (``worker.worker_environment``). Each talks to the driver over a
pipe: ``("ready", pid)`` once its evaluator is built, then ``("result",
tickets, results)`` for each batch of rules.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import pickle
import signal
from typing import Any, Optional
from unittest import mock

from keras_nos.executors.pool import PoolExecutor
from keras_nos.executors.worker import (build_evaluate, evaluate_in_worker, evaluates_batches, init_worker, portable,
                                        worker_environment, worker_options)
from keras_nos.native_log import quiet_native_stderr
from keras_nos.tasks.result import EvaluationResult


def _worker_main(pickled_options: bytes, threads: int, connection: multiprocessing.connection.Connection) -> None:
    """A worker process: build the evaluator, say so, then evaluate what arrives until told to stop.

    The options arrive pickled: unpickling the task imports Keras, and each worker's TensorFlow start-up
    lines would otherwise interleave with the driver's progress bar.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle; it stops the workers
    try:
        with quiet_native_stderr():
            options = pickle.loads(pickled_options)
            import keras  # noqa: F401
            import tensorflow  # noqa: F401  (keras.utils.set_random_seed imports it on any backend, later, aloud)
        init_worker(options, threads)
    except BaseException as error:  # a bad task or missing data: the driver raises it
        connection.send(("init_error", portable(error)))
        return
    connection.send(("ready", os.getpid()))
    while True:
        try:
            message = connection.recv()
        except (EOFError, OSError):  # the driver is gone
            return
        if message is None:
            return
        tickets, rules = message
        connection.send(("result", tickets, evaluate_in_worker(rules)))


class _Worker:
    """One worker process and the pipe to it (a ``WorkerHandle``)."""

    def __init__(self, context: Any, options: dict[str, Any], threads: int) -> None:
        self.connection, child = context.Pipe()
        self.process = context.Process(target=_worker_main, args=(pickle.dumps(options), threads, child), daemon=True,
                                       name="keras-nos-worker")
        with mock.patch.dict(os.environ, worker_environment(options)):  # what the spawned child inherits
            self.process.start()
        child.close()
        self.ready = False
        self.tickets: Optional[list[int]] = None
        self.started: Optional[float] = None

    @property
    def pid(self) -> Optional[int]:
        return self.process.pid

    def send(self, tickets: list[int], rules: list[str]) -> bool:
        try:
            self.connection.send((tickets, rules))
        except OSError:  # it died since it said it was ready
            return False
        return True

    def ask_to_leave(self) -> None:
        """Tell an idle worker to exit by itself, which is gentler on its files than a kill."""
        try:
            self.connection.send(None)
        except OSError:
            pass

    def stop(self) -> None:
        try:
            self.connection.close()
        except OSError:
            pass
        if self.process.is_alive():
            self.process.kill()
        self.process.join(10)


class LocalExecutor(PoolExecutor):
    """Evaluates rules with ``workers`` processes.

    With ``workers=1``, no ``timeout`` and an evaluator that runs under this
    process's Keras backend, the rules run inline in this process (no worker
    to lose; nothing to retry). Otherwise every worker is a spawned process
    (with one intra-op thread for TensorFlow), kept alive, replaced and timed
    as ``PoolExecutor`` says.
    """

    name = "local"
    worker_kind = "Worker processes"
    threads_per_worker = 1

    def __init__(self, evaluator_options: dict[str, Any], workers: int = 1, max_retries: int = 2,
                 timeout: float | None = None) -> None:
        super().__init__(evaluator_options, workers=workers, max_retries=max_retries, timeout=timeout)
        self._evaluate = None

    @property
    def inline(self) -> bool:
        """Whether rules run in this process: one worker, no time limit, and no other Keras backend needed."""
        needed = worker_environment(self.options).get("KERAS_BACKEND")
        return self.workers == 1 and self.timeout is None and needed in (None, _keras_backend())

    def _wait(self) -> None:
        if not self.inline:
            super()._wait()
            return
        if self._evaluate is None:
            self._evaluate = build_evaluate(self.options)
        count = len(self._queue) if evaluates_batches(self.options) else 1  # one at a time keeps the bar moving
        tickets = [self._queue.popleft() for _ in range(count)]
        for ticket, result in zip(tickets, self._evaluate([self._tasks[ticket].rule for ticket in tickets])):
            self._finish(ticket, result)

    def _spawn(self) -> _Worker:
        options = worker_options(self.options)
        return _Worker(multiprocessing.get_context("spawn"), options, self.threads_per_worker)

    def _await_events(self, timeout: Optional[float]) -> None:
        waitables = {}
        for worker in self._pool:
            waitables[worker.connection] = worker
            waitables[worker.process.sentinel] = worker
        seen = []
        for item in multiprocessing.connection.wait(list(waitables), timeout):
            if waitables[item] not in seen:
                seen.append(waitables[item])
        for worker in seen:
            self._service(worker)

    def _service(self, worker: _Worker) -> None:
        """Read what ``worker`` sent; report its death when it died."""
        dead = False
        try:
            while worker.connection.poll():
                self._on_message(worker, worker.connection.recv())
        except (EOFError, OSError):
            dead = True
        if dead or not worker.process.is_alive():
            worker.process.join(5)
            self._on_death(worker, f"worker process {worker.pid} died (exit code {worker.process.exitcode})")

    def _on_message(self, worker: _Worker, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "ready":
            self._on_ready(worker)
        elif kind == "result":
            self._on_result(worker, [EvaluationResult.from_dict(result) for result in message[2]])
        elif kind == "init_error":
            self._on_init_error(message[1])

    def _stop_workers(self) -> None:
        """Stop every worker, idle ones asked to leave first (running evaluations are abandoned)."""
        self._evaluate = None
        idle = [worker for worker in self._pool or [] if worker.tickets is None]
        for worker in idle:
            if worker.process.is_alive():
                worker.ask_to_leave()
        for worker in idle:
            worker.process.join(2)
        super()._stop_workers()


def _keras_backend() -> str:
    import keras

    return keras.backend.backend()
