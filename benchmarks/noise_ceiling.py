"""How well can a search task tell rules apart? Its noise ceiling, measured over seeds.

Every task scores the same rules (the named optimizers, the paper's Table 3
rules, random rules of the paper's space that pass the hurdles) with several
seeds, each seed a new data split, initial weights and batch order, as a new
search would see. The search's learning-rate grid, no hurdles (the reward
comes from training alone). For each task it prints:

- self-agreement: the Spearman correlation of two seeds' rewards over the
  rules, the mean over seed pairs: the best any search on this task can rank;
- spread / noise: the standard deviation of the rules' mean rewards over the
  seed noise, the root-mean-square residual of rule-by-seed rewards once each
  rule's and each seed's mean is taken out (a search runs every candidate with
  one seed, so a seed that is good for every rule reorders nothing);
- CPU seconds a rule (training, this process);
- how it ranks the named optimizers against the ``keras-nos compare`` suite's
  mean ranks (examples/results/compare-suite/comparison.md): a Spearman
  correlation over the optimizers in both.

Results go to a JSON file as they come (a killed run continues where it
stopped; ``--shard K/N`` splits the rules over processes sharing the file),
and the table beside it (``raw.json``: ``raw.md``).

    python benchmarks/noise_ceiling.py --tasks digits-convnet,digits-autoencoder --seeds 3
    python benchmarks/noise_ceiling.py --shard 0/2 & python benchmarks/noise_ceiling.py --shard 1/2
    python benchmarks/noise_ceiling.py --report-only --doc   # the stored table into docs/results/noise-ceiling.md
"""

import argparse
import dataclasses
import itertools
import math
import os
import re
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from keras_nos.native_log import quiet_native_stderr  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # proxy_fidelity: its rule set and its locked, resumable results file
import results_page  # noqa: E402

PAGE = results_page.RESULTS / "noise-ceiling.md"
SUITE_TABLE = HERE.parent / "examples" / "results" / "compare-suite" / "comparison.md"
DEFAULT_OUT = HERE / "results" / "noise_ceiling" / "raw.json"
DEFAULT_TASKS = ("digits-convnet", "digits-convnet-logloss", "digits-autoencoder-4ep", "digits-autoencoder")
# Task variants measured here besides the library's own: name -> (library task, changes).
CANDIDATES = {
    "digits-convnet-logloss": ("digits-convnet", dict(score="log_loss")),
    "digits-autoencoder-4ep": ("digits-autoencoder", dict(epochs=4)),
}
TOP = 15  # the self-agreement among this many best rules


def register_candidates():
    from keras_nos.tasks import get_task, register_task

    for name, (base, changes) in CANDIDATES.items():
        register_task(dataclasses.replace(get_task(base), name=name, description=f"{base} with {changes}", **changes),
                      overwrite=True)


def suite_mean_ranks(path=SUITE_TABLE):
    """{optimizer: mean rank} from the compare suite's summary table."""
    ranks = {}
    for line in Path(path).read_text().splitlines():
        match = re.match(r"\| `([^`]+)` \| ([0-9.]+) \| \d+ \|", line)
        if match:
            ranks[match.group(1)] = float(match.group(2))
    return ranks


def score_rules(args, rules):
    """Train every rule of this shard on every task with every seed; stored as they finish."""
    from keras_nos.tasks.lr_search import DEFAULT_LEARNING_RATES
    from keras_nos.tasks import Evaluator
    from proxy_fidelity import load_rows, save_scores

    done = load_rows(args.json)
    mine = [(name, text) for i, (name, text) in enumerate(rules) if i % args.shard[1] == args.shard[0]]
    for seed in range(args.seeds):
        for task in args.tasks:
            key = f"{task}@{seed}"
            todo = [(n, t) for n, t in mine if done.get(n, {}).get("rule") != t or key not in done.get(n, {})]
            if not todo:
                continue
            evaluator = Evaluator(task, learning_rates=DEFAULT_LEARNING_RATES, seed=seed, hurdles=(),
                                  curve_points=args.curve_points)
            for name, text in todo:
                started = time.process_time()
                result = evaluator.evaluate(text)
                cell = {"reward": result.reward, "status": result.status, "cpu": time.process_time() - started}
                if args.curve_points:
                    cell["steps"], cell["values"] = result.best_curve()
                    cell["learning_rate"] = result.best_learning_rate
                done = save_scores(args.json, name, {"rule": text, key: cell})
                print(f"{key:28} {name:14} {result.status:12} {result.reward:.4f}  {cell['cpu']:.1f} s", flush=True)
    if args.curve_points and any(name == "adam" for name, _ in mine):
        done = extend_adam(args, done)
    return done


