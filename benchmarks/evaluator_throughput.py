"""The batched evaluator against the current one: candidates per CPU-second, and whether the rewards agree.

Both evaluators score the same rules (the named rules of ``keras_nos.named_rules`` and random rules of the
paper's space that pass the hurdles, drawn with a fixed seed) with the same seed, grid and hurdles, each in
its own child process so that each one's CPU time is its own: the current ``Evaluator`` as a search runs it
(Keras on TensorFlow), then the ``BatchedEvaluator`` (Keras on JAX), started from the TensorFlow evaluator's
own initial weights and batch order (``keras_nos.tasks.batched.start``). Rules without random operands must
then score the same up to float32 rounding, which TensorFlow's and XLA's kernels do differently; ``noise``
and ``drop`` draw the same numbers on both backends (``keras_nos.optimizers.random_draws``), but the issue
asks |delta| of the rules without them, so those rules count in the Spearman only. The CPU time
counts the evaluations, compilation included, not the start-up; the batched evaluator then scores the rules
once more with its program compiled, as every batch of a search after the first would. Last, a new batched
process scores them with the program the first one left in JAX's compilation cache (a fresh folder each run,
as a search's workers use ``~/.cache/keras_nos/jax``): what the first batch of a later search, a resumed one
or a second worker costs.

How close is close enough? Two evaluators that sum in different orders differ by about one float32 ulp a
step, and some trainings amplify that. So the batched evaluator also trains every rule from its start with
each initial weight one ulp up, then one ulp down: a rule whose reward moves by more than 1e-3 so is not
determined to 1e-3 by float32 arithmetic. The agreement is then given over all rules without random
operands, and over those that float32 arithmetic does determine.

    python benchmarks/evaluator_throughput.py                        # 64 rules, digits-autoencoder and digits-mlp
    python benchmarks/evaluator_throughput.py --data ~/cifar10-jpeg.tar.gz   # and cifar10-pooled-b50
    python benchmarks/evaluator_throughput.py --doc     # and into docs/results/evaluator-throughput.md's block
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from keras_nos.native_log import quiet_native_stderr  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))  # results_page, beside this file
import results_page  # noqa: E402

PAGE = results_page.RESULTS / "evaluator-throughput.md"

DIGITS_TASKS = ("digits-autoencoder", "digits-mlp")
SEARCH_SPACE_GROUPS = 2  # the paper space's, as a search passes it: rules of more groups go to a second program
CIFAR_TASK = "cifar10-pooled-b50"
RANDOM_MARKERS = ("noise", "drop(")


def choose_rules(count, seed):
    """``count`` rules: the named rules (up to half) then random rules of the paper space that pass the hurdles."""
    import numpy as np

    from keras_nos.named_rules import RULES
    from keras_nos.search.space import SearchSpace
    from keras_nos.tasks.hurdles import DEFAULT_HURDLES, run_hurdles
    from keras_nos.tasks.lr_search import DEFAULT_LEARNING_RATES

    rules = list(RULES.values())[:min(len(RULES), count // 2)]
    space, rng = SearchSpace.preset("paper"), np.random.default_rng(seed)
    while len(rules) < count:
        rule = space.to_rule(space.sample(rng))
        if str(rule) not in rules and not run_hurdles(rule, DEFAULT_LEARNING_RATES, DEFAULT_HURDLES, seed=seed).failure:
            rules.append(str(rule))
    return rules


def nudged(start, direction):
    """``start`` with every initial trainable weight moved by one float32 ulp (``direction`` 'up' or 'down'):
    the size of the change a different reduction order makes to a sum."""
    import dataclasses

    import numpy as np

    toward = np.float32(np.inf if direction == "up" else -np.inf)
    return dataclasses.replace(start, trainable=[np.nextafter(w.astype(np.float32), toward) for w in start.trainable])


def run_worker(args):
    """In a child process: evaluate the rules with one evaluator; write rewards, statuses and CPU seconds."""
    rules = json.loads(Path(args.rules_file).read_text())
    with quiet_native_stderr():
        import keras  # noqa: F401
    if args.worker == "current":
        from keras_nos.tasks.evaluator import Evaluator

        evaluator = Evaluator(args.task, seed=args.seed, data_path=args.data, epochs=args.epochs)
        started = time.process_time()
        results = [evaluator.evaluate(rule) for rule in rules]
    else:
        from keras_nos.tasks.batched.evaluator import BatchedEvaluator
        from keras_nos.tasks.batched.start import TrainingStart

        start = TrainingStart.load(args.start)
        if args.nudge:
            start = nudged(start, args.nudge)
        evaluator = BatchedEvaluator(args.task, seed=args.seed, data_path=args.data, epochs=args.epochs,
                                     start=start, num_groups=SEARCH_SPACE_GROUPS)
        started = time.process_time()
        results = evaluator.evaluate(rules)
        compiled = time.process_time()
        if not args.nudge:
            evaluator.evaluate(rules)  # again, its program compiled: what each later batch of a search costs
        again = time.process_time() - compiled
    cpu = (compiled if args.worker == "batched" else time.process_time()) - started
    if args.worker == "current":  # where the current evaluator's trainings start, for the batched one
        from keras_nos.tasks.batched.start import training_start

        trainer = evaluator.trainer
        training_start(evaluator.task, trainer.x_train, trainer.num_outputs, args.seed, evaluator.epochs).save(args.start)
    figures = {"cpu": cpu, "results": [r.to_dict() for r in results]}
    if args.worker == "batched":
        figures["cpu_compiled"] = again
    Path(args.out).write_text(json.dumps(figures))
    return 0


def evaluate_in_child(kind, task, rules_file, start, args, folder, cache=None, backend=None, nudge=None):
    """The worker's output for evaluator ``kind`` ('current' on ``backend``, TensorFlow unless given; 'batched'
    on JAX); a batched one keeps its compiled program in JAX's compilation cache in ``cache``, and with ``nudge``
    starts from weights one ulp away (``nudged``)."""
    backend = backend or ("tensorflow" if kind == "current" else "jax")
    out = Path(folder) / f"{task}-{kind}-{backend}.json"  # read at once, so the next child may overwrite it
    command = [sys.executable, __file__, "--worker", kind, "--task", task, "--rules-file", str(rules_file),
               "--start", str(start), "--out", str(out), "--seed", str(args.seed)]
    command += ["--nudge", nudge] if nudge else []
    command += ["--epochs", str(args.epochs)] if args.epochs else []
    command += ["--data", args.data] if args.data else []
    env = {**os.environ, "KERAS_BACKEND": backend, "JAX_PLATFORMS": os.environ.get("JAX_PLATFORMS", "cpu")}
    env.update({"JAX_COMPILATION_CACHE_DIR": str(cache)} if cache else {})
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"the {kind} evaluator failed on {task}:\n{done.stderr[-4000:]}")
    return json.loads(out.read_text())


def one_ulp_away(task, rules_file, start, args, folder, cache):
    """The batched evaluator's runs from ``start`` with every initial weight one ulp up, then one ulp down."""
    return [evaluate_in_child("batched", task, rules_file, start, args, folder, cache, nudge=nudge)
            for nudge in ("up", "down")]


