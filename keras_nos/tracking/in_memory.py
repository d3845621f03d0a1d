"""A search's records kept in this process only: the search loop without MLflow.

As Optuna's ``InMemoryStorage`` stands beside its RDB storage, ``InMemoryTracker``
has :class:`~keras_nos.tracking.search_runs.SearchTracker`'s interface, so
benchmarks and tests run the real loop (proposals, cache, hurdles, funnel)
without a store's writes. What it keeps lives as long as the tracker: nothing
resumes from it.
"""

from __future__ import annotations

import itertools
import pickle
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from keras_nos.tracking.trials import Trial

MEMORY_URI = "memory:"  # search(tracking_uri=MEMORY_URI): keep the records in this process


def is_in_memory(uri: object) -> bool:
    """Whether ``uri`` (a ``tracking_uri``) asks for records in memory: :data:`MEMORY_URI` or a tracker itself."""
    return isinstance(uri, InMemoryTracker) or uri == MEMORY_URI


class InMemoryTracker:
    """Holds a search's trials, progress curves, tags, artifacts and checkpoint in memory."""

    uri = MEMORY_URI

    def __init__(self, params: dict[str, Any] | None = None) -> None:
        self.run_id = f"memory-{uuid.uuid4().hex[:12]}"
        self.params = dict(params or {})
        self.trials: list[Trial] = []  # every trial as log_candidate received it, in that order
        self.tags: dict[str, str] = {}
        self.metrics: dict[str, list[tuple[int, float]]] = {}  # name -> [(step, value)]
        self.run_metrics: dict[str, dict[str, float]] = {}  # a trial's id -> metrics added after it was kept
        self.artifacts: dict[str, bytes] = {}  # artifact path -> content
        self.status = "RUNNING"
        self._checkpoint: bytes | None = None
        self._run_ids = (f"{self.run_id}-{n}" for n in itertools.count())

    def log_candidate(self, trial: Trial) -> str:
        """Keep a finished trial; returns the id it is known by."""
        self.trials.append(trial)
        return next(self._run_ids)

    def log_run_metrics(self, run_id: str, metrics: dict[str, float]) -> None:
        """Add ``metrics`` to a trial already kept (a funnel training's speedup), under its id."""
        self.run_metrics.setdefault(run_id, {}).update(metrics)

    def save_checkpoint(self, state: Any) -> None:
        """Keep a pickled copy, as the MLflow tracker does: later changes to ``state`` do not reach it."""
        self._checkpoint = pickle.dumps(state)

    def load_checkpoint(self) -> Any:
        return None if self._checkpoint is None else pickle.loads(self._checkpoint)

    def discard_half_written_candidates(self) -> list[Trial]:
        """Nothing is ever half-written in memory: the finished trials, as a resume would read them."""
        return list(self.trials)

    def log_progress(self, steps: list[tuple[int, dict[str, float]]]) -> None:
        for step, values in steps:
            for name, value in values.items():
                self.metrics.setdefault(name, []).append((step, float(value)))

    def set_tag(self, name: str, value: Any) -> None:
        self.tags[name] = value if isinstance(value, str) else repr(value)

    def log_artifact_file(self, path: str, artifact_path: str | None = None) -> None:
        name = Path(path).name
        self.artifacts[f"{artifact_path}/{name}" if artifact_path else name] = Path(path).read_bytes()

    def finish(self, metrics: dict[str, float]) -> None:
        self.log_progress([(0, metrics)])
        self.status = "FINISHED"

    def fail(self) -> None:
        self.status = "FAILED"
