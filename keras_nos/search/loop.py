"""The search: propose rules, evaluate each behaviour once, learn, checkpoint, repeat.

Order of work per batch: the strategy proposes; proposals whose fingerprint was
already evaluated are answered from the cache; the rest run on the executor;
each finished candidate is written to MLflow at once; the strategy observes the
batch; the checkpoint (strategy state and every record) is stored on the parent
run before the next batch starts. At the end a funnel re-trains the top rules
with more epochs and several seeds, beside Adam as the reference.

That synchronous mode is the default and is exactly reproducible for a seed,
whatever the executor and the number of workers. ``mode="async"`` keeps
``workers`` candidates in flight instead: a new one is proposed as soon as one
finishes, the strategy observes each result as it arrives, each is logged at
once, and the checkpoint (which then also holds the candidates in flight) is
stored every ``batch_size`` results. No worker waits for the slowest candidate
of a batch, but the proposals depend on the order results arrive in.
"""

import bisect
import dataclasses
import os
import tempfile

from keras_nos.dsl.fingerprint import fingerprint as rule_fingerprint
from keras_nos.executors import EXECUTORS, make_executor
from keras_nos.search import leaderboard as board
from keras_nos.search import settings
from keras_nos.search.plots import plot_rewards
from keras_nos.search.progress import progress_metrics
from keras_nos.search.records import make_trial, with_simplified_rule
from keras_nos.search.settings import Default
from keras_nos.search.space import SearchSpace
from keras_nos.search.strategies import STRATEGIES, make_strategy
from keras_nos.tasks.evaluator import learning_rate_grid
from keras_nos.tasks.hurdles import DEFAULT_HURDLES
from keras_nos.tasks import result as statuses
from keras_nos.tasks.registry import get_task
from keras_nos.tracking import SearchTracker, Trial, check_reachable, default_tracking_uri, find_search_run, tags

SEARCH_LEARNING_RATES = learning_rate_grid(1e-4, 1.0, 5)
REFERENCES = (board.REFERENCE,)
# The compare tasks a finished search runs its winner and Adam on by default: none of them on digits, a
# ConvNet, a regression MLP and a function to minimise, about 45 CPU seconds each (benchmarks/noise_ceiling.py).
DEFAULT_FUNNEL_SUITE = ("convnet-shapes", "friedman-regression", "rosenbrock")
MODES = ("sync", "async")


def _validate(task, strategy, space, budget, num_groups, executor="local", mode="sync", candidate_timeout=None,
              max_retries=2, ray_address=None, reward_seeds=1):
    get_task(task)
    if not isinstance(reward_seeds, int) or reward_seeds < 1:
        raise ValueError(f"reward_seeds must be a whole number >= 1, got {reward_seeds!r}")
    if strategy not in STRATEGIES:
        raise ValueError(f"Unknown strategy {strategy!r}; allowed: {', '.join(STRATEGIES)}")
    if not isinstance(budget, int) or budget < 1:
        raise ValueError(f"budget must be a whole number of candidates >= 1, got {budget!r}")
    if executor not in EXECUTORS:
        raise ValueError(f"Unknown executor {executor!r}; allowed: {', '.join(EXECUTORS)}")
    if mode not in MODES:
        raise ValueError(f"Unknown mode {mode!r}; allowed: {', '.join(MODES)}")
    if candidate_timeout is not None and not candidate_timeout > 0:
        raise ValueError(f"candidate_timeout must be a positive number of seconds, got {candidate_timeout!r}")
    if not isinstance(max_retries, int) or max_retries < 0:
        raise ValueError(f"max_retries must be a whole number >= 0, got {max_retries!r}")
    if ray_address is not None and executor != "ray":
        raise ValueError(f"ray_address {ray_address!r} needs executor='ray' (--executor ray)")
    return SearchSpace.preset(space, num_groups=num_groups)


