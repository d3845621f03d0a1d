"""Does the evaluator leak? Evaluate many rules in one process and watch RSS.

Each rule is trained (hurdles off by default, so every candidate builds, traces
and trains a model) on the ``synthetic`` task for one short epoch; the resident
set size is printed every ``--every`` evaluations. A steady climb means state
survives an evaluation (Keras global state, traced tf.functions, models held by
callbacks or results). ``--evaluator batched`` trains the rules ``--batch`` at a
time with the ``BatchedEvaluator`` on Keras' JAX backend, as a search's worker
does: after its first batches compile, nothing should grow.

    python benchmarks/evaluator_memory.py                 # 300 rules, hurdles off
    python benchmarks/evaluator_memory.py --evaluator batched --rules 10000 --every 1000   # a search's scale
    python benchmarks/evaluator_memory.py --rules 100 --hurdles quadratic
    python benchmarks/evaluator_memory.py --doc           # and into docs/results/evaluator-cost.md's memory block
"""

import argparse
import itertools
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from keras_nos.native_log import quiet_native_stderr  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))  # results_page, beside this file
import results_page  # noqa: E402

PAGE = results_page.RESULTS / "evaluator-cost.md"


def rss_mib():
    """Resident set size of this process in MiB (psutil if installed, else /proc/self/status)."""
    try:
        import psutil

        return psutil.Process().memory_info().rss / 2**20
    except ImportError:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    return float("nan")


def rule_texts(count):
    """``count`` distinct rule texts: the registered rules and simple variants of them, then random rules of the
    ``paper`` space."""
    from keras_nos.dsl.parser import parse_rule
    from keras_nos.named_rules import RULES

    bases = list(RULES.values())
    templates = ["{r}", "({r})*{c}", "clip({r}, {c})", "{r} + {c}*g", "drop({r}, 0.1)", "({r})*exp({c}*sign(m))",
                 "{r} - {c}*m", "sign({r})*{c} + g"]
    constants = ["0.5", "2", "1e-3", "0.1", "3"]
    texts, seen = [], set()
    for template, c, base in itertools.product(templates, constants, bases):
        text = str(parse_rule(template.format(r=base, c=c)))
        if text not in seen:
            seen.add(text)
            texts.append(text)
        if len(texts) == count:
            return texts
    return texts + random_rule_texts(count - len(texts), seen)


def random_rule_texts(count, seen):
    """``count`` random rules of the ``paper`` space whose texts are not in ``seen`` (seeded: the same every run)."""
    import numpy as np

    from keras_nos.search.space import SearchSpace

    space, rng, texts = SearchSpace.preset("paper"), np.random.default_rng(0), []
    while len(texts) < count:
        text = str(space.to_rule(space.sample(rng)))
        if text not in seen:
            seen.add(text)
            texts.append(text)
    return texts


def evaluations(args):
    """The evaluator ``args`` name, as a function of a list of rule texts to their results."""
    from keras_nos.tasks import Evaluator

    options = dict(epochs=args.epochs, hurdles=tuple(args.hurdles), learning_rates=(1e-3, 1e-2, 1e-1))
    if args.evaluator == "batched":
        from keras_nos.tasks.batched.evaluator import BatchedEvaluator

        return BatchedEvaluator(args.task, num_groups=2, **options).evaluate
    evaluator = Evaluator(args.task, **options)
    return lambda batch: [evaluator.evaluate(text) for text in batch]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=300)
    parser.add_argument("--every", type=int, default=50)
    parser.add_argument("--task", default="synthetic")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--hurdles", nargs="*", default=[], help="hurdle names (default: none, so every rule trains)")
    parser.add_argument("--evaluator", default="keras", choices=("keras", "batched"),
                        help="the rule-by-rule Evaluator (default) or the BatchedEvaluator on Keras' JAX backend")
    parser.add_argument("--batch", type=int, default=25, help="rules a call of the batched evaluator (default 25)")
    parser.add_argument("--doc", nargs="?", const=PAGE, default=None, type=Path, metavar="PATH",
                        help=f"write the table, the command and the machine into PATH's evaluator-memory block "
                             f"(default PATH: {PAGE.relative_to(results_page.ROOT)})")
    args = parser.parse_args(argv)
    machine = results_page.machine_line()  # the load average before the run

    if args.every % (args.batch if args.evaluator == "batched" else 1):
        parser.error(f"--every {args.every} must be a multiple of --batch {args.batch}")
    if args.evaluator == "batched":
        os.environ["KERAS_BACKEND"] = "jax"  # as a search's batched worker runs; before Keras is imported
    start_rss = rss_mib()
    with quiet_native_stderr():  # TensorFlow's C++ start-up lines would bury the output
        import keras  # noqa: F401
    texts = rule_texts(args.rules)
    evaluate = evaluations(args)
    lines = [f"RSS after import: {rss_mib():.0f} MiB (at start {start_rss:.0f} MiB); {len(texts)} rules on "
             f"{args.task}, {args.epochs} epoch(s), hurdles={args.hurdles or 'off'}, evaluator {args.evaluator}"
             + (f" ({args.batch} rules a call)" if args.evaluator == "batched" else ""), "",
             "| evaluations | RSS MiB | delta | ms an evaluation | statuses |", "|---:|---:|---:|---:|---|"]
    print("\n".join(lines), flush=True)
    counts, first, last_time = {}, None, time.perf_counter()
    rows = []
    size = args.batch if args.evaluator == "batched" else 1
    for start in range(0, len(texts), size):
        for result in evaluate(texts[start:start + size]):
            counts[result.status] = counts.get(result.status, 0) + 1
        i = min(start + size, len(texts))
        if i % args.every == 0 or i == len(texts):
            rss = rss_mib()
            first = rss if first is None else first
            now = time.perf_counter()
            per = (now - last_time) / (args.every if i % args.every == 0 else i % args.every)
            last_time = now
            rows.append(rss)
            lines.append(f"| {i} | {rss:.0f} | {rss - first:+.0f} | {per * 1000:.1f} | "
                         + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) + " |")
            print(lines[-1], flush=True)
    if len(rows) >= 2:
        growth = (rows[-1] - rows[0]) / max(1, len(texts) - args.every)
        lines += ["", f"growth after the first {args.every}: {rows[-1] - rows[0]:+.0f} MiB, "
                      f"{growth * 1024:+.0f} KiB per evaluation"]
        print(lines[-1])
    if args.doc:
        command = results_page.command_line("benchmarks/evaluator_memory.py", sys.argv[1:] if argv is None else argv)
        results_page.write_block(args.doc, "evaluator-memory", results_page.results_block(
            command, machine, "\n".join(lines)), "benchmarks/evaluator_memory.py", title="Evaluator memory")
    return 0


if __name__ == "__main__":
    sys.exit(main())
