"""Run evaluations on this machine: inline, or in a pool of worker processes.

Each worker builds its ``Evaluator`` once (so it loads the data once) and then
evaluates rule after rule. Workers are spawned, not forked, because TensorFlow
is not fork-safe once initialised.

Every executor has the same interface: ``submit(rule) -> ticket`` and
``next_result() -> (ticket, EvaluationResult)`` (blocking until one finishes),
with ``map_unordered(rules)`` built on them, and ``close()``. Failures are
results, never exceptions: a worker that dies mid-evaluation has its candidate
retried on a fresh worker up to ``max_retries`` times and then reported as
``worker_lost``; a candidate running longer than ``timeout`` seconds has its
worker killed and replaced and is reported as ``timeout``.
"""

import collections
import multiprocessing
import multiprocessing.connection
import os
import pickle
import signal
import time

from keras_nos.native_log import quiet_native_stderr
from keras_nos.tasks import result as statuses
from keras_nos.tasks.result import EvaluationResult

_WORKER_EVALUATOR = None


def _init_worker(options, threads):
    global _WORKER_EVALUATOR
    if threads:
        try:
            import tensorflow as tf

            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except (ImportError, RuntimeError):
            pass
    from keras_nos.tasks.evaluator import Evaluator

    _WORKER_EVALUATOR = Evaluator(**options)


def _evaluate_in_worker(rule_text):
    return _WORKER_EVALUATOR.evaluate(rule_text).to_dict()


def worker_options(options):
    """Evaluator options with the task name replaced by its ``Task``.

    Workers receive the task itself, so a task registered with
    ``register_task`` only in the driver process works in workers too.
    """
    from keras_nos.tasks.registry import get_task

    return dict(options, task=get_task(options["task"]))


def failed_result(rule, task, status, message):
    """The result of a candidate that produced none (worker lost, timeout), fingerprinted when possible."""
    fingerprint = ""
    try:
        from keras_nos.dsl import fingerprint as rule_fingerprint
        from keras_nos.dsl.parser import parse_rule

        parsed = parse_rule(rule)
        rule, fingerprint = str(parsed), rule_fingerprint(parsed)
    except Exception:  # an unparsable rule keeps its text and an empty fingerprint
        pass
    return EvaluationResult(str(rule), fingerprint, getattr(task, "name", task), status, message=message)


def _portable(error):
    """``error`` if it pickles, else a RuntimeError with its text."""
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:
        return RuntimeError(f"{type(error).__name__}: {error}")


def _check_timeout(timeout):
    if timeout is not None and not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")


class _Pending:
    __slots__ = ("rule", "attempts")

    def __init__(self, rule):
        self.rule = rule
        self.attempts = 0