def search(task=Default("digits-autoencoder"), strategy=Default("rl"), budget=Default(200), space=Default("paper"),
           seed=Default(0), workers=Default(1), batch_size=Default(10), num_groups=Default(None), tracking_uri=None,
           resume=None, experiment=Default("keras-nos"), learning_rates=Default(SEARCH_LEARNING_RATES),
           epochs=Default(None), data_path=Default(None), hurdles=Default(DEFAULT_HURDLES), funnel_top_k=Default(5),
           funnel_seeds=Default(5), funnel_epochs=Default(None), executor=Default("local"), progress=True,
           strategy_options=Default(None), max_batches=None, ray_address=Default(None), candidate_timeout=Default(None),
           max_retries=Default(2), mode=Default("sync"), executor_options=Default(None),
           funnel_suite=Default(DEFAULT_FUNNEL_SUITE),
           reward_seeds=Default(1)):
    """Run (or resume) a search and return its leaderboard rows, best first.

    Every argument is checked before anything is written. ``resume`` is the
    parent run id of an earlier search: its settings are stored on that run
    and used for every argument left out; a given one that contradicts them is
    a ValueError, except a larger ``budget`` and ``workers``, ``ray_address``
    and ``data_path`` (where it runs, not what). Finished evaluations are
    restored, never run again. ``max_batches`` stops early after that many
    batches (in async mode: checkpoints; for tests of resume).

    ``executor`` is ``"local"`` (processes on this machine) or ``"ray"`` (a Ray
    cluster at ``ray_address``: None starts a local instance, ``"auto"`` or
    ``"HOST:PORT"`` connects). A candidate whose worker dies is retried up to
    ``max_retries`` times, then recorded as ``worker_lost``; one running over
    ``candidate_timeout`` seconds is cancelled as ``timeout``. ``mode`` is
    ``"sync"`` (batches; reproducible) or ``"async"`` (``workers`` candidates
    always in flight). ``executor_options`` are further keyword arguments of
    the executor (for Ray: ``num_cpus_per_task``, ``num_gpus_per_task``, ``ship_data``).
    ``reward_seeds`` > 1 trains each candidate's best learning rate with that many
    seeds and rewards their mean (``Evaluator``): a less noisy reward for more compute.

    The funnel trains the top ``funnel_top_k`` rules and tuned Adam (the same
    learning-rate grid) with ``funnel_seeds`` seeds; each row's ``vs_adam`` is its
    mean difference from Adam paired by seed, with a standard error, and
    ``leaderboard.summary`` says whether the winner beats Adam beyond two of them.
    ``funnel_suite`` (names of ``keras_nos.compare`` tasks, ``"all"``, or ``"none"``)
    then runs the winner and Adam through that suite, with the same
    learning-rate budget and seeds; the ``suite_vs_adam`` column says on how many
    of its tasks the winner beat Adam.
    """
    defaults = settings.defaults_of(search)
    chosen = settings.given(locals(), defaults)
    if resume:
        uri = tracking_uri or default_tracking_uri()
        check_reachable(uri)
        chosen = settings.for_resume(find_search_run(uri, resume), chosen, defaults)
    resolved = dict(defaults, **chosen)
    return _run_search(tracking_uri, resume, progress, max_batches, settings.encode(resolved), **resolved)


