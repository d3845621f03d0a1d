"""Warm start (issue 31): the bare search started from the named optimizers, seed by seed, to its funnel's verdict.

For each seed: ``search()`` with the bare ``keras-nos search``'s settings (rl, budget 2000, the batched evaluator,
the funnel against tuned Adam and the compare suite) and ``--warm-start`` (default ``named``), in a temporary
SQLite store. Prints each seed's winner, its speedup over the best Adam reference with the 95% interval over
the funnel's seeds, its final-score difference and the compare suite's record, and on how many seeds the winner
meets the issue's target: a speedup of at least 1.1x whose interval lies above 1, and Adam beaten on at least two
thirds of the suite's tasks (the issue's 4 of 6; 2 of the funnel's default suite of 3). The suite counts wins;
"not slower" would count ties too, so this is the stricter reading.

    python benchmarks/warm_start.py --seeds 0,1,2,3,4 --json rows.json    # about 11 minutes a seed on 2 cores
    python benchmarks/warm_start.py --seeds 0 --warm-start none           # the same search from scratch
    python benchmarks/warm_start.py --seeds 0 --reward speedup            # the search stage rewarding speed
    python benchmarks/warm_start.py --from-json rows.json --doc          # the page from an earlier run's --json
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent))  # results_page, beside this file

import results_page  # noqa: E402

PAGE = results_page.RESULTS / "warm-start.md"
TARGET_SPEEDUP, TARGET_SUITE_SHARE = 1.1, 4 / 6


def winner_row(seed, warm_start, settings):
    """The funnel's verdict on the winner of one search (its leaderboard row, trimmed), run in a temporary store."""
    from keras_nos.search import search

    with tempfile.TemporaryDirectory(prefix="keras_nos_warm_start_") as folder:
        rows = search(seed=seed, warm_start=warm_start, tracking_uri=f"sqlite:///{folder}/mlflow.db",
                      progress=False, **settings)
    top = next(row for row in rows if not row["reference"])
    keys = ("rule", "reward", "speedup", "speedup_low", "speedup_high", "speedup_bounds", "vs_adam", "vs_adam_se",
            "best_reference", "suite_vs_adam", "funnel_seeds")
    return {key: top.get(key) for key in keys}


def meets_target(row):
    """Whether a winner is at least 1.1x as fast as the best Adam reference, interval above 1, and beat Adam on at
    least two thirds of the suite's tasks."""
    wins, tasks = map(int, row["suite_vs_adam"].split("/")) if row.get("suite_vs_adam") else (0, 0)
    return (row.get("speedup") is not None and row["speedup"] >= TARGET_SPEEDUP
            and row.get("speedup_low") is not None and row["speedup_low"] > 1
            and tasks > 0 and wins >= TARGET_SUITE_SHARE * tasks - 1e-9)


def run_seeds(args):
    settings = dict({"budget": args.budget} if args.budget else {}, reward=args.reward)
    warm_start = None if args.warm_start == "none" else args.warm_start
    rows = []
    for seed in (int(text) for text in args.seeds.split(",")):
        started = time.perf_counter()
        row = dict(winner_row(seed, warm_start, settings), seed=seed, warm_start=args.warm_start, search_reward=args.reward)
        row.update(met=meets_target(row), seconds=time.perf_counter() - started)
        rows.append(row)
        print(f"seed {seed}: {describe(row)} ({row['seconds']:.0f} s)", flush=True)
        if args.json:
            args.json.write_text(json.dumps(rows, indent=1))
    return rows


def _speed(row):
    if row.get("speedup") is None:
        return "no speedup measured"
    interval = f" (95% {row['speedup_low']:.2f}-{row['speedup_high']:.2f})" if row.get("speedup_low") else ""
    bound = "≥" if row.get("speedup_bounds") else ""  # Adam never reached the rule's final score on some seeds
    return f"{bound}{row['speedup']:.2f}x{interval}"


def _final(row):
    if row.get("vs_adam") is None:
        return "-"
    return f"{row['vs_adam']:+.4f}" + (f" ± {row['vs_adam_se']:.4f}" if row.get("vs_adam_se") is not None else "")


def _start(row):
    """The warm start, and the search stage's reward where it is not the final score."""
    reward = row.get("search_reward", "final")
    return row["warm_start"] + ("" if reward == "final" else f", {reward} reward")


def describe(row):
    return (f"winner {row['rule']}: {_speed(row)} against {row.get('best_reference') or 'adam'}, final score "
            f"{_final(row)}, suite {row.get('suite_vs_adam') or '-'}, target {'met' if row['met'] else 'not met'}")


def table(rows):
    """Markdown: each seed's winner, its speedup and final-score difference against the best Adam reference."""
    lines = ["| seed | warm start | winner | search reward | speedup over the best Adam reference (95%) | against | "
             "final score vs it | suite: beat Adam on | target met |",
             "| ---: | --- | --- | ---: | --- | --- | --- | --- | --- |"]
    lines += [f"| {row['seed']} | {_start(row)} | `{row['rule']}` | {row['reward']:.4f} | {_speed(row)} | "
              f"{row.get('best_reference') or 'adam'} | {_final(row)} | {row.get('suite_vs_adam') or '-'} | "
              f"{'yes' if row['met'] else 'no'} |" for row in rows]
    rewards = list(dict.fromkeys(row.get("search_reward", "final") for row in rows))
    counts = []
    for reward in rewards:
        mine = [row for row in rows if row.get("search_reward", "final") == reward]
        label = "" if len(rewards) == 1 else f" with the {reward} reward"
        counts.append(f"on {sum(row['met'] for row in mine)} of {len(mine)} seeds{label}")
    return "\n".join(lines + ["", f"The winner met the target ({TARGET_SPEEDUP}x, interval above 1, Adam beaten on "
                                  f"at least two thirds of the suite's tasks) {'; '.join(counts)}."])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated search seeds")
    parser.add_argument("--warm-start", default="named", metavar="named|none|RULE,RULE,...",
                        help="the searches' warm start (default named; none: from scratch)")
    parser.add_argument("--budget", type=int, default=None, help="candidates a search (default: search()'s)")
    parser.add_argument("--reward", choices=("final", "speedup"), default="final",
                        help="the search stage's reward (search(reward=...)); the funnel judges the same way either way")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here, after every seed")
    parser.add_argument("--from-json", type=Path, nargs="+", default=None,
                        help="render the rows earlier runs wrote with --json (pooled, by reward then seed)")
    parser.add_argument("--doc", nargs="?", const=PAGE, type=Path, default=None,
                        help=f"write the table into this page's block (default: {PAGE.name})")
    args = parser.parse_args(argv)
    machine = results_page.machine_line()
    rows = (sorted((dict(row, met=meets_target(row)) for path in args.from_json for row in json.loads(path.read_text())),
                   key=lambda row: (row.get("search_reward", "final") != "final", row["seed"]))
            if args.from_json else run_seeds(args))
    print(table(rows).splitlines()[-1])
    if args.doc:
        results_page.write_results(args.doc, "warm-start", "benchmarks/warm_start.py", argv, machine, table(rows),
                                   title="Warm start: the search from the named optimizers, to the funnel's verdict")
    return rows


if __name__ == "__main__":
    main()
    sys.exit(0)
