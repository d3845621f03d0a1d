"""Rediscovery (issue 31): does the bare search, from scratch, reach plain Adam's score on its own task?

For each seed: the default search (``search()`` with its defaults: rl, budget 2000, the batched evaluator),
kept in memory and without the funnel, and plain ``adam`` evaluated as the candidates are (the same evaluator,
options and seed: a search whose only candidate is ``adam``, given as its warm start). Prints each seed's best
search-stage reward beside Adam's, and on how many seeds the search reached it.

    python benchmarks/rediscovery.py --seeds 1,2,3,4          # the default budget; about 7 minutes a seed on 2 cores
    python benchmarks/rediscovery.py --seeds 0 --budget 60    # a quick check
    python benchmarks/rediscovery.py --from-json rows.json --doc   # the page from an earlier run's --json
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent))  # results_page, beside this file

import results_page  # noqa: E402

from keras_nos.search import search  # noqa: E402

PAGE = results_page.RESULTS / "rediscovery.md"
from keras_nos.tracking.in_memory import InMemoryTracker  # noqa: E402


def best_reward(seed, **settings):
    """The best search-stage reward of a search kept in memory, and its rule."""
    tracker = InMemoryTracker()
    search(tracking_uri=tracker, seed=seed, funnel_top_k=0, progress=False, **settings)
    best = max(tracker.trials, key=lambda trial: trial.reward if trial.reward is not None else -1)
    return best.reward, best.rule


def run_seeds(args):
    """A row for each seed of ``args.seeds``: the search's best reward and rule, adam's, and whether it reached it."""
    budget = {"budget": args.budget} if args.budget else {}
    rows = []
    for seed in (int(text) for text in args.seeds.split(",")):
        started = time.perf_counter()
        found, rule = best_reward(seed, evaluator=args.evaluator, **budget)
        adam, _ = best_reward(seed, budget=1, warm_start=["adam"], evaluator=args.evaluator)
        rows.append({"seed": seed, "best": found, "rule": rule, "adam": adam, "reached": found >= adam,
                     "seconds": time.perf_counter() - started})
        print(f"seed {seed}: best {found:.4f} ({rule}), adam {adam:.4f}, "
              f"{'reached' if found >= adam else 'not reached'} ({rows[-1]['seconds']:.0f} s)", flush=True)
        if args.json:
            args.json.write_text(json.dumps(rows, indent=1))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated search seeds")
    parser.add_argument("--budget", type=int, default=None, help="candidates a search (default: search()'s)")
    parser.add_argument("--evaluator", default="batched", choices=("batched", "keras"),
                        help="the evaluator of the search and of adam alike (default batched, as a bare search's)")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here, after every seed")
    parser.add_argument("--from-json", type=Path, default=None, help="render the rows an earlier run wrote with --json")
    parser.add_argument("--doc", nargs="?", const=PAGE, type=Path, default=None,
                        help=f"write the table into this page's block (default: {PAGE.name})")
    args = parser.parse_args(argv)
    machine = results_page.machine_line()
    rows = json.loads(args.from_json.read_text()) if args.from_json else run_seeds(args)
    reached = sum(row["reached"] for row in rows)
    print(f"the search reached plain adam's score on {reached} of {len(rows)} seeds")
    if args.doc:
        results_page.write_results(args.doc, "rediscovery", "benchmarks/rediscovery.py", argv, machine,
                                   table(rows, reached), title="Rediscovery: the search against plain Adam")
    return rows


def table(rows, reached):
    """Markdown: each seed's best search-stage reward and rule beside plain adam's."""
    lines = ["| seed | best search-stage reward | rule | plain `adam` | reached | seconds |",
             "| ---: | ---: | --- | ---: | --- | ---: |"]
    lines += [f"| {row['seed']} | {row['best']:.4f} | `{row['rule']}` | {row['adam']:.4f} | "
              f"{'yes' if row['reached'] else 'no'} | {row['seconds']:.0f} |" for row in rows]
    return "\n".join(lines + ["", f"The search reached plain `adam`'s score on {reached} of {len(rows)} seeds."])


if __name__ == "__main__":
    main()
    sys.exit(0)