def _run_search(tracking_uri, resume, progress, max_batches, stored_settings, *, task, strategy, budget, space, seed,
                workers, batch_size, num_groups, experiment, learning_rates, epochs, data_path, hurdles, funnel_top_k,
                funnel_seeds, funnel_epochs, executor, strategy_options, ray_address, candidate_timeout, max_retries,
                mode, executor_options, funnel_suite, reward_seeds):
    """The search of ``search()``, every setting resolved; ``stored_settings`` is their JSON for the parent run."""
    search_space = _validate(task, strategy, space, budget, num_groups, executor, mode, candidate_timeout,
                             max_retries, ray_address, reward_seeds)
    suite = _suite_names(funnel_suite)
    uri = tracking_uri or default_tracking_uri()
    check_reachable(uri)
    options = dict(task=task, learning_rates=tuple(learning_rates), seed=seed, data_path=data_path, epochs=epochs,
                   hurdles=tuple(hurdles), reward_seeds=reward_seeds)
    params = {"strategy": strategy, "budget": budget, "space": search_space.name, "num_groups": search_space.num_groups,
              "workers": workers, "batch_size": batch_size, "executor": executor, "funnel_top_k": funnel_top_k,
              "funnel_seeds": funnel_seeds, "mode": mode, "candidate_timeout": candidate_timeout,
              "max_retries": max_retries, **{k: v for k, v in options.items()},
              **({"ray_address": ray_address or "local"} if executor == "ray" else {}),
              **{f"executor.{k}": v for k, v in (executor_options or {}).items()},
              **{f"strategy.{k}": v for k, v in (strategy_options or {}).items()},
              **({"funnel_suite": ",".join(suite)} if suite else {})}
    extra = dict(executor_options or {}, timeout=candidate_timeout, max_retries=max_retries)
    if executor == "ray":
        extra["address"] = ray_address
    # The data and the executor come first: a missing data set, a missing Ray or an unreachable cluster is
    # reported before anything is written.
    _check_data(task, data_path, seed)
    runner = make_executor(executor, options, workers, **extra)
    try:
        tracker = SearchTracker(uri, experiment, run_id=resume, params=params, run_name=f"{strategy}-{task}",
                                settings=stored_settings)
        run = _SearchRun(tracker, search_space,
                         make_strategy(strategy, search_space, seed=seed, **(strategy_options or {})), runner, options,
                         budget, batch_size, progress, mode)
    except BaseException:
        runner.close()
        raise
    try:
        if resume:
            run.restore()
        finished = run.run(max_batches)
        if finished:
            run.funnel(funnel_top_k, funnel_seeds, funnel_epochs or 2 * (epochs or get_task(task).epochs))
            if suite and funnel_top_k > 0 and funnel_seeds > 0:
                run.generalize(suite, funnel_seeds, experiment)
            run.finish()
        return run.leaderboard()
    finally:
        run.executor.close()


