"""Patience with a tracking store that goes away in the middle of a search.

A team's MLflow server restarts; a search should wait for it, not die. A
:class:`PatientClient` stands in for the ``MlflowClient`` of a search's
tracker: a call that fails because the store is away is tried again with
backoff, one line a minute says so, and the calls after it wait behind it, so
what waited is written in order once the store is back. Training pauses
meanwhile: the driver waits at the write that failed, the workers finish the
candidate they hold and keep its result, and no new candidate starts. After
``patience`` seconds without the store the search stops with a
:class:`StoreUnavailableError` that names the run and the command that resumes
it. Only errors that :func:`~keras_nos.tracking.reachability.is_unreachable`
calls an outage are waited for; any other error is raised at once.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, Optional

from keras_nos.errors import KerasNosError
from keras_nos.tracking.reachability import is_unreachable
from keras_nos.tracking.resume import resume_command

DEFAULT_STORE_PATIENCE = 600.0  # seconds: longer than a server restart, shorter than a lost night
FIRST_RETRY_SECONDS = 1.0
LONGEST_RETRY_SECONDS = 15.0
REPORT_EVERY_SECONDS = 60.0


class StoreUnavailableError(KerasNosError):
    """The tracking store stayed away longer than the search's patience."""


def check_store_patience(seconds: float) -> float:
    """``seconds`` as a float; KerasNosError unless it is a positive number."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds > 0:
        raise KerasNosError(f"store_patience must be a positive number of seconds, got {seconds!r}")
    return float(seconds)


class PatientClient:
    """An ``MlflowClient`` whose calls wait out an outage of the store, up to ``patience`` seconds.

    ``run_id`` (set once the parent run exists) names the run in the line that stops the search;
    ``waiting`` counts the finished results not yet written, for the line printed each minute.
    """

    def __init__(self, client: Any, uri: str, patience: float = DEFAULT_STORE_PATIENCE, *,
                 report: Optional[Callable[[str], None]] = None, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._client, self.uri, self.patience = client, uri, check_store_patience(patience)
        self.run_id = None
        self.waiting = lambda: 0
        self._report = report or (lambda line: print(line, file=sys.stderr, flush=True))
        self._clock, self._sleep = clock, sleep
        self._away_since = self._away_wall = None  # clock and wall time of the first failure of this outage
        self._next_report = None
        self._gave_up = False

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute
        return lambda *args, **kwargs: self._call(attribute, args, kwargs)

    def _call(self, method: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        delay = FIRST_RETRY_SECONDS
        while True:
            try:
                result = method(*args, **kwargs)
            except Exception as error:
                if self._gave_up or not is_unreachable(error):
                    raise
                now = self._clock()
                if self._away_since is None:
                    self._away_since, self._away_wall, self._next_report = now, time.strftime("%H:%M:%S"), now
                if now - self._away_since >= self.patience:
                    self._gave_up = True  # later writes (marking the run failed, releasing it) must not wait again
                    raise StoreUnavailableError(self._stop_line()) from None
                if now >= self._next_report:
                    self._report(f"tracking store unreachable since {self._away_wall}; {self.waiting()} results "
                                 f"waiting; retrying")
                    self._next_report = now + REPORT_EVERY_SECONDS
                self._sleep(min(delay, self._away_since + self.patience - now))
                delay = min(delay * 2, LONGEST_RETRY_SECONDS)
                continue
            if self._away_since is not None:
                self._report(f"tracking store back after {self._clock() - self._away_since:.0f} s; going on")
                self._away_since = None
            return result

    def _stop_line(self) -> str:
        where = (f"search run {self.run_id} stopped; resume with: {resume_command(self.run_id, self.uri)}"
                 if self.run_id else "no search run was made")
        return (f"tracking store {self.uri!r} unreachable since {self._away_wall}, longer than the store patience "
                f"of {self.patience:g} s (--store-patience); {where}")
