"""What a search spends outside training, per candidate, as the search grows.

Issue 30 asks that proposals, fingerprints, hurdles, the controller's updates
and the writes keep up with a batched evaluator that trains many candidates
at once. This benchmark runs the real search loop (``search()`` with an
``InMemoryTracker``, so no MLflow write is timed) on a cheap task and times
each part of every batch. It prints, per quarter of the budget, the
milliseconds per candidate of:

- ``propose``: the strategy's proposals (controller sampling, the mixer's
  mutations and shrinks, and the screen it hands them to);
- ``answer``: fingerprints and the cache (``SearchSession.answer_untrained``);
- ``train``: the executor's evaluations (the evaluator's hurdles and training);
- ``write``: making and keeping each trial (``record_trained``);
- ``observe``: the strategy's learning from the batch (PPO for ``rl``);
- ``checkpoint``: the state, the reward plot and the leaderboard of every batch;

and what is outside training (everything but ``train``) against the training
itself. A part whose cost per candidate grows from quarter to quarter grows
with the search (its total is quadratic in the budget).

    python benchmarks/search_overhead.py --budget 10000       # the scale of issue 30
    python benchmarks/search_overhead.py --budget 400 --strategy evolution --doc
"""

import argparse
import collections
import contextlib
import functools
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent))  # results_page, beside this file

import results_page  # noqa: E402

from keras_nos.search import search  # noqa: E402
from keras_nos.search.session import SearchSession  # noqa: E402
from keras_nos.search.strategies import STRATEGIES  # noqa: E402
from keras_nos.tracking.in_memory import InMemoryTracker  # noqa: E402

PARTS = ("propose", "answer", "train", "write", "observe", "checkpoint")
PAGE = Path(__file__).resolve().parents[1] / "docs" / "results" / "search-overhead.md"


class PartClock:
    """Seconds spent in each part, by quarter of the budget (the quarter of the candidates done so far)."""

    def __init__(self, budget):
        self.budget = budget
        self.done = 0  # candidates of the batches finished (checkpointed)
        self.observed = 0  # candidates observed, the current batch's included
        self.seconds = collections.defaultdict(float)  # (quarter, part) -> seconds
        self.candidates = collections.Counter()  # quarter -> candidates finished in it

    def quarter(self):
        return min(3, 4 * self.done // self.budget)

    def timed(self, part, function):
        @functools.wraps(function)
        def timed_call(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[self.quarter(), part] += time.perf_counter() - started
        return timed_call

    def timed_results(self, results):
        """The executor's results, timing the wait for each as training and counting the candidates."""
        iterator = iter(results)
        while True:
            started = time.perf_counter()
            try:
                item = next(iterator)
            except StopIteration:
                return
            finally:
                self.seconds[self.quarter(), "train"] += time.perf_counter() - started
            yield item


@contextlib.contextmanager
def clocked(clock, strategy_class):
    """Wrap the parts of the loop in ``clock`` for the body, and restore them after."""
    originals = []

    def wrap(owner, name, wrapper):
        originals.append((owner, name, getattr(owner, name)))
        setattr(owner, name, wrapper(getattr(owner, name)))

    wrap(strategy_class, "propose", lambda f: clock.timed("propose", f))
    wrap(strategy_class, "observe", lambda f: clock.timed("observe", f))
    wrap(SearchSession, "answer_untrained", lambda f: clock.timed("answer", f))
    wrap(SearchSession, "record_trained", lambda f: clock.timed("write", f))

    def observe_batch(original):
        def observe(session, trials):
            clock.candidates[clock.quarter()] += len(trials)
            clock.observed += len(trials)
            return original(session, trials)
        return observe

    def checkpoint_batch(original):
        timed = clock.timed("checkpoint", original)

        def checkpoint(session, *args, **kwargs):
            try:
                return timed(session, *args, **kwargs)
            finally:  # the batch is done: the next part counts in the quarter it starts
                clock.done = clock.observed
        return checkpoint

    wrap(SearchSession, "observe", observe_batch)
    wrap(SearchSession, "checkpoint", checkpoint_batch)
    try:
        yield
    finally:
        for owner, name, original in reversed(originals):
            setattr(owner, name, original)


def measure(args):
    """(clock, wall seconds) of one search in memory with the parts timed."""
    clock = PartClock(args.budget)
    tracker = args.tracking_uri or InMemoryTracker()
    with clocked(clock, STRATEGIES[args.strategy]):
        from keras_nos.executors.base import Executor

        original = Executor.map_unordered
        Executor.map_unordered = lambda self, rules: clock.timed_results(original(self, rules))
        try:
            started = time.perf_counter()
            search(tracking_uri=tracker, task=args.task, strategy=args.strategy, budget=args.budget,
                   batch_size=args.batch_size, space=args.space, seed=args.seed, funnel_top_k=0, progress=False,
                   evaluator=args.evaluator, **({"epochs": args.epochs} if args.epochs else {}))
            wall = time.perf_counter() - started
        finally:
            Executor.map_unordered = original
    return clock, wall


def table(clock, wall):
    """Markdown: ms per candidate of each part by quarter, and the share outside training."""
    lines = ["| quarter | candidates | " + " | ".join(f"{part} (ms)" for part in PARTS) + " | outside training / training |",
             "| ---: | ---: | " + " | ".join("---:" for _ in PARTS) + " | ---: |"]
    for quarter in range(4):
        count = clock.candidates[quarter] or 1
        per = {part: 1000 * clock.seconds[quarter, part] / count for part in PARTS}
        outside = sum(value for part, value in per.items() if part != "train")
        lines.append(f"| {quarter + 1} | {clock.candidates[quarter]} | " + " | ".join(f"{per[part]:.2f}" for part in PARTS)
                     + f" | {outside / max(per['train'], 1e-9):.2f} |")
    total = sum(clock.candidates.values())
    lines.append(f"\n{total} candidates in {wall:.1f} s: {1000 * wall / max(total, 1):.1f} ms a candidate.")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="rosenbrock", help="a cheap task, so that training does not hide the rest")
    parser.add_argument("--strategy", default="rl", choices=sorted(STRATEGIES))
    parser.add_argument("--space", default="paper")
    parser.add_argument("--budget", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--evaluator", default="auto", choices=("auto", "batched", "keras"))
    parser.add_argument("--tracking-uri", default=None,
                        help="an MLflow store, to time its writes too (default: in memory, writes not timed)")
    parser.add_argument("--doc", nargs="?", const=PAGE, type=Path, default=None,
                        help=f"write the table into this page's block (default: {PAGE.name})")
    args = parser.parse_args(argv)
    machine = results_page.machine_line()
    clock, wall = measure(args)
    text = table(clock, wall)
    print(text)
    if args.doc:
        results_page.write_results(args.doc, "search-overhead", "benchmarks/search_overhead.py", argv, machine, text,
                                   title="What a search spends outside training")
    return clock


if __name__ == "__main__":
    main()