def exact_deltas(rules, first, second):
    """{rule: |delta reward| between two runs} of the rules without random operands."""
    return {rule: abs(a["reward"] - b["reward"]) for rule, a, b in zip(rules, first["results"], second["results"])
            if not any(marker in rule for marker in RANDOM_MARKERS)}


def agreement(rules, first, second, stable):
    """How two runs' rewards agree: the |delta| of each rule without random operands, the largest among the
    ``stable`` ones (those a start one ulp away moves by at most 1e-3), and the Spearman over all."""
    from scipy.stats import spearmanr

    old, new = ([r["reward"] for r in run["results"]] for run in (first, second))
    deltas = exact_deltas(rules, first, second)
    on_stable = [delta for rule, delta in deltas.items() if rule in stable]
    return {"stable_rules": len(on_stable), "max_delta_stable": max(on_stable, default=0.0),
            "max_delta": max(deltas.values(), default=0.0), "worst_rule": max(deltas, key=deltas.get, default=None),
            "within_1e-3": sum(delta <= 1e-3 for delta in deltas.values()), "exact_rules": len(deltas),
            "spearman": float(spearmanr(old, new)[0]),
            "same_status": sum(a["status"] == b["status"] for a, b in zip(first["results"], second["results"]))}


def float32_sensitivity(rules, batched, nudged_runs):
    """{rule: the largest |delta reward| when its initial weights move by one ulp} of the rules without random
    operands: a rule that moves by more than 1e-3 so is not determined to 1e-3 by float32 arithmetic, and two
    evaluators that sum in different orders cannot be expected to agree on it that closely."""
    moved = [exact_deltas(rules, batched, run) for run in nudged_runs]
    return {rule: max(m[rule] for m in moved) for rule in moved[0]}


