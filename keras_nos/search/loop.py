"""The search: propose rules, evaluate each behaviour once, learn, checkpoint, repeat.

Order of work per batch: the strategy proposes; proposals whose fingerprint was
already evaluated are answered from the cache; the rest run on the executor;
each finished candidate is written to MLflow at once; the strategy observes the
batch; the checkpoint (strategy state and every record) is stored on the parent
run before the next batch starts. At the end a funnel re-trains the top rules
with more epochs and several seeds, beside Adam as the reference.
"""

import os
import tempfile
import time

import numpy as np

from keras_nos import tracking as store
from keras_nos.dsl.fingerprint import fingerprint as rule_fingerprint
from keras_nos.executors import make_executor
from keras_nos.search import leaderboard as board
from keras_nos.search.plots import plot_rewards
from keras_nos.search.space import SearchSpace
from keras_nos.search.strategies import STRATEGIES, make_strategy
from keras_nos.search.tracking import TAG_PREFIX, SearchTracker, candidate_runs, check_reachable, find_run
from keras_nos.tasks.evaluator import Evaluator, learning_rate_grid
from keras_nos.tasks.registry import get_task
from keras_nos.tasks.result import EvaluationResult

SEARCH_LEARNING_RATES = learning_rate_grid(1e-4, 1.0, 5)
REFERENCES = ("adam",)


def _validate(task, strategy, space, budget, num_groups):
    get_task(task)
    if strategy not in STRATEGIES:
        raise ValueError(f"Unknown strategy {strategy!r}; allowed: {', '.join(STRATEGIES)}")
    if not isinstance(budget, int) or budget < 1:
        raise ValueError(f"budget must be a whole number of candidates >= 1, got {budget!r}")
    return SearchSpace.preset(space, num_groups=num_groups)


def search(task="digits-convnet", strategy="rl", budget=200, space="paper", seed=0, workers=1, batch_size=10,
           num_groups=None, tracking_uri=None, resume=None, experiment="keras-nos", learning_rates=SEARCH_LEARNING_RATES,
           epochs=None, data_path=None, hurdles=("quadratic",), funnel_top_k=5, funnel_seeds=3, funnel_epochs=None,
           executor="local", progress=True, strategy_options=None, max_batches=None):
    """Run (or resume) a search and return its leaderboard rows, best first.

    Every argument is checked before anything is written. ``resume`` is the
    parent run id of an earlier search with the same settings; finished
    evaluations are restored, never run again. ``max_batches`` stops early
    after that many batches (for tests of resume).
    """
    search_space = _validate(task, strategy, space, budget, num_groups)
    uri = tracking_uri or store.default_tracking_uri()
    check_reachable(uri)
    if resume:
        find_run(uri, resume)
    options = dict(task=task, learning_rates=tuple(learning_rates), seed=seed, data_path=data_path, epochs=epochs,
                   hurdles=tuple(hurdles))
    params = {"strategy": strategy, "budget": budget, "space": search_space.name, "num_groups": search_space.num_groups,
              "workers": workers, "batch_size": batch_size, "executor": executor, "funnel_top_k": funnel_top_k,
              "funnel_seeds": funnel_seeds, **{k: v for k, v in options.items()},
              **{f"strategy.{k}": v for k, v in (strategy_options or {}).items()}}
    tracker = SearchTracker(uri, experiment, run_id=resume, params=params, run_name=f"{strategy}-{task}")
    run = _SearchRun(tracker, search_space, make_strategy(strategy, search_space, seed=seed, **(strategy_options or {})),
                     make_executor(executor, options, workers), options, budget, batch_size, progress)
    try:
        if resume:
            run.restore()
        finished = run.run(max_batches)
        if finished:
            run.funnel(funnel_top_k, funnel_seeds, funnel_epochs or 2 * (epochs or get_task(task).epochs))
        return run.leaderboard()
    finally:
        run.executor.close()