def extend_adam(args, done):
    """Adam's curve for the speedups, as the search's funnel draws it: each (task, seed) trained again
    ``REFERENCE_LENGTH`` times as long at the rate its stored training chose (that curve, continued),
    kept in its cell as ``extended_steps`` and ``extended_values``."""
    from keras_nos.tasks.speedup_reward import REFERENCE_LENGTH
    from keras_nos.tasks import Evaluator, get_task
    from proxy_fidelity import save_scores

    for seed, task in itertools.product(range(args.seeds), args.tasks):
        key, row = f"{task}@{seed}", done["adam"]
        cell = row.get(key)
        if cell is None or "extended_values" in cell or not cell.get("learning_rate") or cell["status"] != "ok":
            continue
        evaluator = Evaluator(task, learning_rates=(cell["learning_rate"],), seed=seed, hurdles=(),
                              epochs=REFERENCE_LENGTH * get_task(task).epochs,
                              curve_points=REFERENCE_LENGTH * args.curve_points)
        steps, values = evaluator.evaluate(row["rule"]).best_curve()
        done = save_scores(args.json, "adam", {"rule": row["rule"], key: dict(cell, extended_steps=steps,
                                                                              extended_values=values)})
        print(f"{key:28} adam x{REFERENCE_LENGTH}      {values[-1]:.4f}", flush=True)
    return done


CURVES = {"dense": "every stored point", "epochs": "the epoch ends and step 0",
          "epochs-only": "the epoch ends only, as the batched evaluator records them"}


def curve_points(cell, epoch_steps, points):
    """(steps, values) of a stored curve, thinned to ``points`` (a key of ``CURVES``)."""
    kept = [(step, value) for step, value in zip(cell["steps"], cell["values"])
            if points == "dense" or (step % epoch_steps == 0 and (step > 0 or points == "epochs"))]
    return [step for step, _ in kept], [value for _, value in kept]


def speedups_over_adam(rows, names, task, seeds, points="dense", epochs=1):
    """(rules x seeds) speedups over ``adam`` trained with the same seed (its extended curve where stored,
    ``extend_adam``), from the stored best curves thinned to
    ``points`` (epoch ends: multiples of Adam's last step over ``epochs``): the steps Adam takes to reach each
    rule's final score over the rule's own (``keras_nos.tasks.speedup``); 0 where there is none to measure (a
    diverged curve, one that never moved)."""
    import numpy as np

    from keras_nos.tasks.speedup import speedup

    def one(name, seed):
        cell, adam = rows[name][f"{task}@{seed}"], rows["adam"][f"{task}@{seed}"]
        epoch_steps = adam["steps"][-1] // epochs
        reference = {"steps": adam["extended_steps"], "values": adam["extended_values"]} \
            if adam.get("extended_values") else adam
        found = speedup(*curve_points(reference, epoch_steps, points), *curve_points(cell, epoch_steps, points))
        return found.value if found else 0.0

    return np.array([[one(name, seed) for seed in range(seeds)] for name in names])


def ceiling(rows, task, seeds, measure="reward", points="dense"):
    """The task's numbers over the rules every seed scored, ranked by ``measure``: the reward, or ``speedup``
    over Adam from curves thinned to ``points`` (needs the curves of ``--curve-points``); None when fewer than 3
    such rules."""
    import numpy as np
    from scipy.stats import spearmanr

    names = [n for n, row in rows.items() if all(f"{task}@{s}" in row for s in range(seeds))]
    if len(names) < 3 or seeds < 2:
        return None
    finals = np.array([[rows[n][f"{task}@{s}"]["reward"] for s in range(seeds)] for n in names])
    if measure == "speedup":
        if "adam" not in names or not all("values" in rows[n][f"{task}@{s}"] for n in names for s in range(seeds)):
            return None
        from keras_nos.tasks import get_task

        epochs = get_task(task).epochs if points != "dense" else 1  # only the thinned curves need the epoch ends
        rewards = speedups_over_adam(rows, names, task, seeds, points, epochs)
    else:
        rewards = finals
    residual = rewards - rewards.mean(1, keepdims=True) - rewards.mean(0, keepdims=True) + rewards.mean()
    noise = math.sqrt((residual ** 2).sum() / ((len(names) - 1) * (seeds - 1)))
    spread = float(rewards.mean(1).std(ddof=1))
    pairs = [float(spearmanr(rewards[:, a], rewards[:, b]).statistic) for a, b in itertools.combinations(range(seeds), 2)]
    best = np.argsort(-finals.mean(1))[:TOP]  # the same rules for every measure: where a search's choices are made
    top = float(np.mean([spearmanr(rewards[best, a], rewards[best, b]).statistic
                         for a, b in itertools.combinations(range(seeds), 2)]))
    means = dict(zip(names, rewards.mean(1)))
    suite = {k: v for k, v in suite_mean_ranks().items() if k in means}
    suite_rho = float(spearmanr([means[k] for k in suite], [-v for v in suite.values()]).statistic) if len(suite) > 2 else float("nan")
    cpu = np.mean([rows[n][f"{task}@{s}"]["cpu"] for n in names for s in range(seeds)])
    return dict(rules=len(names), spearman=float(np.mean(pairs)), spearman_min=min(pairs), top=top, spread=spread,
                noise=noise, ratio=spread / noise if noise else float("inf"), cpu=float(cpu), suite=suite_rho,
                suite_count=len(suite), means=means)