def compare(task, rules, current, batched, cached, nudged, on_jax=None):
    """The figures of one task: throughputs, their ratio, and how the batched evaluator's rewards agree with
    the current evaluator's on TensorFlow; ``cached`` is the batched evaluator's run with its program in the
    disk cache, ``nudged`` its runs from a start one ulp away. ``on_jax`` = (rules, current, batched, nudged):
    the same comparison on JAX, where both evaluators draw the same initial weights and random operands."""
    figures = {
        "task": task, "rules": len(rules), "current_cpu": current["cpu"], "batched_cpu": batched["cpu"],
        "current_rate": len(rules) / current["cpu"], "batched_rate": len(rules) / batched["cpu"],
        "ratio": current["cpu"] / batched["cpu"], "batched_cpu_compiled": batched["cpu_compiled"],
        "ratio_compiled": current["cpu"] / batched["cpu_compiled"], "batched_cpu_cached": cached["cpu"],
        "ratio_cached": current["cpu"] / cached["cpu"], **judged(rules, current, batched, nudged),
        "rewards": paired_rewards(rules, current, batched), "jax_rules": 0,
    }
    if on_jax:
        jax_rules, current_jax, batched_jax, nudged_jax = on_jax
        figures.update({
            "jax_rules": len(jax_rules), "current_jax_cpu": current_jax["cpu"],
            "on_jax": judged(jax_rules, current_jax, batched_jax, nudged_jax),
            "rewards_on_jax": paired_rewards(jax_rules, current_jax, batched_jax),
        })
    return figures


def judged(rules, current, batched, nudged):
    """``agreement`` of the two evaluators, judged on the rules that float32 arithmetic determines to 1e-3 (a
    start one ulp away moves the batched evaluator's reward by at most that), with each rule's one-ulp move."""
    moved = float32_sensitivity(rules, batched, nudged)
    stable = {rule for rule, delta in moved.items() if delta <= 1e-3}
    return {**agreement(rules, current, batched, stable), "one_ulp_moves": moved,
            "sensitive_rules": sorted(set(moved) - stable)}


def paired_rewards(rules, current, batched):
    return [{"rule": rule, "current": a["reward"], "batched": b["reward"]}
            for rule, a, b in zip(rules, current["results"], batched["results"])]


def describe_agreement(agreement):
    return (f"largest |delta reward| without random operands {agreement['max_delta']:.2e} ({agreement['worst_rule']}), "
            f"{agreement['within_1e-3']} of {agreement['exact_rules']} within 1e-3; {stable_phrase(agreement)}; "
            f"Spearman over all {agreement['spearman']:.4f}; same status for {agreement['same_status']}")


def stable_phrase(agreement):
    """The agreement on the rules that float32 arithmetic determines to 1e-3 (a one-ulp start moves them less)."""
    return (f"max |delta| {agreement['max_delta_stable']:.1e} on the {agreement['stable_rules']} of "
            f"{agreement['exact_rules']} that a start one ulp away moves by at most 1e-3")


def report(figures):
    print(f"{figures['task']}: {figures['rules']} rules")
    print(f"  current evaluator (TensorFlow): {figures['current_cpu']:.1f} CPU-s, "
          f"{figures['current_rate']:.3f} candidates per CPU-second")
    print(f"  batched evaluator (JAX):        {figures['batched_cpu']:.1f} CPU-s, "
          f"{figures['batched_rate']:.3f} candidates per CPU-second")
    print(f"  batched again, its program compiled: {figures['batched_cpu_compiled']:.1f} CPU-s, "
          f"{figures['rules'] / figures['batched_cpu_compiled']:.3f} candidates per CPU-second")
    print(f"  a new batched process, its program in the disk cache: {figures['batched_cpu_cached']:.1f} CPU-s")
    print(f"  ratio {figures['ratio']:.1f}x with the compilation, {figures['ratio_cached']:.1f}x from the cache, "
          f"{figures['ratio_compiled']:.1f}x compiled")
    print(f"  batched against current on TensorFlow: {describe_agreement(figures)}")
    print(f"  rules without random operands that a start one ulp away moves by more than 1e-3: "
          f"{', '.join(figures['sensitive_rules']) or 'none'}")
    if figures["jax_rules"]:
        print(f"  current evaluator on JAX, {figures['jax_rules']} of the rules: {figures['current_jax_cpu']:.1f} "
              f"CPU-s; batched against it: {describe_agreement(figures['on_jax'])}")


