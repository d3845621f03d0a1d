"""Search quality: rl, evolution, tpe and random on the same task and budget, several seeds each.

For every (strategy, seed) pair one search runs through ``keras_nos.search.loop.search``
with the funnel off (``funnel_top_k=0``). Every search writes to its own MLflow experiment in a
temporary SQLite store (artifacts in the same temporary folder, deleted at the
end), so ``./mlruns`` is never touched. The reward of each evaluated rule is
read back from MLflow: the nested runs with tag ``keras_nos.stage = search``,
ordered by tag ``keras_nos.index``, i.e. in proposal order. An "evaluation" is
one proposal of the budget, whatever became of it: trained, failed the cheap
hurdle (reward 0) or answered from the fingerprint cache (a repeat).

The seed of a search seeds the strategy *and* the evaluator (data split, initial
weights), so the same rule can score differently under different seeds. That is
why the target of (b) is per seed: strategy S with seed s has to match the best
reward that random search with the same seed s found with the full budget, less
a tolerance (``--tolerance``, default 0.005: rewards on digits saturate near
0.95-0.97 and differ by single validation images, 1/360 = 0.0028 on digits).
A second column uses the mean of random's per-seed bests as a common target.

The defaults are the bare search's: its task, budget and batch size.

Printed: (a) the best reward reached after 10, 25, 50, 100, ... evaluations,
mean ± std over seeds; (r) each search's best reward beside the references' (``--references``, plain
``adam`` by default: evaluated as the seed's candidates were, the same evaluator included); (b) evaluations each strategy needs to first reach the
target; and the issue's check (rl or evolution reaches it with at most half the
budget). Written: ``<out>/search_quality.md`` (the same tables) and
``<out>/search_quality.png`` (mean best-so-far curves with ±1 std bands).

    python benchmarks/search_quality.py --seeds 5 --strategies rl,evolution,random --in-process  # search()'s defaults
    python benchmarks/search_quality.py --budget 10 --seeds 1   # a quick check of the script
    python benchmarks/search_quality.py --rl-lr 0.002           # adds a row for rl with that controller rate
    python benchmarks/search_quality.py --from-raw a.json b.json  # re-render tables and plot from --raw output
    python benchmarks/search_quality.py --task rosenbrock --budget 200 --seeds 20 --in-process  # no MLflow, same rewards
    python benchmarks/search_quality.py --from-raw a.json --doc --block NAME   # into docs/results/search-strategies.md
    python benchmarks/search_quality.py --strategies rl --warm-start named --in-process  # rl beside rl warm-started
"""

import argparse
import json
import os
import platform
import shlex
import shutil
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from keras_nos.native_log import quiet_native_stderr  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # results_page, beside this file
import results_page  # noqa: E402

PAGE = results_page.RESULTS / "search-strategies.md"

import numpy as np  # noqa: E402

