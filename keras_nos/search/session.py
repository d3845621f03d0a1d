"""The state of one search between its steps: trials, cache, strategy, executor and tracker.

The loops (``sync_loop``, ``async_loop``) and the funnel stage (``funnel``)
drive a :class:`SearchSession`; it makes each trial (``records.make_trial``),
has the tracker write it, and checkpoints everything on the parent run.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
import os
import re
import tempfile
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Optional, Union

from keras_nos.dsl.fingerprint import fingerprint as rule_fingerprint
from keras_nos.errors import KerasNosError, SearchStoppedError
from keras_nos.search import leaderboard as board
from keras_nos.search.plots import plot_rewards
from keras_nos.search.progress import progress_metrics
from keras_nos.search.records import make_trial
from keras_nos.tasks import result as statuses
from keras_nos.tracking import Trial, tags

if TYPE_CHECKING:
    from tqdm.auto import tqdm

    from keras_nos.executors.base import Executor
    from keras_nos.search.config import SearchConfig
    from keras_nos.search.leaderboard import LeaderboardRow
    from keras_nos.search.space import SearchSpace
    from keras_nos.search.strategies.base import Strategy
    from keras_nos.tasks.result import EvaluationResult
    from keras_nos.tracking import SearchTracker
    from keras_nos.tracking.in_memory import InMemoryTracker
    from keras_nos.tracking.lease import RunLease

ARTIFACT_SECONDS = 30.0  # a checkpoint rewrites the reward plot and the leaderboard CSV at most this often


class SearchSession:
    """One search's trials and what it needs to make more: strategy, executor, cache and tracker."""

    def __init__(self, config: SearchConfig, tracker: Union[SearchTracker, InMemoryTracker], space: SearchSpace,
                 strategy: Strategy, executor: Executor, progress: bool) -> None:
        self.config, self.tracker, self.space, self.strategy, self.executor = config, tracker, space, strategy, executor
        self.progress = progress
        self.options = config.evaluator_options()  # each worker's evaluator's options
        self.budget, self.batch_size = config.budget.candidates, config.budget.batch_size
        self.records: list[Trial] = []  # the trials of the search stage, by index
        # (index, tokens) proposed, not finished at the last checkpoint (async mode)
        self.pending: list[tuple[int, list[str]]] = []
        self.next_index = 0  # index of the next proposal (async mode)
        self.cache: dict[str, EvaluationResult] = {}  # by fingerprint
        self.funnel_results: dict[str, list[float]] = {}  # fingerprint -> the funnel's rewards, by seed
        # fingerprint -> {seed: {"steps", "values" (best rate's), "run_id"}}
        self.funnel_curves: dict[str, dict[int, dict[str, Any]]] = {}
        # reference fingerprint -> fingerprint -> {seed: SeedSpeedup as a dict, or None}: speed over that reference
        self.funnel_speedups: dict[str, dict[str, dict[int, Optional[dict[str, Any]]]]] = {}
        self.replay: dict[int, Trial] = {}  # index -> Trial logged after the last checkpoint
        # the Adam references trained as the candidates were (stage "reference"), by the funnel
        self.references: list[Trial] = []
        self.suite_results: dict[str, str] = {}  # fingerprint -> "wins/tasks" against Adam on the compare suite
        self.progress_logged: set[int] = set()  # indices of the candidates whose step metrics are on the parent run
        self.unwritten = 0  # finished candidates whose write waits for the tracking store
        self.lease: Optional[RunLease] = None  # this process's lease on the parent run, checked before each checkpoint
        self._record_dicts: dict[int, tuple[Trial, dict[str, Any]]] = {}  # index -> (trial, its to_dict())
        self._artifacts_written_at = -math.inf  # time.monotonic() of the last write_artifacts

    @property
    def cache_hits(self) -> int:
        return sum(trial.cache_hit for trial in self.records)

    def restore(self) -> None:
        """Reload the last checkpoint, and keep the candidates written after it for replay."""
        state = self.tracker.load_checkpoint()
        if state is not None:
            _check_checkpoint(state, self.tracker.run_id)
            self.strategy.load_state(state["strategy"])
            self.records = [Trial.from_dict(record) for record in state["records"]]
            self.funnel_results = state["funnel"]
            self.funnel_curves = state["funnel_curves"]
            self.funnel_speedups = state["reference_speedups"]
            self.references = [Trial.from_dict(record) for record in state["references"]]
            self.suite_results = state["suite"]
            self.pending = [(index, list(tokens)) for index, tokens in state.get("pending", [])]
        self.next_index = state.get("next_index", len(self.records)) if state is not None else 0
        for trial in self.records:
            if not trial.cache_hit and _cacheable(trial.result):
                self.cache.setdefault(trial.fingerprint, trial.result)
        finished = {trial.index for trial in self.records}
        self.progress_logged = set(finished)
        for trial in self.tracker.discard_half_written_candidates():
            if trial.stage == "search" and trial.index >= 0 and trial.index not in finished:
                self.replay[trial.index] = trial

    def checkpoint(self, in_flight: Iterable[tuple[int, Sequence[str]]] = ()) -> None:
        """Store the state on the parent run, with the step metrics, the reward plot and the leaderboard."""
        if self.lease is not None:
            self.lease.check()
        state: dict[str, Any] = {
            "strategy": self.strategy.state(), "records": [self._as_dict(trial) for trial in self.records],
            "funnel": self.funnel_results, "references": [trial.to_dict() for trial in self.references],
            "suite": self.suite_results, "funnel_curves": self.funnel_curves,
            "reference_speedups": self.funnel_speedups}
        if self.config.executor.mode == "async":
            state.update(pending=[(index, list(tokens)) for index, tokens in in_flight], next_index=self.next_index)
        self._log_progress()
        self.tracker.save_checkpoint(state)
        if time.monotonic() - self._artifacts_written_at >= ARTIFACT_SECONDS:
            self.write_artifacts()

    def write_artifacts(self) -> None:
        """The reward plot (Figure 4) and the leaderboard CSV on the parent run. They cost time in the number of
        candidates, so a checkpoint rewrites them at most every ``ARTIFACT_SECONDS`` (the state, every time);
        the end of a search writes them last."""
        self._artifacts_written_at = time.monotonic()
        rewards = [trial.reward for trial in self.records]
        with tempfile.TemporaryDirectory() as folder:
            plot = os.path.join(folder, "reward_vs_samples.png")
            plot_rewards(rewards, plot, title=f"{self.strategy.name} on {self.config.task.label}",
                         reward_label=self.config.task.task().reward_label)
            self.tracker.log_artifact_file(plot)
            table = os.path.join(folder, "leaderboard.csv")
            board.write_csv(self.leaderboard(), table)
            self.tracker.log_artifact_file(table)

    def _as_dict(self, trial: Trial) -> dict[str, Any]:
        """``trial.to_dict()``, made once per trial: a checkpoint holds every record, and remaking them all at each
        batch made checkpoints grow with the search (53 ms a candidate at 2,000, ``benchmarks/search_overhead.py``)."""
        known = self._record_dicts.get(trial.index)
        if known is None or known[0] is not trial:
            known = self._record_dicts[trial.index] = (trial, trial.to_dict())
        return known[1]

    def _log_progress(self) -> None:
        """Step metrics of the candidates finished since the last checkpoint, and the strategy's diagnostics."""
        # By index, not by count: in async mode a candidate can finish after one proposed later.
        steps = [step for step in progress_metrics(self.records) if step[0] not in self.progress_logged]
        if steps:
            steps[-1][1].update(self.strategy.diagnostics())
            self.tracker.log_progress(steps)
            self.progress_logged.update(step for step, _ in steps)

    def answer_untrained(self, index: int, tokens: Sequence[str]) -> tuple[Optional[Trial], Optional[str]]:
        """(trial, None) for a proposal that needs no training (replayed from MLflow or answered by the
        cache); (None, rule text) for one the executor must train."""
        if index in self.replay:
            return self.replay.pop(index), None
        rule = self.space.to_rule(tokens)
        cached = self.cache.get(rule_fingerprint(rule))
        if cached is not None:
            return self._write(index, tokens, dataclasses.replace(cached, wall_time=0.0), cache_hit=True), None
        return None, str(rule)

    def record_trained(self, index: int, tokens: Sequence[str], result: EvaluationResult) -> Trial:
        """The written trial of a trained candidate; its result answers later proposals of its behaviour."""
        if _cacheable(result):
            self.cache[result.fingerprint] = result
        return self._write(index, tokens, result, cache_hit=False)

    def _write(self, index: int, tokens: Sequence[str], result: EvaluationResult, cache_hit: bool) -> Trial:
        trial = make_trial(index, result, tokens=tuple(tokens), cache_hit=cache_hit, strategy=self.strategy.name,
                           seed=self.config.seed)
        self.unwritten += 1
        try:
            return dataclasses.replace(trial, run_id=self.tracker.log_candidate(trial))
        finally:
            self.unwritten -= 1

    def stop_if_failing(self) -> None:
        """``SearchStoppedError`` when the last ``max_consecutive_errors`` candidates all ended in error: a task
        that breaks every candidate (a bug in its model or data) is reported, not searched to the end. Called
        after a checkpoint, so what finished is kept. A rule that diverges is not an error."""
        limit = self.config.budget.max_consecutive_errors
        last = self.records[-limit:] if limit else []
        if len(last) == limit and limit and all(trial.status == statuses.ERROR for trial in last):
            raise SearchStoppedError(
                f"stopped: the last {limit} candidates all ended in error ({_first_line(last[-1].result.message)}); "
                f"fix the task, or raise max_consecutive_errors (0 never stops)")

    def accept(self, trial: Trial, bar: CandidateBar) -> None:
        """Add one finished trial in index order, let the strategy learn from it, move the bar."""
        bisect.insort(self.records, trial, key=lambda t: t.index)
        self.observe([trial])
        bar.add([trial])

    def observe(self, trials: Iterable[Trial]) -> None:
        """Tell the strategy the rewards of ``trials``."""
        self.strategy.observe([(list(trial.tokens), trial.reward) for trial in trials])

    def candidate_bar(self) -> CandidateBar:
        """The search stage's progress bar, starting from the candidates already finished."""
        return CandidateBar(self.budget, self.records, self.progress)

    def finish(self) -> None:
        """End the parent run with the summary metrics and the summary line about tuned Adam."""
        best = self.leaderboard()
        top = next((r for r in best if not r["reference"]), None)
        metrics: dict[str, Any] = {"candidates": len(self.records), "cache_hits": self.cache_hits}
        if top is not None:
            metrics.update(best_reward=top["reward"], best_funnel_reward=top["funnel_reward"] or 0.0)
            metrics.update({key: top[key] for key in ("vs_adam", "vs_adam_se", "speedup", "speedup_low",
                                                      "speedup_high") if top[key] is not None})
        self.write_artifacts()
        self.tracker.set_tag(tags.SUMMARY, board.summary(best))
        self.tracker.finish(metrics)

    def reference_rules(self) -> dict[str, str]:
        """{fingerprint: rule text} of the search's Adam references (``leaderboard.reference_rules``)."""
        return {rule_fingerprint(rule): rule for rule in board.reference_rules(self.space)}

    def leaderboard(self) -> list[LeaderboardRow]:
        """The leaderboard of the candidates and references so far (``leaderboard.build_leaderboard``)."""
        return board.build_leaderboard(self.records + self.references, self.funnel_results, self.suite_results,
                                       reference=self.reference_rules(), speedups=self.funnel_speedups,
                                       lengths=self.config.training_lengths())