class _SearchRun:
    """State of one search between batches: records, cache, strategy, tracker."""

    def __init__(self, tracker, space, strategy, executor, options, budget, batch_size, progress):
        self.tracker, self.space, self.strategy, self.executor = tracker, space, strategy, executor
        self.options, self.budget, self.batch_size, self.progress = options, budget, batch_size, progress
        self.records = []
        self.cache = {}  # fingerprint -> result dict
        self.funnel_results = {}  # fingerprint -> list of rewards
        self.replay = {}  # index -> record logged after the last checkpoint
        self.references = []  # funnel records of reference optimizers, shown beside the found rules

    @property
    def cache_hits(self):
        return sum(r["cache_hit"] for r in self.records)

    def restore(self):
        state = self.tracker.load_checkpoint()
        if state is not None:
            self.strategy.load_state(state["strategy"])
            self.records = state["records"]
            self.funnel_results = state["funnel"]
            self.references = state["references"]
        for record in self.records:
            if not record["cache_hit"]:
                self.cache.setdefault(record["result"]["fingerprint"], record["result"])
        for mlflow_run in candidate_runs(self.tracker.uri, self.tracker.run_id):
            tags = mlflow_run.data.tags
            index = int(tags.get(TAG_PREFIX + "index", -1))
            if tags.get(TAG_PREFIX + "stage") == "search" and index >= len(self.records):
                self.replay[index] = _record_from_run(mlflow_run)

    def _checkpoint(self):
        self.tracker.save_checkpoint({"strategy": self.strategy.state(), "records": self.records,
                                      "funnel": self.funnel_results, "references": self.references})
        rewards = [r["result"]["reward"] for r in self.records]
        with tempfile.TemporaryDirectory() as folder:
            plot = os.path.join(folder, "reward_vs_samples.png")
            plot_rewards(rewards, plot, title=f"{self.strategy.name} on {self.options['task']}")
            self.tracker.log_artifact_file(plot)
            table = os.path.join(folder, "leaderboard.csv")
            board.write_csv(self.leaderboard(), table)
            self.tracker.log_artifact_file(table)

    def run(self, max_batches=None):
        """Evaluate until the budget is spent; True when it was."""
        bar = _progress_bar(self.budget, len(self.records), self.progress)
        batches = 0
        try:
            while len(self.records) < self.budget:
                if max_batches is not None and batches >= max_batches:
                    return False
                proposals = self.strategy.propose(min(self.batch_size, self.budget - len(self.records)))
                finished = self._evaluate_batch(proposals, bar)
                self.strategy.observe([(r["tokens"], r["result"]["reward"]) for r in finished])
                self._checkpoint()
                batches += 1
        finally:
            bar.close()
        return True

    def _evaluate_batch(self, proposals, bar):
        start = len(self.records)
        pending, finished = [], []
        for offset, tokens in enumerate(proposals):
            index = start + offset
            if index in self.replay:
                finished.append(self.replay.pop(index))
                continue
            rule = self.space.to_rule(tokens)
            cached = self.cache.get(rule_fingerprint(rule))
            if cached is not None:
                finished.append(self._log(index, tokens, dict(cached, wall_time=0.0), cache_hit=True))
            else:
                pending.append((index, tokens, str(rule)))
        for position, result in self.executor.map_unordered([text for _, _, text in pending]):
            index, tokens, _ = pending[position]
            self.cache[result.fingerprint] = result.to_dict()
            finished.append(self._log(index, tokens, result.to_dict(), cache_hit=False))
            self._advance(bar, 1)
        self._advance(bar, len(proposals) - len(pending))
        finished.sort(key=lambda r: r["index"])
        self.records.extend(finished)
        return finished

    def _log(self, index, tokens, result, cache_hit):
        record = {"index": index, "tokens": list(tokens), "result": result, "cache_hit": cache_hit,
                  "strategy": self.strategy.name, "seed": self.options["seed"]}
        record["run_id"] = self.tracker.log_candidate(record)
        return record

    def _advance(self, bar, count):
        rewards = [r["result"]["reward"] for r in self.records]
        bar.set_postfix(best=f"{max(rewards, default=0):.4f}", cache_hits=self.cache_hits, refresh=False)
        bar.update(count)

    def funnel(self, top_k, seeds, epochs):
        """Re-train the top-k behaviours and the references with more epochs and several seeds."""
        rows = board.build_leaderboard(self.records, {})[:top_k]
        entries = [(row["fingerprint"], row["rule"], False) for row in rows]
        entries += [(rule_fingerprint(ref), ref, True) for ref in REFERENCES]
        for fingerprint, rule, is_reference in entries:
            if fingerprint in self.funnel_results:
                continue
            rewards = []
            for seed in range(seeds):
                evaluator = Evaluator(**dict(self.options, seed=seed, epochs=epochs, hurdles=()))
                result = evaluator.evaluate(rule).to_dict()
                record = {"index": len(self.funnel_results) * seeds + seed, "tokens": None, "result": result,
                          "cache_hit": False, "strategy": "funnel", "seed": seed}
                run_id = self.tracker.log_candidate(record, stage="funnel")
                if is_reference:
                    self.tracker.client.set_tag(run_id, TAG_PREFIX + "reference", "true")
                rewards.append(result["reward"])
                if is_reference and seed == 0:
                    self.references.append(record)
            self.funnel_results[fingerprint] = rewards
            self._checkpoint()
        best = self.leaderboard()
        top = next((r for r in best if r["tokens"] != "reference"), None)
        metrics = {"candidates": len(self.records), "cache_hits": self.cache_hits}
        if top is not None:
            metrics.update(best_reward=top["reward"], best_funnel_reward=top["funnel_reward"] or 0.0)
        self.tracker.finish(metrics)

    def leaderboard(self):
        funnel = {fp: {"mean": float(np.mean(v)), "std": float(np.std(v))} for fp, v in self.funnel_results.items()}
        return board.build_leaderboard(self.records + self.references, funnel)


def _record_from_run(mlflow_run):
    tags, params, metrics = mlflow_run.data.tags, mlflow_run.data.params, mlflow_run.data.metrics
    lr = params.get("learning_rate")
    result = EvaluationResult(
        rule=params.get("rule", ""), fingerprint=params.get("fingerprint", ""), task=params.get("task", ""),
        status=tags.get(TAG_PREFIX + "status", ""), reward=metrics.get("reward", 0.0),
        best_learning_rate=float(lr) if lr not in (None, "None") else None, wall_time=metrics.get("wall_time", 0.0),
        message=tags.get(TAG_PREFIX + "message", ""),
    ).to_dict()
    return {"index": int(tags[TAG_PREFIX + "index"]), "tokens": params.get("tokens", "").split(), "result": result,
            "cache_hit": tags.get(TAG_PREFIX + "cache_hit") == "true", "strategy": tags.get(TAG_PREFIX + "strategy"),
            "seed": int(params.get("seed", 0)), "run_id": mlflow_run.info.run_id}


def _progress_bar(total, done, enabled):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=done, desc="candidates", unit="rule", disable=not enabled, dynamic_ncols=True)