STRATEGIES = ("rl", "evolution", "tpe", "random")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    from keras_nos.search.config import BudgetConfig, TaskConfig

    parser.add_argument("--task", default=TaskConfig().name, help="registered task (default: the search's)")
    parser.add_argument("--budget", type=int, default=BudgetConfig().candidates,
                        help="evaluations per search (default: the search's, %(default)s)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per strategy (default 3)")
    parser.add_argument("--first-seed", type=int, default=0,
                        help="seeds are first-seed .. first-seed+seeds-1 (default 0): more seeds in another run, "
                             "pooled with --from-raw")
    parser.add_argument("--space", default="paper", help="search space preset (default paper)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs per candidate (default: the task's)")
    parser.add_argument("--lr", default=None,
                        help="comma-separated learning-rate grid per candidate (default: the search's, 1e-4 ... 1, 5 values)")
    parser.add_argument("--batch-size", type=int, default=BudgetConfig().batch_size,
                        help="proposals per batch (default: the search's, %(default)s)")
    parser.add_argument("--evaluator", default="auto", choices=("auto", "batched", "keras"),
                        help="the searches' evaluator (default auto, as a search picks it); the references use the "
                             "one each seed's first search used")
    parser.add_argument("--references", default=None, metavar="named|RULE,RULE,...",
                        help="rules (or names of keras_nos.named_rules; named: all the space expresses) evaluated "
                             "once a seed as the candidates are, each search's best set beside them (default adam; "
                             "with --from-raw, those not stored are evaluated)")
    parser.add_argument("--strategies", default=",".join(STRATEGIES), help="comma-separated (default: all four)")
    parser.add_argument("--strategy-option", action="append", default=[], metavar="STRATEGY.KEY=VALUE",
                        help="an option of one strategy, e.g. rl.learning_rate=0.002 (repeatable; VALUE read as "
                             "JSON where it parses, else as text); the strategy's row is labelled with it")
    parser.add_argument("--warm-start", default=None, metavar="named|RULE,RULE,...",
                        help="add a row for each strategy warm-started so (label '+warm'), on the same seeds")
    parser.add_argument("--tolerance", type=float, default=0.005,
                        help="'matching' random's best means reward >= best - tolerance (default 0.005)")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"),
                        help="folder for search_quality.md and .png (default benchmarks/results)")
    parser.add_argument("--raw", default=None, help="also write the reward sequences to this JSON file (after every search)")
    parser.add_argument("--from-raw", nargs="+", default=None, metavar="FILE[@NOTE]",
                        help="skip the searches; render from JSON files written by --raw (searches of all files "
                             "are pooled; their settings must agree); FILE@NOTE adds ' NOTE' to the labels of FILE's "
                             "rows, to tell runs of the same strategy made on different code apart")
    parser.add_argument("--against", action="append", default=[], metavar="LABEL",
                        help="also pair every row with the row LABEL (repeatable), besides random and evolution")
    parser.add_argument("--doc", nargs="?", const=PAGE, default=None, metavar="PATH",
                        help=f"also write the tables, the commands and the machine into PATH's block --block "
                             f"(default PATH: {PAGE.relative_to(results_page.ROOT)})")
    parser.add_argument("--block", default=None, help="the block of --doc's page (default: the task's name)")
    parser.add_argument("--keep-store", action="store_true", help="keep the temporary MLflow store (its path is printed)")
    parser.add_argument("--in-process", action="store_true",
                        help="keep each search's records in memory (search(tracking_uri=InMemoryTracker())): the "
                             "same loop and rewards as a search tracked in MLflow (tested), without the store's "
                             "writes, for sweeping options over many seeds")
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # the command line, as the run's record keeps it
    return args


# -- running --------------------------------------------------------------------------------


def strategy_options(pairs):
    """{strategy: {key: value}} from ``STRATEGY.KEY=VALUE`` texts; SystemExit naming a malformed one."""
    options = {}
    for pair in pairs:
        name, _, assignment = pair.partition(".")
        key, equals, text = assignment.partition("=")
        if not (name and key and equals):
            raise SystemExit(f"--strategy-option {pair!r} is not STRATEGY.KEY=VALUE, e.g. rl.learning_rate=0.002")
        try:
            value = json.loads(text)
        except ValueError:
            value = text
        options.setdefault(name, {})[key] = value
    return options


def _runs(args):
    """(label, strategy, strategy_options) for every row of the tables."""
    names = [name for name in args.strategies.split(",") if name]
    options = strategy_options(args.strategy_option)
    for unknown in [name for name in names + list(options) if name not in STRATEGIES]:
        raise SystemExit(f"unknown strategy {unknown!r}; allowed: {', '.join(STRATEGIES)}")
    for name in set(options) - set(names):
        raise SystemExit(f"--strategy-option for {name!r}, which --strategies ({args.strategies}) does not run")
    rows = []
    for name in names:
        given = options.get(name)
        label = name + (" (" + ", ".join(f"{k}={v}" for k, v in sorted(given.items())) + ")" if given else "")
        rows.append((label, name, given, None))
        if args.warm_start:
            rows.append((f"{label} +warm", name, given, args.warm_start))
    return rows