def progress_bar(total: int, done: int, enabled: bool, desc: str = "candidates", unit: str = "rule") -> tqdm:
    """A tqdm bar of ``total`` steps, ``done`` of them already done; hidden unless ``enabled``."""
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=done, desc=desc, unit=unit, disable=not enabled, dynamic_ncols=True)


class CandidateBar:
    """The search stage's progress bar: candidates done, the best reward and the cache hits so far. It is told
    each trial as it finishes, because the batch loop adds a batch's trials to the records only at its end."""

    def __init__(self, total: int, finished: Sequence[Trial], enabled: bool) -> None:
        self.bar = progress_bar(total, len(finished), enabled)
        self.best = max((trial.reward for trial in finished), default=0.0)
        self.cache_hits = sum(trial.cache_hit for trial in finished)

    def add(self, trials: Sequence[Trial]) -> None:
        """Move the bar on by ``trials``, just finished."""
        self.best = max([self.best, *(trial.reward for trial in trials)])
        self.cache_hits += sum(trial.cache_hit for trial in trials)
        self.bar.set_postfix(best=f"{self.best:.4f}", cache_hits=self.cache_hits, refresh=False)
        self.bar.update(len(trials))

    def close(self) -> None:
        self.bar.close()


def _first_line(message: Optional[str]) -> str:
    """The line of an error message that names the error; Keras puts its own line before a layer's error."""
    lines = [line.strip() for line in re.sub(r"\x1b\[[0-9;]*m", "", message or "").splitlines() if line.strip()]
    if len(lines) > 1 and "Exception encountered when calling" in lines[0]:
        lines = [f"{lines[0]} {lines[1]}"]
    return (lines or ["no message"])[0][:300]


CHECKPOINT_KEYS = frozenset({"strategy", "records", "funnel", "references", "suite", "funnel_curves",
                             "reference_speedups"})


def _check_checkpoint(state: dict[str, Any], run_id: Optional[str]) -> None:
    """One clear error for a checkpoint that an older keras_nos wrote: it cannot be resumed, only searched anew."""
    missing = sorted(CHECKPOINT_KEYS - state.keys())
    if missing:
        raise KerasNosError(f"The checkpoint of search run {run_id!r} was written by an older keras_nos (it lacks "
                            f"{', '.join(missing)}); it cannot be resumed: start a new search")


def _cacheable(result: EvaluationResult) -> bool:
    """Whether a result answers later proposals of its behaviour: not when its worker was lost (it may succeed)."""
    return result.status != statuses.WORKER_LOST and bool(result.fingerprint)
