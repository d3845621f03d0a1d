"""The interface every executor implements, and the ticket bookkeeping they share.

Like Optuna's ``BaseSampler``, ``Executor`` is an abstract base: the search
only calls ``submit``, ``next_result``, ``map_unordered``, ``forget``,
``reconfigure`` and ``close``; a subclass says how rules get evaluated by
implementing ``_wait``. Failures are results, never exceptions.
"""

from __future__ import annotations

import abc
import collections
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Union

from keras_nos.errors import KerasNosError
from keras_nos.tasks import result as statuses
from keras_nos.tasks.result import EvaluationResult

if TYPE_CHECKING:
    from keras_nos.dsl.rule import Rule
    from keras_nos.tasks.registry import Task


def task_name(task: Union[str, Task]) -> str:
    """The name of a task given by name or as a ``Task``."""
    return task if isinstance(task, str) else task.name


def failed_result(rule: Union[str, Rule], task: Union[str, Task], status: str, message: str) -> EvaluationResult:
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


def check_timeout(timeout: float | None) -> None:
    if timeout is not None and not timeout > 0:
        raise KerasNosError(f"timeout must be a positive number of seconds, got {timeout!r}")


class _Pending:
    __slots__ = ("rule", "attempts")

    def __init__(self, rule: str) -> None:
        self.rule = rule
        self.attempts = 0


class Executor(abc.ABC):
    """Tickets, the queue of rules waiting for a worker, finished results and ``map_unordered``.

    Subclasses implement ``_wait()`` (block until at least one result was added
    with ``_finish``), and ``_start(ticket)`` and ``_stop_workers()`` where they need them.
    """

    name = "base"

    def __init__(self, evaluator_options: dict[str, Any], workers: int = 1, max_retries: int = 2,
                 timeout: float | None = None) -> None:
        if not isinstance(workers, int) or workers < 1:
            raise KerasNosError(f"workers must be a whole number >= 1, got {workers!r}")
        if not isinstance(max_retries, int) or max_retries < 0:
            raise KerasNosError(f"max_retries must be a whole number >= 0, got {max_retries!r}")
        check_timeout(timeout)
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
    def in_flight(self) -> int:
        """Candidates submitted whose results were not returned yet."""
        return len(self._tasks) + len(self._done)

    def submit(self, rule: Union[str, Rule]) -> int:
        """Queue the evaluation of ``rule`` (text or a parsed rule); returns its ticket."""
        ticket = self._next_ticket
        self._next_ticket += 1
        self._tasks[ticket] = _Pending(str(rule))
        self._queue.append(ticket)
        self._start(ticket)
        return ticket

    def next_result(self) -> tuple[int, EvaluationResult]:
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

    def map_unordered(self, rules: Iterable[Union[str, Rule]]) -> Iterator[tuple[int, EvaluationResult]]:
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

    def forget(self, tickets: Iterable[int]) -> None:
        """Drop candidates nobody waits for: queued ones never run, running ones' results are discarded."""
        for ticket in list(tickets):
            if ticket in self._queue:
                self._queue.remove(ticket)
                self._tasks.pop(ticket, None)
            elif ticket in self._tasks or any(t == ticket for t, _ in self._done):
                self._forgotten.add(ticket)

    def reconfigure(self, evaluator_options: dict[str, Any], timeout: float | None = None) -> None:
        """Evaluate the rules submitted from now on with other ``Evaluator`` options and time limit.

        The search's funnel re-trains its top rules with other seeds and more epochs
        on the same workers' machines. Nothing may be in flight; the workers are
        stopped, and the next ``submit`` starts new ones with the new options.
        """
        if self.in_flight:
            raise RuntimeError(f"reconfigure() with {self.in_flight} candidate(s) in flight")
        check_timeout(timeout)
        self._stop_workers()
        self.options, self.timeout = evaluator_options, timeout

    def close(self) -> None:
        """Stop the workers; what was still running is abandoned."""
        self._stop_workers()
        self._tasks.clear()
        self._queue.clear()
        self._done.clear()

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- for subclasses -----------------------------------------------------------------------

    @abc.abstractmethod
    def _wait(self) -> None:
        """Block until at least one result was added with ``_finish``."""

    def _start(self, ticket: int) -> None:
        """``ticket`` was submitted."""

    def _stop_workers(self) -> None:
        """Stop every worker; the next ``_wait`` starts new ones."""

    def _finish(self, ticket: int, result: EvaluationResult) -> None:
        self._tasks.pop(ticket, None)
        self._done.append((ticket, result))

    def _fail(self, ticket: int, status: str, message: str) -> None:
        """Finish ``ticket`` with a result that says why it has none (if it is still awaited)."""
        pending = self._tasks.get(ticket)
        if pending is not None:
            self._finish(ticket, failed_result(pending.rule, task_name(self.options["task"]), status, message))

    def _lost(self, ticket: int, why: str) -> None:
        """A worker died while evaluating ``ticket``: retry it, or report it lost after ``max_retries`` retries."""
        pending = self._tasks.get(ticket)
        if pending is None:
            return
        pending.attempts += 1
        if pending.attempts > self.max_retries:
            self._fail(ticket, statuses.WORKER_LOST, f"{why}; gave up after {pending.attempts} attempt(s)")
        else:
            self._queue.appendleft(ticket)

    def _timed_out(self, ticket: int) -> None:
        self._fail(ticket, statuses.TIMEOUT, f"cancelled after the time limit of {self.timeout:g} s per candidate")