def _rewards_from_mlflow(uri, experiment_name, budget):
    """Reward of each candidate of the one search in ``experiment_name``, in proposal order, and its cache hits."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(experiment_name)
    runs = client.search_runs([experiment.experiment_id], filter_string="tags.`keras_nos.stage` = 'search'",
                              max_results=50000)
    runs = sorted(runs, key=lambda run: int(run.data.tags["keras_nos.index"]))
    indices = [int(run.data.tags["keras_nos.index"]) for run in runs]
    if indices != list(range(budget)):
        raise RuntimeError(f"{experiment_name}: expected candidate indices 0..{budget - 1}, got {indices[:5]}... "
                           f"({len(indices)} runs)")
    rewards = [float(run.data.metrics.get("reward", 0.0)) for run in runs]
    cache_hits = [run.data.tags.get("keras_nos.cache_hit") == "true" for run in runs]
    statuses = [run.data.tags.get("keras_nos.status", "") for run in runs]
    parent = client.search_runs([experiment.experiment_id], filter_string="tags.`keras_nos.kind` = 'search'")[0]
    return rewards, cache_hits, statuses, parent.data.params["evaluator"]


def _search_in_memory(args, strategy, seed, options, learning_rates, warm_start=None):
    """(rewards, cache_hits, statuses, evaluator) of one search: the real loop (``search()``), its records kept in
    memory by an ``InMemoryTracker`` instead of MLflow."""
    from keras_nos.search.loop import search
    from keras_nos.tracking.in_memory import InMemoryTracker

    tracker = InMemoryTracker()
    search(task=args.task, strategy=strategy, budget=args.budget, space=args.space, seed=seed,
           batch_size=args.batch_size, tracking_uri=tracker, learning_rates=learning_rates, epochs=args.epochs,
           funnel_top_k=0, progress=False, strategy_options=options, warm_start=warm_start, evaluator=args.evaluator)
    trials = sorted((trial for trial in tracker.trials if trial.stage == "search"), key=lambda trial: trial.index)
    return ([trial.reward for trial in trials], [trial.cache_hit for trial in trials],
            [trial.status for trial in trials], tracker.params["evaluator"])


def reference_rules(space_name, references):
    """[(label, rule)] of the warm start ``references`` (``"named"``, or rules and names) in the space: one rule per
    behaviour, labelled by its name in ``keras_nos.named_rules`` when it has one (the first), else its text."""
    from keras_nos import named_rules
    from keras_nos.dsl.fingerprint import fingerprint
    from keras_nos.search.space import SearchSpace
    from keras_nos.search.strategies.warm_start import warm_start_tokens

    space = SearchSpace.preset(space_name)
    names = {fingerprint(text): name for name, text in reversed(named_rules.RULES.items())}
    rules = [space.to_rule(tokens) for tokens in warm_start_tokens(space, references)]
    return [(names.get(fingerprint(rule), str(rule)), rule) for rule in rules]


def reference_rewards(settings, references, seed, evaluator):
    """{label: reward} of ``reference_rules``, evaluated as seed ``seed``'s candidates were: a search in memory
    that proposes them and nothing else, on the same task, space, grid, epochs, evaluator and seed."""
    from keras_nos.search.loop import search
    from keras_nos.tracking.in_memory import InMemoryTracker

    labelled = reference_rules(settings["space"], references)
    tracker = InMemoryTracker()
    search(task=settings["task"], strategy="random", budget=len(labelled), space=settings["space"], seed=seed,
           tracking_uri=tracker, learning_rates=settings["learning_rates"], epochs=settings["epochs"],
           funnel_top_k=0, progress=False, warm_start=[str(rule) for _, rule in labelled], evaluator=evaluator)
    trials = sorted(tracker.trials, key=lambda trial: trial.index)
    return {label: trial.reward for (label, _), trial in zip(labelled, trials, strict=True)}


def add_references(raw, references):
    """Evaluate ``references`` for every seed of ``raw`` that lacks one of them, with the evaluator of that seed's
    first search; kept in ``raw["references"]``."""
    labels = [label for label, _ in reference_rules(raw["settings"]["space"], references)]
    for entry in raw["searches"]:
        stored = raw.setdefault("references", {}).setdefault(str(entry["seed"]), {})
        if not all(label in stored for label in labels):
            stored.update(reference_rewards(raw["settings"], references, entry["seed"], entry.get("evaluator", "auto")))


def run_searches(args):
    from keras_nos.tasks.lr_search import DEFAULT_LEARNING_RATES
    from keras_nos.search.loop import search
    from keras_nos.tasks.hurdles import DEFAULT_HURDLES, HURDLES

    learning_rates = tuple(float(x) for x in args.lr.split(",")) if args.lr else DEFAULT_LEARNING_RATES
    folder = tempfile.mkdtemp(prefix="keras_nos_search_quality_")
    uri = f"sqlite:///{os.path.join(folder, 'mlflow.db')}"
    raw = {"settings": {"task": args.task, "budget": args.budget, "seeds": args.seeds, "space": args.space,
                        "epochs": args.epochs, "learning_rates": list(learning_rates), "batch_size": args.batch_size,
                        # the loop's default hurdles; rewards are only comparable under the same ones
                        "hurdle": "; ".join(HURDLES[name].describe() for name in DEFAULT_HURDLES)},
           "searches": [], "references": {}, "commands": ["python benchmarks/search_quality.py " + shlex.join(args.argv)]}
    if not args.in_process:
        print(f"MLflow store: {uri}", flush=True)
    started = time.perf_counter()
    try:
        # Seed-major order: if the run is stopped early every strategy has the same number of seeds done.
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            for label, strategy, options, warm_start in _runs(args):
                experiment = f"{label}-seed{seed}".replace(" ", "_")
                t0 = time.perf_counter()
                if args.in_process:
                    rewards, cache_hits, statuses, evaluator = _search_in_memory(args, strategy, seed, options,
                                                                                 learning_rates, warm_start)
                else:
                    search(task=args.task, strategy=strategy, budget=args.budget, space=args.space, seed=seed,
                           batch_size=args.batch_size, tracking_uri=uri, experiment=experiment,
                           learning_rates=learning_rates, epochs=args.epochs, funnel_top_k=0,
                           progress=False, strategy_options=options, warm_start=warm_start,
                           evaluator=args.evaluator)
                    rewards, cache_hits, statuses, evaluator = _rewards_from_mlflow(uri, experiment, args.budget)
                wall = time.perf_counter() - t0
                if str(seed) not in raw["references"]:
                    raw["references"][str(seed)] = reference_rewards(raw["settings"], args.references or "adam",
                                                                     seed, evaluator)
                raw["searches"].append({"label": label, "strategy": strategy, "options": options, "seed": seed,
                                        "warm_start": warm_start, "evaluator": evaluator,
                                        "rewards": rewards, "cache_hits": cache_hits, "statuses": statuses,
                                        "wall_s": wall})
                trained = sum(1 for s, c in zip(statuses, cache_hits) if not c and s not in ("failed_hurdle",))
                print(f"[{time.perf_counter() - started:7.0f}s] {label:14s} seed {seed}: best {max(rewards):.4f}, "
                      f"trained {trained}, cache hits {sum(cache_hits)}, hurdle fails "
                      f"{sum(1 for s, c in zip(statuses, cache_hits) if s == 'failed_hurdle' and not c)}, "
                      f"{wall:.0f} s", flush=True)
                if args.raw:
                    with open(args.raw, "w") as handle:
                        json.dump(raw, handle)
    finally:
        if args.keep_store:
            print(f"kept MLflow store: {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    raw["wall_s"] = time.perf_counter() - started
    if args.raw:
        with open(args.raw, "w") as handle:
            json.dump(raw, handle)
    return raw


# -- analysis -------------------------------------------------------------------------------


def _curves(raw):
    """label -> {seed: best-so-far array}; labels in first-seen order."""
    curves = {}
    for entry in raw["searches"]:
        curves.setdefault(entry["label"], {})[entry["seed"]] = np.maximum.accumulate(np.asarray(entry["rewards"]))
    return curves


def _checkpoints(budget):
    points = [p for p in (10, 25, 50, 100, 200, 500, 1000, 2000) if p < budget]
    return points + [budget]


def _first_reach(curve, target):
    """1-based number of evaluations after which ``curve`` first reaches ``target``; None when never."""
    hits = np.nonzero(curve >= target)[0]
    return int(hits[0]) + 1 if len(hits) else None


def _mean_se(values):
    values = np.asarray(values, dtype=float)
    se = values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else 0.0
    return f"{values.mean():.4f} ± {se:.4f}"


def bootstrap_interval(differences, resamples=10000, seed=0):
    """95% percentile bootstrap interval of the mean of paired differences (seeds resampled)."""
    differences = np.asarray(differences, dtype=float)
    draws = np.random.default_rng(seed).integers(0, len(differences), size=(resamples, len(differences)))
    return tuple(np.percentile(differences[draws].mean(axis=1), [2.5, 97.5]))


def learning_tables(raw, against=()):
    """Lines of (a2) mean sample reward and hurdle-failure fraction per budget quarter, and (a3) each strategy's
    best at the full budget paired by seed against random's, evolution's and those of the rows ``against``,
    with a bootstrap interval."""
    budget = raw["settings"]["budget"]
    bounds = [round(budget * q / 4) for q in range(5)]
    per_label = {}
    for entry in raw["searches"]:
        rewards = np.asarray(entry["rewards"], dtype=float)
        failed = np.array([status == "failed_hurdle" for status in entry["statuses"]], dtype=float)
        per_label.setdefault(entry["label"], {})[entry["seed"]] = (rewards, failed)
    lines = ["(a2) Mean sample reward and fraction of samples failing the hurdles, per quarter of the budget "
             "(mean ± standard error over seeds). A strategy that learns raises the first and lowers the second.", "",
             "| strategy | " + " | ".join(f"reward Q{q + 1}" for q in range(4)) + " | " +
             " | ".join(f"failing Q{q + 1}" for q in range(4)) + " |", "|---" * 9 + "|"]
    for label, seeds in per_label.items():
        cells = [_mean_se([r[bounds[q]:bounds[q + 1]].mean() for r, _ in seeds.values()]) for q in range(4)]
        cells += [_mean_se([f[bounds[q]:bounds[q + 1]].mean() for _, f in seeds.values()]) for q in range(4)]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", f"(a3) Best reward at {budget} evaluations, paired by seed: mean difference and its 95% bootstrap "
              "interval over seeds", "", "| strategy | against | seeds | mean difference | 95% interval |",
              "|---|---|---|---|---|"]
    for baseline in ("random", "evolution", *against):
        if baseline not in per_label:
            continue
        for label, seeds in per_label.items():
            common = sorted(set(seeds) & set(per_label[baseline]))
            if label == baseline or not common:
                continue
            differences = [seeds[s][0].max() - per_label[baseline][s][0].max() for s in common]
            low, high = bootstrap_interval(differences)
            lines.append(f"| {label} | {baseline} | {len(common)} | {np.mean(differences):+.4f} | "
                         f"{low:+.4f} .. {high:+.4f} |")
    return lines + [""]


def reference_lines(raw, curves):
    """Lines of (r): each search's best reward beside the references' of its seed, and on how many seeds each
    strategy reached the best of them."""
    references = {int(seed): rewards for seed, rewards in raw.get("references", {}).items()}
    if not references:
        return []
    rules = list(dict.fromkeys(label for rewards in references.values() for label in rewards))
    seeds = sorted(references)
    best = {seed: max(references[seed].values()) for seed in seeds}
    lines = ["(r) Best search-stage reward of each search beside the references, evaluated as that seed's candidates "
             "were (same task, grid, epochs, evaluator and seed); 'reached': the search's best >= the best "
             "reference's", "", "| | " + " | ".join(f"seed {seed}" for seed in seeds) + " | reached |",
             "|---" * (len(seeds) + 2) + "|"]
    lines += [f"| `{rule}` | " + " | ".join(f"{references[seed][rule]:.4f}" if rule in references[seed] else "-"
                                        for seed in seeds) + " | |" for rule in rules]
    lines.append("| best reference | " + " | ".join(f"{best[seed]:.4f} (`{max(references[seed], key=references[seed].get)}`)"
                                                    for seed in seeds) + " | |")
    verdicts = []
    for label, per_seed in curves.items():
        common = [seed for seed in seeds if seed in per_seed]
        reached = [seed for seed in common if per_seed[seed][-1] >= best[seed]]
        cells = [f"{per_seed[seed][-1]:.4f}" if seed in per_seed else "-" for seed in seeds]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {len(reached)} of {len(common)} |")
        verdicts.append(f"- {label} reached the best reference on {len(reached)} of {len(common)} seeds"
                        + (f" (seeds {', '.join(map(str, reached))})" if reached else ""))
    return lines + [""] + verdicts + [""]


def tables(raw, tolerance, against=()):
    settings = raw["settings"]
    budget = settings["budget"]
    curves = _curves(raw)
    lines = []
    lr_text = ", ".join(f"{lr:g}" for lr in settings["learning_rates"])
    lines.append(f"Task {settings['task']}, space {settings['space']}, budget {budget} evaluations per search, "
                 f"batch {settings['batch_size']}, epochs {settings['epochs'] or 'task default'}, "
                 f"learning-rate grid [{lr_text}], funnel off, hurdles: "
                 f"{settings.get('hurdle', 'not recorded')}.")
    seeds_of = {label: sorted(per_seed) for label, per_seed in curves.items()}
    lines.append("Seeds: " + "; ".join(f"{label}: {', '.join(map(str, s))}" for label, s in seeds_of.items()) + ".")
    lines.append("")

    # (a) best reward against evaluations
    points = _checkpoints(budget)
    lines.append("(a) Best reward reached after N evaluations (mean ± standard error over seeds)")
    lines.append("")
    header = "| strategy | " + " | ".join(f"N={p}" for p in points) + " |"
    lines += [header, "|" + "---|" * (len(points) + 1)]
    for label, per_seed in curves.items():
        cells = []
        for p in points:
            values = np.array([c[min(p, len(c)) - 1] for c in per_seed.values()])
            cells.append(_mean_se(values))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append("")
    lines += reference_lines(raw, curves)
    lines += learning_tables(raw, against)

    # (b) evaluations to match random's full-budget best
    if "random" not in curves:
        lines.append("(b) skipped: random search was not run.")
        return "\n".join(lines), curves
    random_best = {seed: float(c[-1]) for seed, c in curves["random"].items()}
    mean_random_best = float(np.mean(list(random_best.values())))
    lines.append(f"(b) Evaluations needed to first reach random search's full-budget best, with tolerance "
                 f"{tolerance:g} (reward >= target - {tolerance:g})")
    lines.append("")
    lines.append("Per-seed target: random's best with the same seed (the seed also fixes the data split and initial "
                 "weights), " + ", ".join(f"seed {s}: {b:.4f}" for s, b in sorted(random_best.items())) +
                 f". Common target: mean of random's per-seed bests, {mean_random_best:.4f}. "
                 "'-' = not reached within the budget; the mean is over the seeds that reached it.")
    lines.append("")
    lines.append("| strategy | per seed (own-seed target) | mean | reached | per seed (common target) | mean | reached |")
    lines.append("|---|---|---|---|---|---|---|")
    summary = {}
    for label, per_seed in curves.items():
        cells = []
        for targets in ({s: random_best.get(s) for s in per_seed}, {s: mean_random_best for s in per_seed}):
            needed = {s: (_first_reach(c, targets[s] - tolerance) if targets[s] is not None else None)
                      for s, c in sorted(per_seed.items())}
            reached = [n for n in needed.values() if n is not None]
            cells.append(", ".join(str(n) if n is not None else "-" for n in needed.values()))
            cells.append(f"{np.mean(reached):.1f}" if reached else "not reached")
            cells.append(f"{len(reached)}/{len(needed)}")
            summary.setdefault(label, []).append(needed)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append("")

    # Shared openings: evolution samples uniformly with the seed's RNG until its population is full, exactly as
    # random does, so with the same seed its first proposals are random's; a match found there is random's too.
    rewards = {(e["label"], e["seed"]): np.asarray(e["rewards"]) for e in raw["searches"]}
    openings = {}  # label -> {seed: length of the opening shared with random}, where it is real
    for label, per_seed in curves.items():
        if label == "random":
            continue
        shared, trained = {}, {}
        for seed in sorted(per_seed):
            if ("random", seed) in rewards:
                same = rewards[(label, seed)] == rewards[("random", seed)]
                shared[seed] = int(np.argmin(same)) if not same.all() else len(same)
                trained[seed] = int(np.count_nonzero(rewards[("random", seed)][:shared[seed]]))
        # Equal zeros (hurdle failures) prove nothing; identical non-zero accuracies in a row do.
        if any(n >= 2 for n in trained.values()):
            openings[label] = shared
            lines.append(f"Note: {label}'s first proposals have exactly the rewards of random's with the same seed "
                         f"(shared opening per seed, evaluations / trained rules among them: " +
                         ", ".join(f"seed {s}: {shared[s]} / {trained[s]}" for s in shared) +
                         "); a match inside that opening is random's, no merit of the strategy.")
            lines.append("")

    # the target
    half = budget // 2
    lines.append(f"Issue target (rl or evolution reaches random's full-budget best with at most half the budget, "
                 f"<= {half} evaluations), own-seed target, tolerance {tolerance:g}:")
    for label in curves:
        if label.split(" ")[0] not in ("rl", "evolution"):
            continue
        needed = summary[label][0]
        within = [s for s, n in needed.items() if n is not None and n <= half]
        inside = [s for s in within if needed[s] <= openings.get(label, {}).get(s, 0)]
        lines.append(f"- {label}: within {half} evaluations on {len(within)}/{len(needed)} seeds" +
                     (f" ({len(inside)} of them inside the opening shared with random, i.e. found by random's "
                      f"draws)" if inside else ""))
    return "\n".join(lines), curves


def plot(curves, raw, tolerance, path):
    """Two panels of the same curves: the whole reward range, and zoomed on the top where the strategies differ."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    settings = raw["settings"]
    budget = settings["budget"]
    figure, panels = plt.subplots(1, 2, figsize=(13, 5))
    x = np.arange(1, budget + 1)
    finals = [c[-1] for per_seed in curves.values() for c in per_seed.values()]
    target = float(np.mean([c[-1] for c in curves["random"].values()])) if "random" in curves else None
    for axes, zoom in zip(panels, (False, True)):
        for index, (label, per_seed) in enumerate(curves.items()):
            stacked = np.stack([c for _, c in sorted(per_seed.items())])
            mean, std = stacked.mean(axis=0), stacked.std(axis=0)
            axes.plot(x, mean, color=f"C{index}", linestyle=("-", "--", "-.", ":")[index % 4], drawstyle="steps-post",
                      label=f"{label} ({len(per_seed)} seeds)")
            axes.fill_between(x, np.clip(mean - std, 0, 1), np.clip(mean + std, 0, 1), color=f"C{index}", alpha=0.1,
                              step="post")
        if target is not None:
            axes.axhline(target - tolerance, color="grey", linestyle="--", linewidth=1,
                         label=f"mean of random's final bests - {tolerance:g}")
        axes.axvline(budget / 2, color="grey", linestyle=":", linewidth=1, label="half the budget")
        axes.set_xlim(1, budget)
        if zoom:
            low = min(finals + ([target - tolerance] if target is not None else []))
            axes.set_ylim(low - 0.03, min(1.0, max(finals) + 0.01))
            axes.set_title("zoomed on the top")
        else:
            axes.set_ylim(0.0, 1.0)
            axes.set_title("whole range (hurdle failures score 0)")
        axes.set_xlabel("evaluated rules (proposals, incl. cache hits and hurdle failures)")
        axes.set_ylabel("best reward so far")
        axes.grid(alpha=0.3)
    panels[1].legend(loc="lower right", fontsize=8)
    figure.suptitle(f"Search quality on {settings['task']} ({settings['space']} space, budget {budget}): "
                    f"mean ± std of the best-so-far over seeds")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _comparable(settings):
    """The settings that must agree for searches to pool: all but how many seeds a run had."""
    return {key: value for key, value in settings.items() if key != "seeds"}


