"""What hurdles and early stopping save, and whether they change which rules win.

Samples a batch of random rules from the paper's search space and evaluates
each twice in one process, interleaved so that load from other jobs hits both:
once with the default hurdles and early stopping ("cheap"), once with both off
("full": every rule trains every learning rate for every epoch). Prints the CPU
and wall seconds per candidate, the cost ratio, and each run's top five rules.

    python benchmarks/evaluator_cost.py                      # 200 rules on digits-mlp
    python benchmarks/evaluator_cost.py --rules 30 --task synthetic
    python benchmarks/evaluator_cost.py --doc               # and into docs/results/evaluator-cost.md's block
"""

import argparse
import collections
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from keras_nos.native_log import quiet_native_stderr  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))  # results_page, beside this file
import results_page  # noqa: E402

PAGE = results_page.RESULTS / "evaluator-cost.md"


def sample_rules(count, seed, space_name="paper"):
    """``count`` distinct random rules (by canonical text) from the named search space."""
    import numpy as np

    from keras_nos.search.space import SearchSpace

    space = SearchSpace.preset(space_name)
    rng = np.random.default_rng(seed)
    rules, seen = [], set()
    for _ in range(100 * count):
        rule = space.to_rule(space.sample(rng))
        if str(rule) not in seen:
            seen.add(str(rule))
            rules.append(rule)
        if len(rules) == count:
            break
    return rules


def top(results, k=5):
    """The k best (reward, rule) pairs; ties broken by rule text so the order is stable."""
    return sorted(((r.reward, r.rule) for r in results if r.reward > 0), key=lambda x: (-x[0], x[1]))[:k]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=200)
    parser.add_argument("--task", default="digits-mlp")
    parser.add_argument("--epochs", type=int, default=None, help="override the task's epochs")
    parser.add_argument("--seed", type=int, default=0, help="seeds the rule sample and the evaluations")
    parser.add_argument("--space", default="paper")
    parser.add_argument("--json", help="write every result of both runs here")
    parser.add_argument("--doc", nargs="?", const=PAGE, default=None, type=Path, metavar="PATH",
                        help=f"write the tables, the command and the machine into PATH's evaluator-cost block "
                             f"(default PATH: {PAGE.relative_to(results_page.ROOT)})")
    args = parser.parse_args(argv)
    machine = results_page.machine_line()  # the load average before the run
    with quiet_native_stderr():  # TensorFlow's C++ start-up lines would bury the output
        import keras  # noqa: F401

    from keras_nos.tasks import Evaluator

    rules = sample_rules(args.rules, args.seed, args.space)
    runs = {
        "cheap": Evaluator(args.task, seed=args.seed, epochs=args.epochs),  # default hurdles, early_stop=True
        "full": Evaluator(args.task, seed=args.seed, epochs=args.epochs, hurdles=(), early_stop=False),
    }
    cheap = runs["cheap"]
    header = (f"{len(rules)} rules from the {args.space!r} space (seed {args.seed}) on {args.task}, "
          f"{cheap.epochs} epochs x {cheap.steps_per_epoch} steps, learning rates "
          f"{', '.join(f'{lr:g}' for lr in cheap.learning_rates)}; cheap = hurdles {cheap.hurdles} + early stopping "
          f"(no progress after {cheap.no_progress_steps} steps), full = neither")
    print(header, flush=True)
    for evaluator in runs.values():  # untimed: the process's first training pays TensorFlow's one-time start-up
        evaluator.evaluate("adam")     # (about 5 CPU s), which would land on whichever run trains first
    results = {name: [] for name in runs}
    cpu = {name: 0.0 for name in runs}
    wall = {name: 0.0 for name in runs}
    started = time.perf_counter()
    for i, rule in enumerate(rules, 1):
        for name, evaluator in runs.items():
            c0, w0 = time.process_time(), time.perf_counter()
            results[name].append(evaluator.evaluate(rule))
            cpu[name] += time.process_time() - c0
            wall[name] += time.perf_counter() - w0
        if i % 10 == 0 or i == len(rules):
            print(f"  {i}/{len(rules)} rules, {time.perf_counter() - started:.0f} s; CPU s so far: "
                  f"cheap {cpu['cheap']:.0f}, full {cpu['full']:.0f}", file=sys.stderr, flush=True)

    n = len(rules)
    lines = [header, "", "| run | CPU s/candidate | wall s/candidate | steps trained/candidate | statuses |",
             "|---|---:|---:|---:|---|"]
    for name in runs:
        steps = sum(r.steps_trained for r in results[name]) / n
        counts = collections.Counter(r.status for r in results[name])
        lines.append(f"| {name} | {cpu[name] / n:.3f} | {wall[name] / n:.3f} | {steps:.1f} | "
                     + ", ".join(f"{count} {status}" for status, count in sorted(counts.items())) + " |")
    lines += ["", f"cost ratio full/cheap: CPU {cpu['full'] / cpu['cheap']:.1f}x, wall {wall['full'] / wall['cheap']:.1f}x"]

    tops = {name: top(results[name]) for name in runs}
    reward_of = {name: {r.rule: r.reward for r in results[name]} for name in runs}
    for name in runs:
        other = "full" if name == "cheap" else "cheap"
        lines += ["", f"top 5, {name}:   (reward in the {other} run alongside)", ""]
        lines += [f"- {reward:.4f}  ({reward_of[other][text]:.4f})  `{text}`" for reward, text in tops[name]]
    same = {t for _, t in tops["cheap"]} == {t for _, t in tops["full"]}
    lines += ["", f"same top-5 set: {same}"]
    if not same and tops["full"]:
        fifth = tops["full"][-1][0]
        lines.append(f"(fifth-best reward in the full run: {fifth:.4f}; rules of the cheap top 5 that the full run "
                     f"ranks lower: {[(t, round(reward_of['full'][t], 4)) for _, t in tops['cheap'] if t not in {x for _, x in tops['full']}]})")

    # Where the cheap run lost reward: hurdles that rejected a trainable rule, early stops that cut a good rate.
    lost = [(reward_of["full"][r.rule] - r.reward, r) for r in results["cheap"]]
    lost = sorted((x for x in lost if x[0] > 0.02), key=lambda x: -x[0])
    lines += ["", f"rules the cheap run scores more than 0.02 below the full run: {len(lost)}"]
    lines += ["", *(f"- -{delta:.3f}  full {reward_of['full'][r.rule]:.4f}  cheap {r.reward:.4f} [{r.status}]  "
                    f"`{r.rule}`" for delta, r in lost[:10])] if lost else []
    text = "\n".join(lines)
    print("\n".join(lines[1:]))  # the header line is printed before the trainings
    if args.doc:
        results_page.write_results(args.doc, "evaluator-cost", "benchmarks/evaluator_cost.py", argv, machine, text,
                                   title="Evaluator cost")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({name: [r.to_dict() for r in results[name]] for name in runs}, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
