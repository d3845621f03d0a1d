"""MLflow records of a search: one parent run, one nested run per trial, and reading them back.

The driver is the only writer. Every trial is written the moment it is
finished, and the search checkpoint (strategy state and all trials) is an
artifact of the parent run, so a search can resume from its run id alone.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import tempfile
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Optional

from keras_nos.errors import KerasNosError
from keras_nos.tasks import result as statuses
from keras_nos.tracking import store, tags
from keras_nos.tracking.trials import run_fields, trial_from_run
from keras_nos.tracking.writer import RunWriter

if TYPE_CHECKING:
    from mlflow.entities import Run

    from keras_nos.tracking.trials import Trial

CHECKPOINT_ARTIFACT = "checkpoint/search_state.pkl"
LATEST_SEARCH_HINT = "'keras-nos leaderboard --tracking-uri URI' prints the latest search's run id"


def find_search_run(uri: str, run_id: str) -> Run:
    """The parent run ``run_id`` of a search; ValueError when it does not exist or is another kind of run."""
    try:
        run = store.client(uri).get_run(run_id)
    except Exception:
        raise KerasNosError(f"No search run with id {run_id!r} in tracking store {uri!r}; {LATEST_SEARCH_HINT}") from None
    run_tags = run.data.tags
    kind = run_tags.get(tags.KIND)
    if tags.STAGE in run_tags:
        raise KerasNosError(f"Run {run_id!r} is a {run_tags[tags.STAGE]} candidate of search run "
                         f"{run_tags.get(tags.PARENT)!r}; give that parent run's id")
    if kind not in (None, "search"):
        raise KerasNosError(f"Run {run_id!r} in {uri!r} is a {kind} run, not a search's parent run; {LATEST_SEARCH_HINT}")
    return run


def latest_search_run_id(uri: str, experiment: str) -> str:
    """The run id of the newest search in ``experiment``; ValueError when there is none."""
    client = store.client(uri)
    found = client.get_experiment_by_name(experiment)
    runs = client.search_runs([found.experiment_id], filter_string=f"tags.`{tags.KIND}` = 'search'",
                              order_by=["attributes.start_time DESC"], max_results=1) if found else []
    if not runs:
        raise KerasNosError(f"No search runs in experiment {experiment!r} of {uri!r}; run 'keras-nos search' first")
    return runs[0].info.run_id


def candidate_runs(uri: str, run_id: str) -> list[Run]:
    """The nested runs of search ``run_id``, as MLflow Run objects."""
    parent = find_search_run(uri, run_id)
    return store.client(uri).search_runs([parent.info.experiment_id],
                                         filter_string=f"tags.{tags.PARENT} = '{run_id}'", max_results=50000)


SPEEDUP_OVER = "speedup_over_"


def speedup_metrics(reference: str) -> tuple[str, str, str]:
    """The metric names, on a funnel training's run, of its speed over the Adam reference ``reference`` (rule
    text): (speedup, lower-bound flag, the reference's steps to the target). Plain ``adam`` has the plain names;
    ``adam*cd`` has ``speedup_over_adam_cd``, ``speedup_lower_bound_over_adam_cd`` and
    ``reference_steps_to_target_over_adam_cd``."""
    if reference == "adam":
        return "speedup", "speedup_lower_bound", "adam_steps_to_target"
    key = re.sub(r"[^0-9A-Za-z]+", "_", reference).strip("_")
    return f"{SPEEDUP_OVER}{key}", f"speedup_lower_bound_over_{key}", f"reference_steps_to_target_over_{key}"


def read_search(uri: str, run_id: str, speedups: bool = False) -> tuple[Any, ...]:
    """What a leaderboard is built from: (trials, funnel rewards by seed, suite results) of search ``run_id``.

    The trials are the search's candidates and the funnel trainings of the references; the funnel maps each
    fingerprint to its rewards in seed order; the suite maps fingerprint -> "wins/tasks" against Adam. With
    ``speedups``, a fourth item maps a reference's speedup metric (``speedup_metrics``) -> fingerprint -> {seed:
    {"value", "lower_bound"}}: each funnel training's speed over that Adam reference.
    """
    trials, funnel, speeds = [], {}, {}  # funnel: fingerprint -> [(seed, reward)]
    for run in candidate_runs(uri, run_id):
        trial = trial_from_run(run)
        if trial.stage == "funnel":
            funnel.setdefault(trial.fingerprint, []).append((trial.seed, trial.reward))
            for name, value in run.data.metrics.items():
                if name == "speedup" or name.startswith(SPEEDUP_OVER):
                    bound = "speedup_lower_bound" + name[len("speedup"):]
                    speeds.setdefault(name, {}).setdefault(trial.fingerprint, {})[trial.seed] = {
                        "value": value, "lower_bound": bool(run.data.metrics.get(bound, 0.0))}
            if not trial.reference:
                continue
        trials.append(trial)
    suite = json.loads(find_search_run(uri, run_id).data.tags.get(tags.SUITE, "{}"))
    funnel = {fp: [reward for _, reward in sorted(pairs)] for fp, pairs in funnel.items()}
    return (trials, funnel, suite, speeds) if speedups else (trials, funnel, suite)


class SearchTracker(RunWriter):
    """Writes a search's parent run, its trials, artifacts and checkpoint."""

    def __init__(self, uri: str, experiment_name: str = "keras-nos", run_id: Optional[str] = None,
                 params: Optional[Mapping[str, Any]] = None, run_name: Optional[str] = None,
                 settings: Optional[str] = None) -> None:
        """``settings``: the JSON text of the search's settings, stored as a tag when the run is made (a kill
        right after still leaves a resumable run) and again on each resume."""
        super().__init__(uri)
        settings_tag = {tags.SETTINGS: settings} if settings is not None else {}
        if run_id is None:
            self.experiment_id = store.get_or_create_experiment(experiment_name, uri)
            self.run_id = self._create_run({tags.KIND: "search", **settings_tag}, run_name)
            self._log_params(self.run_id, params or {})
        else:
            self.experiment_id = find_search_run(uri, run_id).info.experiment_id
            self.run_id = run_id
            for key, value in settings_tag.items():
                self.client.set_tag(run_id, key, value)
            self.client.update_run(run_id, status="RUNNING")

    def log_candidate(self, trial: Trial) -> str:
        """One nested run for a finished trial; returns its run id."""
        run_tags, params, metrics = run_fields(trial, self.run_id)
        run_id = self._create_run(run_tags)
        self._log_params(run_id, params)
        self._log_metrics(run_id, metrics)
        # FAILED is MLflow's word for a run that broke; a rule that diverged was evaluated fine (its status tag says how).
        self.client.set_terminated(run_id, status="FAILED" if trial.status in statuses.BROKEN else "FINISHED")
        return run_id

    def log_run_metrics(self, run_id: str, metrics: Mapping[str, float]) -> None:
        """Add ``metrics`` ({name: value}) to a nested run already written (a funnel training's speedup)."""
        self._log_metrics(run_id, [(name, value, 0) for name, value in metrics.items()])

    def save_checkpoint(self, state: Any) -> None:
        """Pickle the search state and store it on the parent run (replacing the last one)."""
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, os.path.basename(CHECKPOINT_ARTIFACT))
            with open(path, "wb") as handle:
                pickle.dump(state, handle)
            self.client.log_artifact(self.run_id, path, os.path.dirname(CHECKPOINT_ARTIFACT))

    def load_checkpoint(self) -> Any:
        """The last checkpoint of this run, or None when it has none yet."""
        from mlflow.artifacts import download_artifacts

        with tempfile.TemporaryDirectory() as folder:
            try:
                path = download_artifacts(run_id=self.run_id, artifact_path=CHECKPOINT_ARTIFACT, dst_path=folder,
                                          tracking_uri=self.uri)
            except Exception:
                return None
            with open(path, "rb") as handle:
                return pickle.load(handle)

    def discard_half_written_candidates(self) -> list[Trial]:
        """Delete trial runs that a killed driver left unfinished; return the finished ones as trials.

        ``log_candidate`` terminates every run it creates, so a run of this search still
        RUNNING when it resumes was cut off mid-write (its rule, metrics or status may be
        missing). Such a candidate never finished: it is evaluated again, and keeping its
        run would show it twice in the MLflow UI.
        """
        finished = []
        for run in candidate_runs(self.uri, self.run_id):
            if run.info.status == "RUNNING" and run.data.tags.get(tags.STAGE) in ("search", "funnel", "reference"):
                self.client.delete_run(run.info.run_id)
            else:
                finished.append(trial_from_run(run))
        return finished

    def log_progress(self, steps: Sequence[tuple[int, Mapping[str, float]]]) -> None:
        """Step metrics on the parent run, ``steps`` = [(step, {name: value})]: the curves of the chart view."""
        self._log_metrics(self.run_id, [(name, value, step) for step, values in steps for name, value in values.items()])

    def set_tag(self, name: str, value: Any) -> None:
        """Tag ``name`` (one of :mod:`keras_nos.tracking.tags`) on the parent run; a value that is not text as JSON."""
        self.client.set_tag(self.run_id, name, value if isinstance(value, str) else json.dumps(value))