def main(argv=None):
    args = parse_args(argv)
    machine = results_page.machine_line()  # the load average before the run
    with quiet_native_stderr():  # TensorFlow's C++ start-up lines would bury the output
        import keras  # noqa: F401
    if args.from_raw:
        raw = None
        for given in args.from_raw:
            path, _, note = given.partition("@")
            with open(path) as handle:
                part = json.load(handle)
            for entry in part["searches"]:
                entry["label"] += f" {note}" if note else ""
            if raw is None:
                raw = part
                continue
            if _comparable(part["settings"]) != _comparable(raw["settings"]):
                raise SystemExit(f"{path}: settings {part['settings']} differ from {raw['settings']}")
            raw["searches"] += part["searches"]
            for seed, rewards in part.get("references", {}).items():
                stored = raw.setdefault("references", {}).setdefault(seed, {})
                for label, reward in rewards.items():
                    if stored.setdefault(label, reward) != reward:
                        raise SystemExit(f"{path}: seed {seed}'s {label} scored {reward}, another file's {stored[label]}")
            raw["commands"] = raw.get("commands", []) + part.get("commands", [])
            raw["wall_s"] = raw.get("wall_s", 0.0) + part.get("wall_s", 0.0)
        if args.references:
            add_references(raw, args.references)
            if args.raw:
                with open(args.raw, "w") as handle:
                    json.dump(raw, handle)
    else:
        raw = run_searches(args)
    text, curves = tables(raw, args.tolerance, args.against)
    walls = {}
    for entry in raw["searches"]:
        walls.setdefault(entry["label"], []).append(entry["wall_s"])
    wall_line = ("Wall time per search (mean s): " + ", ".join(f"{k} {np.mean(v):.0f}" for k, v in walls.items()) +
                 (f"; whole benchmark {raw['wall_s'] / 60:.1f} min" if "wall_s" in raw else "") +
                 f" ({platform.machine()}, {os.cpu_count()} CPUs).")
    print()
    print(text)
    print()
    print(wall_line)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "search_quality.md"), "w") as handle:
        handle.write("# Search quality: rl, evolution, tpe, random\n\n")
        for command in raw.get("commands", []):
            handle.write(f"`{command.strip()}`\n\n")
        handle.write(text + "\n\n" + wall_line + "\n\n![best so far](search_quality.png)\n")
    plot(curves, raw, args.tolerance, os.path.join(args.out, "search_quality.png"))
    print(f"wrote {os.path.join(args.out, 'search_quality.md')} and search_quality.png")
    if args.doc:
        figure = os.path.relpath(os.path.join(args.out, "search_quality.png"), os.path.dirname(os.path.abspath(args.doc)))
        runs = [f"The searches ran as `{command.strip()}`." for command in raw.get("commands", [])]
        note = ("\n\n".join(runs) + "\n\nEvery figure is from the stored rewards (`--from-raw`); the machine line is "
                "where they were rendered, the wall times are the searches' own.") if args.from_raw else None
        command = results_page.command_line("benchmarks/search_quality.py", args.argv)
        block = results_page.results_block(command, machine, f"{text}\n\n{wall_line}\n\n![best so far]({figure})", note)
        results_page.write_block(args.doc, args.block or raw["settings"].get("task", "search-quality"), block,
                                 "benchmarks/search_quality.py", title="Search strategies compared")
        print(f"wrote the {args.block or raw['settings'].get('task')} block of {args.doc}")


if __name__ == "__main__":
    main()