class _SearchRun:
    """State of one search between batches: records, cache, strategy, tracker."""

    def __init__(self, tracker, space, strategy, executor, options, budget, batch_size, progress, mode="sync"):
        self.tracker, self.space, self.strategy, self.executor = tracker, space, strategy, executor
        self.options, self.budget, self.batch_size, self.progress = options, budget, batch_size, progress
        self.mode = mode
        self.records = []  # [Trial] of the search stage, by index
        self.pending = []  # [(index, tokens)] proposed, not finished at the last checkpoint (async mode)
        self.next_index = 0  # index of the next proposal (async mode)
        self.cache = {}  # fingerprint -> EvaluationResult
        self.funnel_results = {}  # fingerprint -> list of rewards
        self.replay = {}  # index -> Trial logged after the last checkpoint
        self.references = []  # funnel trials of reference optimizers, shown beside the found rules
        self.suite_results = {}  # fingerprint -> "wins/tasks" against Adam on the compare suite
        self.progress_logged = set()  # indices of the candidates whose step metrics are on the parent run

    @property
    def cache_hits(self):
        return sum(trial.cache_hit for trial in self.records)

    def restore(self):
        state = self.tracker.load_checkpoint()
        if state is not None:
            self.strategy.load_state(state["strategy"])
            self.records = [with_simplified_rule(Trial.from_dict(record)) for record in state["records"]]
            self.funnel_results = state["funnel"]
            self.references = [with_simplified_rule(Trial.from_dict(record)) for record in state["references"]]
            self.suite_results = state.get("suite", {})
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

    def _checkpoint(self, in_flight=()):
        state = {"strategy": self.strategy.state(), "records": [trial.to_dict() for trial in self.records],
                 "funnel": self.funnel_results, "references": [trial.to_dict() for trial in self.references],
                 "suite": self.suite_results}
        if self.mode == "async":
            state.update(pending=[(index, list(tokens)) for index, tokens in in_flight], next_index=self.next_index)
        self._log_progress()
        self.tracker.save_checkpoint(state)
        rewards = [trial.reward for trial in self.records]
        with tempfile.TemporaryDirectory() as folder:
            plot = os.path.join(folder, "reward_vs_samples.png")
            plot_rewards(rewards, plot, title=f"{self.strategy.name} on {self.options['task']}")
            self.tracker.log_artifact_file(plot)
            table = os.path.join(folder, "leaderboard.csv")
            board.write_csv(self.leaderboard(), table)
            self.tracker.log_artifact_file(table)

    def _log_progress(self):
        """Step metrics of the candidates finished since the last checkpoint, and the strategy's diagnostics."""
        # By index, not by count: in async mode a candidate can finish after one proposed later.
        steps = [step for step in progress_metrics(self.records) if step[0] not in self.progress_logged]
        if steps:
            diagnostics = getattr(self.strategy, "diagnostics", None)  # optional: duck-typed strategies may lack it
            steps[-1][1].update(diagnostics() if diagnostics else {})
            self.tracker.log_progress(steps)
            self.progress_logged.update(step for step, _ in steps)

    def run(self, max_batches=None):
        """Evaluate until the budget is spent; True when it was."""
        if self.mode == "async":
            return self._run_async(max_batches)
        bar = _progress_bar(self.budget, len(self.records), self.progress)
        batches = 0
        try:
            if self.pending:  # candidates in flight when an async search stopped: finish them first
                pending, self.pending = sorted(self.pending), []
                finished = self._evaluate_batch([tokens for _, tokens in pending], bar,
                                                indices=[index for index, _ in pending])
                self._observe(finished)
                self.records.sort(key=lambda trial: trial.index)
                self._checkpoint()
            while len(self.records) < self.budget:
                if max_batches is not None and batches >= max_batches:
                    return False
                proposals = self.strategy.propose(min(self.batch_size, self.budget - len(self.records)))
                finished = self._evaluate_batch(proposals, bar)
                self._observe(finished)
                self._checkpoint()
                batches += 1
        finally:
            bar.close()
        return True

    def _evaluate_batch(self, proposals, bar, indices=None):
        start = len(self.records)
        pending, finished = [], []
        for offset, tokens in enumerate(proposals):
            index = start + offset if indices is None else indices[offset]
            if index in self.replay:
                finished.append(self.replay.pop(index))
                continue
            rule = self.space.to_rule(tokens)
            cached = self.cache.get(rule_fingerprint(rule))
            if cached is not None:
                finished.append(self._log(index, tokens, dataclasses.replace(cached, wall_time=0.0), cache_hit=True))
            else:
                pending.append((index, tokens, str(rule)))
        for position, result in self.executor.map_unordered([text for _, _, text in pending]):
            index, tokens, _ = pending[position]
            if _cacheable(result):
                self.cache[result.fingerprint] = result
            finished.append(self._log(index, tokens, result, cache_hit=False))
            self._advance(bar, 1)
        self._advance(bar, len(proposals) - len(pending))
        finished.sort(key=lambda trial: trial.index)
        self.records.extend(finished)
        return finished

    def _run_async(self, max_checkpoints=None):
        """Keep ``workers`` candidates in flight; observe, log and count each result as it arrives."""
        bar = _progress_bar(self.budget, len(self.records), self.progress)
        capacity = getattr(self.executor, "workers", 1)
        waiting, self.pending = sorted(self.pending), []  # in flight when the last run stopped: first again
        in_flight = {}  # ticket -> (index, tokens)
        since_checkpoint = checkpoints = 0
        try:
            while True:
                while len(in_flight) < capacity and (waiting or self.next_index < self.budget):
                    if waiting:
                        index, tokens = waiting.pop(0)
                    else:
                        index, tokens = self.next_index, list(self.strategy.propose(1)[0])
                        self.next_index += 1
                    record = self._start(index, tokens, in_flight)
                    if record is not None:
                        self._accept(record, bar)
                        since_checkpoint += 1
                if in_flight:
                    ticket, result = self.executor.next_result()
                    index, tokens = in_flight.pop(ticket)
                    if _cacheable(result):
                        self.cache[result.fingerprint] = result
                    self._accept(self._log(index, tokens, result, cache_hit=False), bar)
                    since_checkpoint += 1
                done = not in_flight and not waiting and self.next_index >= self.budget
                if since_checkpoint >= self.batch_size or (done and since_checkpoint):
                    self._checkpoint(list(in_flight.values()) + waiting)
                    since_checkpoint = 0
                    checkpoints += 1
                    if not done and max_checkpoints is not None and checkpoints >= max_checkpoints:
                        self.executor.forget(list(in_flight))
                        self.pending = sorted(list(in_flight.values()) + waiting)
                        return False
                if done:
                    return True
        finally:
            bar.close()

    def _start(self, index, tokens, in_flight):
        """A finished record (replayed from MLflow or answered by the cache), or None when it went to the executor."""
        if index in self.replay:
            return self.replay.pop(index)
        rule = self.space.to_rule(tokens)
        cached = self.cache.get(rule_fingerprint(rule))
        if cached is not None:
            return self._log(index, tokens, dataclasses.replace(cached, wall_time=0.0), cache_hit=True)
        in_flight[self.executor.submit(str(rule))] = (index, tokens)
        return None

    def _accept(self, trial, bar):
        bisect.insort(self.records, trial, key=lambda t: t.index)
        self._observe([trial])
        self._advance(bar, 1)

    def _observe(self, trials):
        self.strategy.observe([(list(trial.tokens), trial.reward) for trial in trials])

    def _log(self, index, tokens, result, cache_hit):
        """Make the trial of a finished candidate and write it; the trial, with its run id."""
        trial = make_trial(index, result, tokens=tuple(tokens), cache_hit=cache_hit, strategy=self.strategy.name,
                           seed=self.options["seed"])
        return dataclasses.replace(trial, run_id=self.tracker.log_candidate(trial))

    def _advance(self, bar, count):
        rewards = [trial.reward for trial in self.records]
        bar.set_postfix(best=f"{max(rewards, default=0):.4f}", cache_hits=self.cache_hits, refresh=False)
        bar.update(count)

    def funnel(self, top_k, seeds, epochs):
        """Re-train the top-k behaviours and the references with more epochs and several seeds.

        The trainings run on the search's executor, seed by seed (the seed is an
        evaluator option, so each seed gets fresh workers); each is logged and
        checkpointed as it finishes, and a resumed funnel runs only what is missing.
        The per-candidate time limit grows with the epochs.
        ``top_k=0`` or ``seeds=0`` turns the funnel off, the references with it."""
        entries = {}  # fingerprint -> [rule, is_reference]; a found rule that is Adam is also the reference
        if top_k > 0 and seeds > 0:
            for row in board.build_leaderboard(self.records, {})[:top_k]:
                entries[row["fingerprint"]] = [row["rule"], False]
            for reference in REFERENCES:
                entries.setdefault(rule_fingerprint(reference), [reference, True])[1] = True
        entries = [(fingerprint, rule, is_reference) for fingerprint, (rule, is_reference) in entries.items()]
        missing = sum(max(0, seeds - len(self.funnel_results.get(fingerprint, []))) for fingerprint, _, _ in entries)
        bar = _progress_bar(missing, 0, self.progress, desc="funnel", unit="training")
        search_epochs = self.options["epochs"] or get_task(self.options["task"]).epochs
        timeout = self.executor.timeout and self.executor.timeout * max(1.0, epochs / search_epochs)
        for seed in range(seeds):
            waiting = [(position, entry) for position, entry in enumerate(entries)
                       if len(self.funnel_results.get(entry[0], [])) == seed]
            if not waiting:
                continue
            bar.set_postfix_str(f"seed {seed}")
            # The funnel averages its own seeds: each of its trainings is one seed's.
            self.executor.reconfigure(dict(self.options, seed=seed, epochs=epochs, hurdles=(), reward_seeds=1),
                                      timeout=timeout)
            for i, result in self.executor.map_unordered([rule for _, (_, rule, _) in waiting]):
                position, (fingerprint, rule, is_reference) = waiting[i]
                trial = make_trial(position * seeds + seed, result, strategy="funnel", seed=seed, stage="funnel",
                                   reference=is_reference)
                trial = dataclasses.replace(trial, run_id=self.tracker.log_candidate(trial))
                if is_reference and seed == 0:
                    self.references.append(trial)
                self.funnel_results.setdefault(fingerprint, []).append(result.reward)
                self._checkpoint()
                bar.update(1)
        bar.close()

    def finish(self):
        """End the parent run with the summary metrics and the summary line about tuned Adam."""
        best = self.leaderboard()
        top = next((r for r in best if r["tokens"] != "reference"), None)
        metrics = {"candidates": len(self.records), "cache_hits": self.cache_hits}
        if top is not None:
            metrics.update(best_reward=top["reward"], best_funnel_reward=top["funnel_reward"] or 0.0)
            metrics.update({key: top[key] for key in ("vs_adam", "vs_adam_se") if top[key] is not None})
        self.tracker.set_tag(tags.SUMMARY, board.summary(best))
        self.tracker.finish(metrics)

    def generalize(self, suite, seeds, experiment):
        """Run the funnel's winner and Adam through the compare suite; count the tasks it beats Adam on."""
        from keras_nos.compare import compare
        from keras_nos.compare.report import score

        rows = [row for row in self.leaderboard() if row["tokens"] != "reference"][:1]
        rows = [row for row in rows if row["fingerprint"] not in self.suite_results]
        if not rows:
            return
        rates = self.options["learning_rates"]
        comparison = compare([row["raw_rule"] for row in rows], baselines=["adam"], tasks=suite, seeds=seeds,
                             lr_grid=len(rates), lr_range=(min(rates), max(rates)), tracking_uri=self.tracker.uri,
                             experiment=experiment, progress=self.progress, parent_run_id=self.tracker.run_id,
                             run_name="funnel-suite")
        for row in rows:
            wins = sum(score(comparison.outcome(t, row["raw_rule"].strip()).mean, t.higher_is_better)
                       > score(comparison.outcome(t, "adam").mean, t.higher_is_better) for t in comparison.tasks)
            self.suite_results[row["fingerprint"]] = f"{wins}/{len(comparison.tasks)}"
        self.tracker.set_tag(tags.SUITE, self.suite_results)
        self._checkpoint()

    def leaderboard(self):
        return board.build_leaderboard(self.records + self.references, self.funnel_results, self.suite_results,
                                       reference=rule_fingerprint(board.REFERENCE))


def _check_data(task, data_path, seed):
    """Load the task's data once in the driver: the workers load it lazily, after the parent run exists."""
    task = get_task(task)
    if task.load_data is not None:
        task.load_data(data_path, seed)


def _suite_names(funnel_suite):
    """Names of the compare tasks of ``funnel_suite`` (checked now), or None for none."""
    if not funnel_suite or funnel_suite == "none":
        return None
    from keras_nos.compare.suite import resolve_tasks

    return [t.name for t in resolve_tasks(funnel_suite)]


def _cacheable(result):
    """Whether a result answers later proposals of its behaviour: not when its worker was lost (it may succeed)."""
    return result.status != statuses.WORKER_LOST and bool(result.fingerprint)


def _progress_bar(total, done, enabled, desc="candidates", unit="rule"):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=done, desc=desc, unit=unit, disable=not enabled, dynamic_ncols=True)