def table(all_figures):
    """Every task's figures as two markdown tables (the results page's): throughput, then agreement."""
    lines = ["| task | rules | current (TF) | batched, with compilation | batched, program from the disk cache | "
             "batched, compiled | ratio with compilation / from the cache / compiled | ratio at a search's scale |",
             "| --- | ---: | --- | --- | --- | --- | --- | --- |"]
    for f in all_figures:
        lines.append(
            f"| {f['task']} | {f['rules']} | {f['current_cpu']:.1f} CPU-s ({f['current_rate']:.2f} /CPU-s) "
            f"| {f['batched_cpu']:.1f} CPU-s ({f['batched_rate']:.2f} /CPU-s) "
            f"| {f['batched_cpu_cached']:.1f} CPU-s ({f['rules'] / f['batched_cpu_cached']:.2f} /CPU-s) "
            f"| {f['batched_cpu_compiled']:.1f} CPU-s ({f['rules'] / f['batched_cpu_compiled']:.2f} /CPU-s) "
            f"| {f['ratio']:.1f}x / {f['ratio_cached']:.1f}x / {f['ratio_compiled']:.1f}x "
            f"| {search_scale_ratio(f):.1f}x |")
    lines += ["", "| task | batched against the current evaluator on | rules | max \\|Δ reward\\|, no random operands "
                  "| within 1e-3 | max \\|Δ\\| where a start one ulp away moves the reward ≤ 1e-3 "
                  "| Spearman, all | same status |", "| --- | --- | ---: | --- | --- | --- | ---: | --- |"]
    for f in all_figures:
        compared = [("TensorFlow", f["rules"], f)] + ([("JAX", f["jax_rules"], f["on_jax"])] if f["jax_rules"] else [])
        for backend, count, a in compared:
            worst = f" ({a['worst_rule']})" if a["max_delta"] > 1e-3 else ""
            lines.append(f"| {f['task']} | {backend} | {count} | {a['max_delta']:.2g}{worst} | {a['within_1e-3']} of "
                         f"{a['exact_rules']} | {a['max_delta_stable']:.2g} on {a['stable_rules']} of "
                         f"{a['exact_rules']} | {a['spearman']:.3f} | {a['same_status']} of {count} |")
    return "\n".join(lines)


def search_budget():
    """The bare search's candidates."""
    from keras_nos.search.config import BudgetConfig

    return BudgetConfig().candidates


def search_scale_ratio(f):
    """The ratio over a bare search's candidates, compiled once: each candidate costs what it costs compiled,
    plus its share of the one cold compilation (the cold run less the compiled one)."""
    budget = search_budget()
    compiled = f["batched_cpu_compiled"] / f["rules"]
    compilation = max(f["batched_cpu"] - f["batched_cpu_compiled"], 0.0) / budget
    return f["current_cpu"] / f["rules"] / (compiled + compilation)


def final_line(f):
    """The issue's line: the ratio at a search's scale and the agreement over every rule with the current
    evaluator as a search runs it (TensorFlow); then the other ratios and the agreement on JAX."""
    jax = f.get("on_jax")
    on_jax = (f"; on JAX, {f['jax_rules']} rules: max |delta| {jax['max_delta']:.1e}, {stable_phrase(jax)}, "
              f"spearman {jax['spearman']:.3f}") if jax else ""
    return (f"{f['task']}: {search_scale_ratio(f):.1f} x candidates per CPU-second, max |delta| {f['max_delta']:.1e}, "
            f"spearman {f['spearman']:.3f} (a search of {search_budget()} candidates that compiles once, against the "
            f"current evaluator on TensorFlow; {f['ratio']:.1f} x for {f['rules']} rules with a cold compilation, "
            f"{f['ratio_cached']:.1f} x from the disk cache, {f['ratio_compiled']:.1f} x compiled; "
            f"{stable_phrase(f)}{on_jax})")


