"""Run evaluations on this machine: inline, or in a pool of worker processes.

Workers are spawned, not forked, because TensorFlow is not fork-safe once
initialised. Each talks to the driver over a pipe: ``("ready", pid)`` once
its Evaluator is built, then ``("result", ticket, result)`` for each rule.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import pickle
import signal
from typing import Any, Optional

from keras_nos.executors.pool import PoolExecutor
from keras_nos.executors.worker import evaluate_in_worker, init_worker, portable, worker_options
from keras_nos.native_log import quiet_native_stderr
from keras_nos.tasks.result import EvaluationResult


def _worker_main(pickled_options: bytes, threads: int, connection: multiprocessing.connection.Connection) -> None:
    """A worker process: build the Evaluator, say so, then evaluate what arrives until told to stop.

    The options arrive pickled: unpickling the task imports Keras, and each worker's TensorFlow start-up
    lines would otherwise interleave with the driver's progress bar.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle; it stops the workers
    try:
        with quiet_native_stderr():
            options = pickle.loads(pickled_options)
            import keras  # noqa: F401
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
        ticket, rule = message
        connection.send(("result", ticket, evaluate_in_worker(rule)))


class _Worker:
    """One worker process and the pipe to it (a ``WorkerHandle``)."""

    def __init__(self, context: Any, options: dict[str, Any], threads: int) -> None:
        self.connection, child = context.Pipe()
        self.process = context.Process(target=_worker_main, args=(pickle.dumps(options), threads, child), daemon=True,
                                       name="keras-nos-worker")
        self.process.start()
        child.close()
        self.ready = False
        self.ticket: Optional[int] = None
        self.started: Optional[float] = None

    @property
    def pid(self) -> Optional[int]:
        return self.process.pid

    def send(self, ticket: int, rule: str) -> bool:
        try:
            self.connection.send((ticket, rule))
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

    With ``workers=1`` and no ``timeout`` the rules run inline in this process
    (no worker to lose; nothing to retry). Otherwise every worker is a spawned
    process with one intra-op thread, kept alive, replaced and timed as
    ``PoolExecutor`` says.
    """

    name = "local"
    worker_kind = "Worker processes"
    threads_per_worker = 1

    def __init__(self, evaluator_options: dict[str, Any], workers: int = 1, max_retries: int = 2,
                 timeout: float | None = None) -> None:
        super().__init__(evaluator_options, workers=workers, max_retries=max_retries, timeout=timeout)
        self._evaluator = None

    @property
    def inline(self) -> bool:
        """Whether rules run in this process (one worker, no time limit)."""
        return self.workers == 1 and self.timeout is None

    def _wait(self) -> None:
        if not self.inline:
            super()._wait()
            return
        from keras_nos.tasks.evaluator import Evaluator

        if self._evaluator is None:
            self._evaluator = Evaluator(**self.options)
        ticket = self._queue.popleft()
        self._finish(ticket, self._evaluator.evaluate(self._tasks[ticket].rule))

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
            self._on_result(worker, EvaluationResult.from_dict(message[2]))
        elif kind == "init_error":
            self._on_init_error(message[1])

    def _stop_workers(self) -> None:
        """Stop every worker, idle ones asked to leave first (running evaluations are abandoned)."""
        self._evaluator = None
        idle = [worker for worker in self._pool or [] if worker.ticket is None]
        for worker in idle:
            if worker.process.is_alive():
                worker.ask_to_leave()
        for worker in idle:
            worker.process.join(2)
        super()._stop_workers()
