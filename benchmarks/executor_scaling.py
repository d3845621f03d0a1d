"""Candidates per minute with 1 and 2 workers, local pool against Ray, and what each costs per candidate.

A fixed list of rules (no hurdles, so every one trains) is evaluated by each
executor configuration in turn. Before timing, every worker evaluates one
warm-up rule, so process or actor start-up (TensorFlow import, data load, first
graph trace) is reported apart as ``startup``. Then:

* ``cand/min``: the rules divided by the wall time to evaluate them all;
* ``eval s``: the mean time a worker spent inside ``Evaluator.evaluate``;
* ``overhead ms``: per candidate, worker-time not spent evaluating
  (``(wall * workers - sum of eval times) / rules``): dispatch, pickling,
  returning the result, and with 2 workers any idle time at the end;
* ``round trip ms``: the same executor on rules that fail to parse, which
  return at once: the pure cost of sending one candidate and getting its result.

The last lines give the Ray overhead per candidate against the local pool, and
what the driver's MLflow writes cost per candidate (the limit of any cluster).

    python benchmarks/executor_scaling.py                       # synthetic task, 12 rules, 1 epoch
    python benchmarks/executor_scaling.py --task digits-mlp --epochs 1
    python benchmarks/executor_scaling.py --executors local     # without Ray
    python benchmarks/executor_scaling.py --doc                 # and into docs/results/executors.md's block
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from keras_nos.native_log import quiet_native_stderr  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))  # results_page, beside this file
import results_page  # noqa: E402

PAGE = results_page.RESULTS / "executors.md"

RULES = (
    "g", "m", "sign(g)", "sign(m)", "adam", "rmsprop",
    "sign(g)*sign(m)*g", "exp(sign(g)*sign(m))*g", "(1 + sign(g)*sign(m))*g", "g + m",
    "sign(m)*g", "exp(sign(m))*adam",
)
WARMUP_RULE = "sign(g)*g"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="synthetic")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--rules", type=int, default=len(RULES), help=f"rules timed (at most {len(RULES)})")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    parser.add_argument("--executors", default="local,ray", help="comma-separated: local, ray")
    parser.add_argument("--lr", default="0.01,0.1", help="learning-rate grid")
    parser.add_argument("--doc", nargs="?", const=PAGE, default=None, type=Path, metavar="PATH",
                        help=f"write the table, the command and the machine into PATH's executor-scaling block "
                             f"(default PATH: {PAGE.relative_to(results_page.ROOT)})")
    return parser.parse_args(argv)


def _configurations(args):
    workers = [int(w) for w in args.workers.split(",")]
    for name in args.executors.split(","):
        for count in workers:
            if name == "local" and count == 1:
                yield "local (inline)", "local", 1, {}
                yield "local (pool)", "local", 1, {"timeout": 1e9}  # a time limit forces a worker process
            elif name == "local":
                yield "local (pool)", "local", count, {}
            else:
                yield "ray", "ray", count, {}


def _drain(executor, rules):
    started = time.perf_counter()
    results = [result for _, result in executor.map_unordered(rules)]
    return time.perf_counter() - started, results


def measure(executor, rules):
    """startup, wall and results of ``rules``, and the mean round trip of rules that return at once."""
    startup, _ = _drain(executor, [WARMUP_RULE] * executor.workers)
    wall, results = _drain(executor, rules)
    bad = [f"bad{i}((" for i in range(20)]
    round_trip, _ = _drain(executor, bad)
    return startup, wall, results, round_trip / len(bad) * executor.workers


def mlflow_write_cost(results, count=20):
    """Seconds per candidate to write one nested run the way the search driver does (SQLite store)."""
    from keras_nos.search.records import make_trial
    from keras_nos.tracking import SearchTracker

    with tempfile.TemporaryDirectory() as folder:
        tracker = SearchTracker(f"sqlite:///{folder}/mlflow.db", "benchmark", params={"benchmark": True})
        tracker.log_candidate(make_trial(0, results[0], tokens=("g",), strategy="random"))  # creates tables, caches
        started = time.perf_counter()
        for index in range(count):  # the trial is made and simplified once, and written, as the driver does
            tracker.log_candidate(make_trial(index, results[0], tokens=("g",), strategy="random"))
        return (time.perf_counter() - started) / count


def main(argv=None):
    args = parse_args(argv)
    machine = results_page.machine_line()  # the load average before the run
    with quiet_native_stderr():  # TensorFlow's C++ start-up lines would bury the output
        import keras  # noqa: F401
    from keras_nos.executors import make_executor

    rules = list(RULES[:args.rules])
    options = dict(task=args.task, learning_rates=tuple(float(x) for x in args.lr.split(",")), seed=0,
                   data_path=None, epochs=args.epochs, hurdles=())
    configurations = list(_configurations(args))
    ray_init = None
    if any(kind == "ray" for _, kind, _, _ in configurations):
        import ray

        started = time.perf_counter()
        ray.init(num_cpus=max(count for _, _, count, _ in configurations), include_dashboard=False,
                 log_to_driver=False)
        ray_init = time.perf_counter() - started
    rows, overheads = [], {}
    try:
        for label, kind, count, extra in configurations:
            executor = make_executor(kind, options, workers=count, **extra)
            try:
                startup, wall, results, round_trip = measure(executor, rules)
            finally:
                executor.close()
            evals = [r.wall_time for r in results]
            overhead = (wall * count - sum(evals)) / len(rules)
            overheads[(label, count)] = (overhead, round_trip)
            statuses = sorted({r.status for r in results})
            rows.append((label, count, startup, len(rules) / wall * 60, statistics.mean(evals), overhead * 1000,
                         round_trip * 1000, ",".join(statuses)))
    finally:
        if ray_init is not None:
            import ray

            ray.shutdown()

    lines = [f"task {args.task}, {args.epochs} epoch(s), learning rates {args.lr}, {len(rules)} rules, "
             f"{os.cpu_count()} CPUs", "",
             "| executor | workers | start-up s | candidates/min | mean train s | overhead ms/candidate "
             "| round trip ms | statuses |", "|---|---:|---:|---:|---:|---:|---:|---|"]
    for label, count, startup, rate, mean_eval, overhead, round_trip, statuses in rows:
        lines.append(f"| {label} | {count} | {startup:.1f} | {rate:.1f} | {mean_eval:.2f} | {overhead:.0f} | "
                     f"{round_trip:.1f} | {statuses} |")
    notes = []  # each its own paragraph
    if ray_init is not None:
        notes.append(f"ray.init (local instance): {ray_init:.1f} s")
    for count in sorted({c for _, c in overheads}):
        if ("ray", count) in overheads and ("local (pool)", count) in overheads:
            ray_over, ray_trip = overheads[("ray", count)]
            pool_over, pool_trip = overheads[("local (pool)", count)]
            notes.append(f"Ray against the local pool, {count} worker(s): {1000 * (ray_over - pool_over):+.0f} ms "
                         f"overhead per trained candidate, {1000 * (ray_trip - pool_trip):+.1f} ms per round trip")
    from keras_nos.tasks.evaluator import Evaluator

    sample = [Evaluator(**options).evaluate(rules[0])]
    notes.append(f"MLflow write of one candidate by the driver (SQLite): {1000 * mlflow_write_cost(sample):.0f} ms")
    text = "\n".join(lines) + "\n\n" + "\n\n".join(notes)
    print(text)
    if args.doc:
        results_page.write_results(args.doc, "executor-scaling", "benchmarks/executor_scaling.py", argv, machine,
                                   text, title="Executors")


if __name__ == "__main__":
    main()