def tasks_to_run(args):
    if args.tasks:
        return args.tasks.split(",")
    cifar = args.data or os.environ.get("KERAS_NOS_CIFAR10")
    return list(DIGITS_TASKS) + ([CIFAR_TASK] if cifar else [])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=64)
    parser.add_argument("--tasks", help=f"comma-separated; default {', '.join(DIGITS_TASKS)}, and {CIFAR_TASK} "
                                        f"when CIFAR-10 is found (--data or KERAS_NOS_CIFAR10)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the rule sample and the evaluations")
    parser.add_argument("--epochs", type=int, default=None, help="override the tasks' epochs")
    parser.add_argument("--jax-rules", type=int, default=16,
                        help="compare with the current evaluator on JAX on this many of the rules, evenly spaced")
    parser.add_argument("--data", help="where CIFAR-10 is")
    parser.add_argument("--json", help="write every figure and reward here")
    parser.add_argument("--doc", nargs="?", const=PAGE, default=None, type=Path, metavar="PATH",
                        help=f"write the table, the final lines, the command and the machine into PATH's "
                             f"evaluator-throughput block (default PATH: {PAGE.relative_to(results_page.ROOT)})")
    parser.add_argument("--from-json", type=Path, nargs="+", metavar="JSON",
                        help="print (and with --doc write) the figures of earlier runs' --json, task after task")
    parser.add_argument("--worker", choices=("current", "batched"), help=argparse.SUPPRESS)
    parser.add_argument("--nudge", choices=("up", "down"), help=argparse.SUPPRESS)
    for hidden in ("--task", "--rules-file", "--start", "--out"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return run_worker(args)
    machine = results_page.machine_line(("keras", "tensorflow", "jax"))  # the load average before the run
    if args.from_json:
        all_figures = [figures for path in args.from_json for figures in json.loads(path.read_text())]
        return publish(all_figures, args, argv, machine)
    with quiet_native_stderr():  # the hurdles import TensorFlow, whose C++ start-up lines would bury the output
        rules = choose_rules(args.rules, args.seed)
    all_figures = []
    with tempfile.TemporaryDirectory() as folder:
        rules_file = Path(folder) / "rules.json"
        rules_file.write_text(json.dumps(rules))
        jax_rules = rules[::-(-len(rules) // args.jax_rules)] if args.jax_rules else []
        jax_rules_file = Path(folder) / "jax-rules.json"
        jax_rules_file.write_text(json.dumps(jax_rules))
        for task in tasks_to_run(args):
            start = Path(folder) / f"{task}-start.npz"
            current = evaluate_in_child("current", task, rules_file, start, args, folder)
            cache = Path(folder) / f"{task}-programs"  # empty: the first batched process compiles
            batched = evaluate_in_child("batched", task, rules_file, start, args, folder, cache)
            cached = evaluate_in_child("batched", task, rules_file, start, args, folder, cache)
            nudged = one_ulp_away(task, rules_file, start, args, folder, cache)
            on_jax = None
            if jax_rules:
                # the same comparison on JAX, where both draw the same initial weights and random operands; the
                # current evaluator compiles each rule there (about 25 CPU-s a rule), so it takes every k-th rule
                start_jax = Path(folder) / f"{task}-start-jax.npz"
                current_jax = evaluate_in_child("current", task, jax_rules_file, start_jax, args, folder, backend="jax")
                batched_jax = evaluate_in_child("batched", task, jax_rules_file, start_jax, args, folder, cache)
                on_jax = (jax_rules, current_jax, batched_jax,
                          one_ulp_away(task, jax_rules_file, start_jax, args, folder, cache))
            all_figures.append(dict(compare(task, rules, current, batched, cached, nudged, on_jax), machine=machine))
            report(all_figures[-1])
    if args.json:
        Path(args.json).write_text(json.dumps(all_figures, indent=1))
    return publish(all_figures, args, argv, machine)


def publish(all_figures, args, argv, machine):
    """Print the tables and the final lines; with ``--doc``, write them into the results page's block, with the
    machine line of the run that made the figures."""
    machine = all_figures[0].get("machine", machine)
    final = [final_line(figures) for figures in all_figures]
    print()
    print(table(all_figures))
    print()
    if args.doc:
        command = results_page.command_line("benchmarks/evaluator_throughput.py",
                                            sys.argv[1:] if argv is None else argv)
        counts = "/".join(sorted({str(f["rules"]) for f in all_figures}))
        rules_line = (f"{counts} rules (the named rules, up to half, then random rules of the `paper` space "
                      f"that pass the hurdles, seed {args.seed}); the final lines:")
        text = "\n".join([table(all_figures), "", rules_line, "", *(f"    {line}" for line in final)])
        results_page.write_block(args.doc, "evaluator-throughput", results_page.results_block(command, machine, text),
                                 "benchmarks/evaluator_throughput.py", title="The batched evaluator against the current one")
    print("\n".join(final))
    return 0


if __name__ == "__main__":
    sys.exit(main())