class Executor:
    """What every executor shares: tickets, the queue of finished results and ``map_unordered``.

    Subclasses implement ``_start(ticket)`` (the rule was submitted) and
    ``_wait()`` (block until at least one result was added with ``_finish``).
    """

    name = "base"

    def __init__(self, evaluator_options, workers=1, max_retries=2, timeout=None):
        if not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be a whole number >= 1, got {workers!r}")
        if not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError(f"max_retries must be a whole number >= 0, got {max_retries!r}")
        _check_timeout(timeout)
        self.options = evaluator_options
        self.workers = workers
        self.max_retries = max_retries
        self.timeout = timeout
        self._tasks = {}  # ticket -> _Pending, submitted and not yet finished
        self._queue = collections.deque()  # tickets waiting for a worker
        self._done = collections.deque()  # (ticket, EvaluationResult) finished, not yet returned
        self._forgotten = set()  # tickets whose results nobody waits for any more
        self._next_ticket = 0

    @property
    def in_flight(self):
        """Candidates submitted whose results were not returned yet."""
        return len(self._tasks) + len(self._done)

    def submit(self, rule):
        """Queue the evaluation of ``rule`` (text); returns its ticket."""
        ticket = self._next_ticket
        self._next_ticket += 1
        self._tasks[ticket] = _Pending(str(rule))
        self._queue.append(ticket)
        self._start(ticket)
        return ticket

    def next_result(self):
        """Block until a submitted candidate finishes; ``(ticket, EvaluationResult)``."""
        while True:
            while self._done:
                ticket, result = self._done.popleft()
                if ticket in self._forgotten:
                    self._forgotten.discard(ticket)
                    continue
                return ticket, result
            if not self._tasks:
                raise RuntimeError("next_result() with nothing submitted")
            self._wait()

    def map_unordered(self, rules):
        """Yield (position, EvaluationResult) for each rule text as each finishes."""
        rules = list(rules)
        positions = {self.submit(rule): position for position, rule in enumerate(rules)}
        try:
            while positions:
                ticket, result = self.next_result()
                if ticket in positions:
                    yield positions.pop(ticket), result
        finally:
            self.forget(positions)

    def forget(self, tickets):
        """Drop candidates nobody waits for: queued ones never run, running ones' results are discarded."""
        for ticket in list(tickets):
            if ticket in self._queue:
                self._queue.remove(ticket)
                self._tasks.pop(ticket, None)
            elif ticket in self._tasks or any(t == ticket for t, _ in self._done):
                self._forgotten.add(ticket)

    def _finish(self, ticket, result):
        self._tasks.pop(ticket, None)
        self._done.append((ticket, result))

    def _lost(self, ticket, why):
        """A worker died while evaluating ``ticket``: retry it, or report it lost after ``max_retries`` retries."""
        pending = self._tasks.get(ticket)
        if pending is None:
            return
        pending.attempts += 1
        if pending.attempts > self.max_retries:
            message = f"{why}; gave up after {pending.attempts} attempt(s)"
            self._finish(ticket, failed_result(pending.rule, self.options["task"], statuses.WORKER_LOST, message))
        else:
            self._queue.appendleft(ticket)

    def _timed_out(self, ticket):
        pending = self._tasks.get(ticket)
        if pending is not None:
            message = f"cancelled after the time limit of {self.timeout:g} s per candidate"
            self._finish(ticket, failed_result(pending.rule, self.options["task"], statuses.TIMEOUT, message))

    def reconfigure(self, evaluator_options, timeout=None):
        """Evaluate the rules submitted from now on with other ``Evaluator`` options and time limit.

        The search's funnel re-trains its top rules with other seeds and more epochs
        on the same workers' machines. Nothing may be in flight; the workers are
        stopped, and the next ``submit`` starts new ones with the new options.
        """
        if self.in_flight:
            raise RuntimeError(f"reconfigure() with {self.in_flight} candidate(s) in flight")
        _check_timeout(timeout)
        self._stop_workers()
        self.options, self.timeout = evaluator_options, timeout

    def _start(self, ticket):
        pass

    def _wait(self):
        raise NotImplementedError

    def _stop_workers(self):
        pass

    def close(self):
        self._stop_workers()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _worker_main(pickled_options, threads, connection):
    """A worker process: build the Evaluator, say so, then evaluate what arrives until told to stop.

    The options arrive pickled: unpickling the task imports Keras, and each worker's TensorFlow start-up
    lines would otherwise interleave with the driver's progress bar.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle; it stops the workers
    try:
        with quiet_native_stderr():
            options = pickle.loads(pickled_options)
            import keras  # noqa: F401
        _init_worker(options, threads)
    except BaseException as error:  # a bad task or missing data: the driver raises it
        connection.send(("init_error", _portable(error)))
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
        connection.send(("result", ticket, _evaluate_in_worker(rule)))


class _Worker:
    """One worker process and the pipe to it."""

    def __init__(self, context, options, threads):
        self.connection, child = context.Pipe()
        self.process = context.Process(target=_worker_main, args=(pickle.dumps(options), threads, child), daemon=True,
                                       name="keras-nos-worker")
        self.process.start()
        child.close()
        self.ready = False
        self.ticket = None
        self.started = None

    @property
    def pid(self):
        return self.process.pid

    def stop(self):
        try:
            self.connection.close()
        except OSError:
            pass
        if self.process.is_alive():
            self.process.kill()
        self.process.join(10)


class LocalExecutor(Executor):
    """Evaluates rules with ``workers`` processes.

    With ``workers=1`` and no ``timeout`` the rules run inline in this process
    (no worker to lose; nothing to retry). Otherwise every worker is a spawned
    process with one intra-op thread; a dead worker is replaced and its
    candidate retried up to ``max_retries`` times, then reported
    ``worker_lost``; a candidate over ``timeout`` seconds (counted from the
    moment it reaches a ready worker, so worker start-up is not included) has
    its worker killed and replaced and is reported ``timeout``.
    """

    name = "local"
    threads_per_worker = 1

    def __init__(self, evaluator_options, workers=1, max_retries=2, timeout=None):
        super().__init__(evaluator_options, workers=workers, max_retries=max_retries, timeout=timeout)
        self._evaluator = None
        self._pool = None  # list of _Worker once started
        self._startup_failures = 0

    @property
    def inline(self):
        return self.workers == 1 and self.timeout is None

    def worker_pids(self):
        """Process ids of the running workers (empty inline)."""
        return [worker.pid for worker in self._pool or []]

    # -- inline -------------------------------------------------------------------------------

    def _wait_inline(self):
        from keras_nos.tasks.evaluator import Evaluator

        if self._evaluator is None:
            self._evaluator = Evaluator(**self.options)
        ticket = self._queue.popleft()
        self._finish(ticket, self._evaluator.evaluate(self._tasks[ticket].rule))

    # -- pool ---------------------------------------------------------------------------------

    def _spawn(self):
        options = worker_options(self.options)
        return _Worker(multiprocessing.get_context("spawn"), options, self.threads_per_worker)

    def _ensure_pool(self):
        if self._pool is None:
            self._pool = [self._spawn() for _ in range(self.workers)]
        return self._pool

    def _replace(self, worker):
        worker.stop()
        self._pool[self._pool.index(worker)] = self._spawn()

    def _dispatch(self):
        for worker in self._pool:
            if not self._queue:
                return
            if worker.ready and worker.ticket is None:
                ticket = self._queue.popleft()
                try:
                    worker.connection.send((ticket, self._tasks[ticket].rule))
                except OSError:  # it died since it said it was ready; the next wait sees it
                    self._queue.appendleft(ticket)
                    continue
                worker.ticket, worker.started = ticket, time.monotonic()

    def _wait(self):
        if self.inline:
            self._wait_inline()
            return
        self._ensure_pool()
        self._dispatch()
        deadline = None
        if self.timeout is not None:
            starts = [w.started for w in self._pool if w.ticket is not None]
            if starts:
                deadline = max(0.0, min(starts) + self.timeout - time.monotonic())
                deadline = min(deadline, 3600.0)  # long limits: wait in hours, poll() takes no more
        waitables = {}
        for worker in self._pool:
            waitables[worker.connection] = worker
            waitables[worker.process.sentinel] = worker
        ready = multiprocessing.connection.wait(list(waitables), deadline)
        seen = []
        for item in ready:
            if waitables[item] not in seen:
                seen.append(waitables[item])
        for worker in seen:
            self._service(worker)
        self._check_timeouts()

    def _service(self, worker):
        """Read what ``worker`` sent; replace it when it died."""
        dead = False
        try:
            while worker.connection.poll():
                self._on_message(worker, worker.connection.recv())
        except (EOFError, OSError):
            dead = True
        if not (dead or not worker.process.is_alive()):
            return
        worker.process.join(5)
        why = f"worker process {worker.pid} died (exit code {worker.process.exitcode})"
        ticket, was_ready = worker.ticket, worker.ready
        self._replace(worker)
        if ticket is not None:
            self._lost(ticket, why)
        elif not was_ready:
            self._startup_failures += 1
            if self._startup_failures > max(3, self.max_retries + 1):
                self.close()
                raise RuntimeError(f"Worker processes keep dying while they start: {why}")

    def _on_message(self, worker, message):
        kind = message[0]
        if kind == "ready":
            worker.ready = True
            self._startup_failures = 0
        elif kind == "result":
            _, ticket, result = message
            worker.ticket = worker.started = None
            if ticket in self._tasks:
                self._finish(ticket, EvaluationResult.from_dict(result))
        elif kind == "init_error":
            self.close()
            raise message[1]

    def _check_timeouts(self):
        if self.timeout is None:
            return
        now = time.monotonic()
        for worker in list(self._pool):
            if worker.ticket is not None and now - worker.started >= self.timeout:
                ticket = worker.ticket
                self._replace(worker)
                self._timed_out(ticket)

    def _stop_workers(self):
        """Stop every worker (running evaluations are abandoned)."""
        self._evaluator = None
        pool, self._pool = self._pool, None
        for worker in pool or []:
            if worker.ticket is None and worker.process.is_alive():
                try:
                    worker.connection.send(None)
                except OSError:
                    pass
        for worker in pool or []:
            if worker.ticket is None:
                worker.process.join(2)
            worker.stop()
        self._tasks.clear()
        self._queue.clear()
        self._done.clear()