def report(rows, tasks, seeds, points="dense"):
    lines = [f"Rules: the named optimizers, Table 3 and random rules passing the hurdles; {seeds} seeds each "
             "(each a new split, initialisation and batch order); the search's learning-rate grid, no hurdles.", "",
             "| task | rules | self-agreement (Spearman, mean over seed pairs; lowest) | among the "
             f"{TOP} best | spread | seed noise | spread / noise | CPU s a rule | named optimizers vs compare suite "
             "(Spearman) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for task, measure in [(task, measure) for task in tasks for measure in ("reward", "speedup")]:
        c = ceiling(rows, task, seeds, measure, points)
        label = task if measure == "reward" else f"{task}, speedup over adam ({CURVES[points]})"
        if c is None:
            if measure == "reward":
                lines.append(f"| {label} | - | - | - | - | - | - | - | - |")
            continue
        lines.append(f"| {label} | {c['rules']} | {c['spearman']:.3f} ({c['spearman_min']:.3f}) | {c['top']:.3f} | "
                     f"{c['spread']:.4f} | "
                     f"{c['noise']:.4f} | {c['ratio']:.1f} | {c['cpu']:.1f} | {c['suite']:.2f} over {c['suite_count']} |")
    lines += ["", f"Among the {TOP} best: the self-agreement over the {TOP} rules of the best mean final score, the "
              "same rules for every row. Spread: standard deviation of the rules' mean rewards. Seed noise: root-mean-square rule-by-seed "
              "residual (each rule's and each seed's mean taken out). Targets for a default task: self-agreement "
              ">= 0.9, spread / noise >= 5. A 'speedup over adam' row ranks the same trainings by the steps Adam "
              "(same seed, its curve continued to twice the rules' length where stored) takes to reach each rule's "
              "final score over the rule's own (0 for a curve with none), read from the curves at the points named."]
    return "\n".join(lines)


def main(argv=None):
    from proxy_fidelity import choose_rules, shard

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=lambda text: tuple(text.split(",")), default=DEFAULT_TASKS)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--random-rules", type=int, default=10)
    parser.add_argument("--limit", type=int, default=None, help="only the first N rules (tests)")
    parser.add_argument("--shard", type=shard, default=(0, 1), metavar="K/N")
    parser.add_argument("--json", default=str(DEFAULT_OUT))
    parser.add_argument("--curve-points", type=int, default=None,
                        help="validate at about this many steps of each training and store the best curve, for "
                             "the 'speedup over adam' rows (the funnel uses 20)")
    parser.add_argument("--speedup-points", choices=tuple(CURVES), default="dense",
                        help="which stored points the speedups read: " + "; ".join(f"{k}: {v}" for k, v in CURVES.items()))
    parser.add_argument("--block", default="noise-ceiling", help="the block of --doc's page (default noise-ceiling)")
    parser.add_argument("--report-only", action="store_true", help="print the table of what is stored")
    parser.add_argument("--doc", nargs="?", const=PAGE, default=None, type=Path, metavar="PATH",
                        help=f"write the table, the command and the machine into PATH's noise-ceiling block "
                             f"(default PATH: {PAGE.relative_to(results_page.ROOT)})")
    args = parser.parse_args(argv)
    machine = results_page.machine_line()  # the load average before the run
    if args.seeds < 2:
        parser.error(f"--seeds must be at least 2 to measure seed noise, got {args.seeds}")
    with quiet_native_stderr():  # TensorFlow's C++ start-up lines would bury the table
        register_candidates()
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    rules = choose_rules(args.random_rules, seed=0)[:args.limit]
    if args.report_only:
        from proxy_fidelity import load_rows

        rows = load_rows(args.json)
    else:
        with quiet_native_stderr():
            rows = score_rules(args, rules)
    text = report({n: rows[n] for n, t in rules if rows.get(n, {}).get("rule") == t}, args.tasks, args.seeds,
                  args.speedup_points)
    print(text)
    Path(args.json).with_suffix(".md").write_text(text + "\n")
    if args.doc:
        stored = Path(args.json).resolve()
        where = stored.relative_to(results_page.ROOT) if stored.is_relative_to(results_page.ROOT) else stored
        note = (f"Every figure is from the stored results file `{where}`; the CPU seconds are those of the "
                "trainings that made it, not of this machine." if args.report_only else None)
        command = results_page.command_line("benchmarks/noise_ceiling.py", sys.argv[1:] if argv is None else argv)
        results_page.write_block(args.doc, args.block, results_page.results_block(command, machine, text, note),
                                 "benchmarks/noise_ceiling.py", title="The default task's noise ceiling")


if __name__ == "__main__":
    sys.exit(main())
