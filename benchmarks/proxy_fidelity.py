"""Does the cheap CIFAR-10 proxy rank rules as the paper's proxy does, and how much cheaper is it?

Evaluates the same rules on ``cifar10-convnet`` (the reference) and
``cifar10-small`` (the proxy), interleaved rule by rule so that load from
other jobs hits both, with the same learning-rate grid, no hurdles (the reward
comes from training alone) and early stopping on. The proxy trains the grid
fused, as a search does; the reference trains each learning rate on its own
(``fuse_grid=False``: the same reward, and a rate that diverges or stalls stops
at once instead of riding along for thousands of steps). Prints each task's CPU and
wall seconds per rule, the cost ratio, the Spearman rank correlation of the
two tasks' rewards, and the rewards of the usual optimizers on each.

The rules: the named optimizers of ``keras_nos.named_rules`` (Adam, RMSProp, SGD,
momentum, sign methods, PowerSign, AddSign and sign-decay variants), the
paper's Table 3 rules, and random rules from the paper's space that pass the
evaluator's hurdles (rules that fail them score 0 on both tasks and would only
inflate the correlation).

A full-size reference (45,000 images, 5 epochs) costs about half an hour a rule
on 2 CPU cores; ``--reference-train-limit`` and ``--reference-epochs`` shrink
it, and the table then says so. Results go to a JSON file named after the
reference as they come, and the table is rewritten after every rule, so a
killed run continues where it stopped and a run spread over days shows where
it stands. ``--shard K/N`` splits the rules over N processes (cores, or
machines sharing the folder) that write to the same file. ``--repeat-seed S``
trains the reference again with another seed at each scored rule's best learning
rate: the reference's agreement with itself, the most any proxy can reach.
``--proxy`` takes any registered task, or one of the ``CANDIDATES`` below
(cifar10-pooled with a longer horizon: smaller batches, or a learning-rate
screen that trains only the best rates in full). Every run ends by writing an
overview of all the tasks stored beside the reference (each proxy's cost ratio
and Spearman, every rule's rewards) to the
JSON's ``_overview.md``, and with ``--doc`` into ``docs/results/cifar-proxies.md``.

    python benchmarks/proxy_fidelity.py --data ../shared/data/cifar10-jpeg.tar.gz
    python benchmarks/proxy_fidelity.py --reference-train-limit 10000 --reference-epochs 1 --random-rules 5   # the reduced run in docs/results/cifar-proxies.md
    python benchmarks/proxy_fidelity.py --shard 0/2 & python benchmarks/proxy_fidelity.py --shard 1/2   # two cores
    python benchmarks/proxy_fidelity.py --proxy cifar10-pooled-halving4   # a candidate against the stored reference
    python benchmarks/proxy_fidelity.py --repeat-seed 1   # the reference's own seed noise
    python benchmarks/proxy_fidelity.py --limit 0 --doc   # every task's column, into docs/results/cifar-proxies.md
"""

import argparse
import dataclasses
import fcntl
import functools
import json
import math
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from keras_nos.native_log import quiet_native_stderr  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # results_page, beside this file
from results_page import write_block  # noqa: E402

DEFAULT_DATA = HERE.parents[1] / "shared" / "data" / "cifar10-jpeg.tar.gz"
RESULTS_DOC = HERE.parent / "docs" / "results" / "cifar-proxies.md"  # the page whose overview block --doc rewrites
NAMED = ("sgd", "momentum", "adam", "rmsprop", "signsgd", "signum", "powersign", "addsign", "powersign-ld",
         "addsign-ld")
SHOWN = ("adam", "rmsprop", "sgd", "momentum", "powersign", "addsign")
SHIFTED_RATES = tuple(10 ** (k + 0.5) for k in range(-4, 1))  # 3.16e-4 ... 3.16: the search grid times 10^0.5
# Proxy candidates measured against the reference besides the library's tasks, registered here so that
# ``--proxy NAME`` reproduces each column of the overview: name -> (what it trains, changes to cifar10-pooled,
# Evaluator options). Each buys cifar10-pooled a longer horizon at about the same cost.
CANDIDATES = {
    "cifar10-pooled-halving4": (
        "cifar10-pooled, every rate for 1 epoch, then the best 2 for 4 epochs (1,920 steps)", dict(epochs=4),
        dict(lr_search="halving", halving_keep=2)),
    "cifar10-pooled-b25-v5k": ("cifar10-pooled at batch 25 (3,600 steps), the reference's 5,000 validation images",
                               dict(batch_size=25, validation_size=5000), {}),
    "cifar10-pooled-b50-halving3-v5k": (
        "cifar10-pooled at batch 50, every rate for 1 epoch, then the best 2 for 3 epochs (2,700 steps), the "
        "reference's 5,000 validation images", dict(batch_size=50, epochs=3, validation_size=5000),
        dict(lr_search="halving", halving_keep=2)),
    "cifar10-pooled-b50-lr3x": (
        "cifar10-pooled at batch 50, learning rates 10^0.5 times the reference's (its best rate is 1 to 10 "
        "times the reference's, about evenly split: the shifted grid meets each rule where the reference's does)",
        dict(batch_size=50), dict(learning_rates=SHIFTED_RATES)),
    "cifar10-pooled-b50-lr3x-seeds3": (
        "cifar10-pooled-b50-lr3x, its best rate trained again with two more seeds: the reward is the three seeds' "
        "mean", dict(batch_size=50), dict(learning_rates=SHIFTED_RATES, reward_seeds=3)),
}


def _pooled_cifar10(data_path, seed, validation_size):
    from keras_nos.tasks.datasets import load_cifar10, scaled_images

    return scaled_images(load_cifar10(data_path, seed=seed, validation_size=validation_size, pool=2))


def register_candidates():
    """Put the ``CANDIDATES`` into the task registry, next to the library's tasks."""
    from keras_nos.tasks import get_task, register_task

    pooled = get_task("cifar10-pooled")
    for name, (description, changes, _) in CANDIDATES.items():
        changes = dict(changes)
        load_data = functools.partial(_pooled_cifar10, validation_size=changes.pop("validation_size", 2000))
        register_task(dataclasses.replace(pooled, name=name, load_data=load_data, description=description, **changes),
                      overwrite=True)


def proxy_learning_rates(proxy_name):
    """The learning rates ``proxy_name`` is scored with: its candidate's own, or the search grid."""
    from keras_nos.tasks.lr_search import DEFAULT_LEARNING_RATES

    return CANDIDATES.get(proxy_name, (None, None, {}))[2].get("learning_rates", DEFAULT_LEARNING_RATES)


def _rates(learning_rates):
    return ", ".join(f"{lr:.3g}" for lr in learning_rates)


def choose_rules(random_count, seed):
    """(name, rule text) pairs: named optimizers, Table 3, and random rules that pass the hurdles."""
    import numpy as np

    from keras_nos import named_rules
    from keras_nos.tasks.lr_search import DEFAULT_LEARNING_RATES
    from keras_nos.search.space import SearchSpace
    from keras_nos.tasks.hurdles import check_hurdles

    chosen = [(name, named_rules.RULES[name]) for name in NAMED]
    chosen += [(name, named_rules.RULES[name]) for name in named_rules.names() if name.startswith("nos-")]
    space, rng, seen = SearchSpace.preset("paper"), np.random.default_rng(seed), {text for _, text in chosen}
    while sum(name.startswith("random") for name, _ in chosen) < random_count:
        rule = space.to_rule(space.sample(rng))
        if str(rule) not in seen and check_hurdles(rule, DEFAULT_LEARNING_RATES) is None:
            seen.add(str(rule))
            chosen.append((f"random-{len(chosen)}", str(rule)))
    return chosen


def shard(text):
    """``K/N``: this process scores rules K, K+N, K+2N, ... of the list."""
    try:
        k, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard wants K/N with whole numbers, got {text!r}") from None
    if not 0 <= k < n:
        raise argparse.ArgumentTypeError(f"--shard K/N needs 0 <= K < N, got {text!r}")
    return k, n


def seed_count(text):
    """``--extra-seeds K``: at least 2 (the stored run is the first seed)."""
    if not text.isdigit() or int(text) < 2:
        raise argparse.ArgumentTypeError(f"--extra-seeds wants a whole number of seeds >= 2, got {text!r}")
    return int(text)


def load_rows(path):
    """Every rule's scores so far: ``{name: {"rule": text, TASK: score, ...}}``, one score per task.

    Scores are kept per task, so a new proxy is scored against the reference's stored
    rewards without training the reference again. Reads the earlier layout too
    (``{"tasks": [reference, proxy], "results": {name: {"rule", "reference", "proxy"}}}``).
    """
    saved = json.loads(Path(path).read_text()) if Path(path).exists() else {}
    if "tasks" in saved:
        reference, proxy = saved["tasks"]
        return {name: {"rule": row["rule"], reference: row["reference"], proxy: row["proxy"]}
                for name, row in saved.get("results", {}).items()}
    return saved.get("results", {})


def save_scores(path, name, row):
    """Add one rule's new scores to the results file; shards of one run share the file, so read, add and
    replace it under a lock. Returns every row in the file."""
    with open(f"{path}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        rows = load_rows(path)
        if rows.get(name, {}).get("rule") != row["rule"]:
            rows[name] = {}  # the rule behind this name changed: its old scores are for another rule
        rows.setdefault(name, {}).update(row)
        partial = Path(f"{path}.partial")
        partial.write_text(json.dumps({"results": rows}, indent=1))
        os.replace(partial, path)  # readers never see half a file
    return rows


def scored(rows, rules, tasks):
    """The rules of this run that every one of ``tasks`` has scored, in the run's order: {name: row}."""
    return {name: rows[name] for name, text in rules
            if name in rows and rows[name].get("rule") == text and all(task in rows[name] for task in tasks)}


def spearman(a, b):
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def spearman_interval(a, b, seed=0):
    """A 95% bootstrap interval of the Spearman correlation (rules resampled with replacement) and the
    correlation's p-value: over a few dozen rules, how far the measured value can be from the truth."""
    from scipy.stats import bootstrap, spearmanr

    interval = bootstrap((a, b), spearman, paired=True, vectorized=False, n_resamples=2000, method="percentile",
                         random_state=seed).confidence_interval
    return float(interval.low), float(interval.high), float(spearmanr(a, b).pvalue)


def kendall(a, b):
    from scipy.stats import kendalltau

    return float(kendalltau(a, b).statistic)


def plot(names, rows, reference, proxy, path):
    """The two tasks' rewards, one labelled point per rule, beside their ranks (what the Spearman correlation
    summarises; the rewards of the good rules crowd into one corner)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.stats import rankdata

    x = [row[reference]["reward"] for row in rows]
    y = [row[proxy]["reward"] for row in rows]
    colors = ["C2" if name in NAMED else "C0" if name.startswith("nos-") else "C1" for name in names]
    figure, panels = plt.subplots(1, 2, figsize=(13, 6))
    ranks = (len(x) + 1 - rankdata(x), len(y) + 1 - rankdata(y))  # 1 = the best reward
    for axes, (xs, ys), what in ((panels[0], (x, y), "reward (best validation accuracy over learning rates)"),
                                 (panels[1], ranks, "rank (1 = best reward)")):
        axes.scatter(xs, ys, c=colors, s=18)
        for name, xi, yi in zip(names, xs, ys):
            axes.annotate(name, (xi, yi), fontsize=6, xytext=(3, 2), textcoords="offset points")
        axes.set_xlabel(f"{reference} {what}")
        axes.set_ylabel(f"{proxy} {what.split(' (')[0]}")
    for color, label in (("C2", "named optimizer"), ("C0", "paper's Table 3"), ("C1", "random rule")):
        panels[0].scatter([], [], c=color, s=18, label=label)
    panels[0].legend(loc="lower right", fontsize=8)
    figure.suptitle(f"{len(rows)} rules: Spearman {spearman(x, y):.3f}, Kendall {kendall(x, y):.3f}")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def report(rules, done, reference, proxy, full_reference_steps=None):
    """The markdown table of the rules scored so far: costs, cost ratio, rank correlation, the usual optimizers."""
    from keras_nos.tasks.lr_search import DEFAULT_LEARNING_RATES

    rates = _rates(DEFAULT_LEARNING_RATES)
    if proxy_learning_rates(proxy.name) != DEFAULT_LEARNING_RATES:
        rates += f" (the proxy: {_rates(proxy_learning_rates(proxy.name))})"
    names = list(done)
    rows = list(done.values())
    cost = {which: {unit: sum(r[task.name][unit] for r in rows) / len(rows) for unit in ("cpu", "wall")}
            for which, task in (("reference", reference), ("proxy", proxy))}
    x, y = [r[reference.name]["reward"] for r in rows], [r[proxy.name]["reward"] for r in rows]
    rho, tau = spearman(x, y), kendall(x, y)
    random_count = sum(name.startswith("random") for name in names)
    lines = [
        f"{len(rows)} of {len(rules)} rules scored ({len(names) - random_count} named optimizers and rules of the "
        f"paper's Table 3, {random_count} random rules that pass the hurdles); learning rates "
        f"{rates}; early stopping on, hurdles off.",
        "",
        "| task | what it trains | CPU s/rule | wall s/rule |",
        "|---|---|---|---|",
        f"| {reference.name} | {reference.description} | {cost['reference']['cpu']:.1f} | {cost['reference']['wall']:.1f} |",
        f"| {proxy.name} | {proxy.description} | {cost['proxy']['cpu']:.1f} | {cost['proxy']['wall']:.1f} |",
        "",
        f"Cost ratio reference/proxy: CPU {cost['reference']['cpu'] / cost['proxy']['cpu']:.1f}x, "
        f"wall {cost['reference']['wall'] / cost['proxy']['wall']:.1f}x. "
        f"Spearman rank correlation of the rewards: **{rho:.3f}** (Kendall's tau {tau:.3f}).",
    ]
    if len(rows) >= 5:
        low, high, p_value = spearman_interval(x, y)
        lines[-1] += f" 95% bootstrap interval of the Spearman correlation {low:.2f} .. {high:.2f}; p-value {p_value:.3g}."
    if full_reference_steps:
        reduced_steps = sum(r[reference.name]["steps"] for r in rows) / len(rows)
        lines.append(f"The reference here is reduced ({reference.description}): it trained {reduced_steps:.0f} steps a "
                     f"rule on average, where the full one trains up to {full_reference_steps}, so the "
                     f"full reference costs more than this and the proxy's saving is larger than the ratio above.")
    lines += self_agreement(done, reference, proxy)
    lines += ["", f"| optimizer | rule | {reference.name} reward | {proxy.name} reward |", "|---|---|---|---|"]
    lines += [f"| {name} | `{done[name]['rule']}` | {done[name][reference.name]['reward']:.4f} | "
              f"{done[name][proxy.name]['reward']:.4f} |" for name in SHOWN if name in done]
    lines += ["", "Every rule scored, reward (best learning rate or status) and CPU seconds on each task:", "",
              f"| rule | text | {reference.name} | {proxy.name} | {reference.name} CPU s | {proxy.name} CPU s |",
              "|---|---|---:|---:|---:|---:|"]
    lines += [f"| {name} | `{row['rule']}` | {_outcome(row[reference.name])} | {_outcome(row[proxy.name])} | "
              f"{row[reference.name]['cpu']:.0f} | {row[proxy.name]['cpu']:.0f} |" for name, row in done.items()]
    return "\n".join(lines)


def _outcome(score):
    """``0.6452 (0.01)``: the reward and the learning rate that won it, or the status when none trained."""
    if score["best_lr"] is None:
        return f"{score['reward']:.4f} ({score['status']})"
    return f"{score['reward']:.4f} ({score['best_lr']:.3g})"


def task_columns(rows, reference):
    """The tasks stored beside ``reference``: the reference, its repeats with other seeds, then each proxy in the
    order it was first scored."""
    seen = dict.fromkeys(task for row in rows.values() for task in row if task != "rule")
    repeats = sorted(task for task in seen if task.startswith(f"{reference}@seed"))
    return [reference, *repeats, *(task for task in seen if task != reference and task not in repeats)]


def overview(rules, rows, reference):
    """Every task stored in one place: a line per proxy and per repeat of the reference (rules scored with the
    reference, CPU s a rule, cost ratio, Spearman with its interval), then each rule's reward on every task.

    Where the reference was repeated with other seeds on every rule, a last column gives each proxy's Spearman
    against the reference's mean over its seeds: the reference's ranking with less of its own noise."""
    rows = scored(rows, rules, [reference])
    tasks = task_columns(rows, reference)
    repeats = [task for task in tasks if task.startswith(f"{reference}@seed")]
    averaged = bool(repeats) and all(task in row for row in rows.values() for task in repeats)
    seeds = [reference, *repeats] if averaged else []
    mean = {name: sum(row[task]["reward"] for task in seeds) / len(seeds) for name, row in rows.items()} if seeds else {}
    extra = (" | Spearman vs the mean of the reference's seeds (interval)", "---|") if averaged else ("", "")
    lines = [f"Against `{reference}` ({len(rows)} of {len(rules)} rules scored):", "",
             f"| task | rules | CPU s/rule | reference/task CPU | Spearman | 95% bootstrap interval{extra[0]} |",
             f"|---|---:|---:|---:|---:|---|{extra[1]}"]
    for task in tasks:
        both = {name: row for name, row in rows.items() if task in row}
        cpu = sum(row[task]["cpu"] for row in both.values()) / len(both)
        if task == reference:
            lines.append(f"| {task} (reference) | {len(both)} | {cpu:.1f} | 1.0x | | |{' |' if averaged else ''}")
            continue
        x, y = [row[reference]["reward"] for row in both.values()], [row[task]["reward"] for row in both.values()]
        ratio = sum(row[reference]["cpu"] for row in both.values()) / len(both) / cpu
        rho = f"**{spearman(x, y):.3f}**" if len(both) > 1 else "-"
        interval = "{:.2f} .. {:.2f}".format(*spearman_interval(x, y)) if len(both) >= 5 else "-"
        repeat = "@seed" in task  # one learning rate a rule, so its cost is not comparable
        against_mean = ""
        if averaged:
            against_mean = " - |"
            if not repeat and len(both) >= 5:
                m = [mean[name] for name in both]
                against_mean = " {:.3f} ({:.2f} .. {:.2f}) |".format(spearman(m, y), *spearman_interval(m, y)[:2])
        lines.append(f"| {task}{' (one rate)' if repeat else ''} | {len(both)} | {cpu:.1f} | "
                     f"{'-' if repeat else f'{ratio:.1f}x'} | {rho} | {interval} |{against_mean}")
    lines += ["", "| rule | text | " + " | ".join(tasks) + " |", "|---|---|" + "---:|" * len(tasks)]
    lines += [f"| {name} | `{row['rule']}` | " + " | ".join(_outcome(row[task]) if task in row else "-"
                                                          for task in tasks) + " |" for name, row in rows.items()]
    return "\n".join(lines)


def splice_overview(path, reference, text):
    """Put ``text`` into the overview block for ``reference`` of the markdown file ``path`` (the results page,
    ``RESULTS_DOC``): its figures are the results file's."""
    write_block(path, f"{reference} overview", text, "benchmarks/proxy_fidelity.py")


def write_outputs(markdown, rules, done, reference, proxy, full_reference_steps):
    """The table (markdown) and the scatter plot beside it (same name, .png) of the rules both tasks scored
    (``done``, in the run's order); returns the table."""
    text = report(rules, done, reference, proxy, full_reference_steps)
    Path(markdown).write_text(text + "\n")
    plot(list(done), list(done.values()), reference.name, proxy.name, str(Path(markdown).with_suffix(".png")))
    return text


def timed_score(evaluator, text):
    """What is stored of one evaluation: reward, status, steps, best rate, each rate's status, the best rate's
    reward with each seed (``reward_seeds``), CPU and wall s."""
    c0, w0 = time.process_time(), time.perf_counter()
    result = evaluator.evaluate(text)
    return {"reward": result.reward, "status": result.status, "steps": result.steps_trained,
            "best_lr": result.best_learning_rate, "lr_status": result.lr_status,
            **({"seed_rewards": result.seed_rewards} if result.seed_rewards else {}),
            "cpu": time.process_time() - c0, "wall": time.perf_counter() - w0}


def repeat_key(reference_name, seed):
    return f"{reference_name}@seed{seed}"


def repeat_reference(args, rules, reference):
    """Train the reference again with seed ``args.repeat_seed`` (its own data split, start and batch order) at
    each scored rule's best learning rate, one rate a rule, and store it beside the first score."""
    from keras_nos.tasks import Evaluator

    key = repeat_key(reference.name, args.repeat_seed)

    @functools.cache
    def evaluator(learning_rate):
        return Evaluator(reference, learning_rates=(learning_rate,), seed=args.repeat_seed, data_path=args.data,
                         hurdles=(), fuse_grid=False)

    k, n = args.shard
    for i, (name, text) in enumerate(rules[:args.limit], 1):
        row = load_rows(args.json).get(name, {})
        first = row.get(reference.name) if row.get("rule") == text else None
        if (i - 1) % n != k or first is None or first["best_lr"] is None or key in row:
            continue
        score = timed_score(evaluator(first["best_lr"]), text)
        save_scores(args.json, name, {"rule": text, key: score})
        print(f"  {i}/{len(rules)} {name:12s} reference seed {args.seed} {first['reward']:.4f}, seed "
              f"{args.repeat_seed} {score['reward']:.4f} at lr {first['best_lr']:g} ({score['wall']:.0f} s)",
              file=sys.stderr, flush=True)


def extra_seeds(args, rules, proxy_name):
    """Train each rule's stored best rate of ``proxy_name`` again with ``args.extra_seeds - 1`` more seeds and
    store the column ``PROXY+seedsK``: the reward ``Evaluator(reward_seeds=K)`` gives (the stored grid run is
    its first seed, and deterministic, so only the extra trainings run), at the stored run's cost plus theirs."""
    from keras_nos.tasks import Evaluator

    key = f"{proxy_name}+seeds{args.extra_seeds}"
    options = {option: value for option, value in CANDIDATES.get(proxy_name, (None, None, {}))[2].items()
               if option not in ("learning_rates", "reward_seeds")}
    evaluator = functools.cache(lambda: Evaluator(proxy_name, seed=args.seed, data_path=args.data, hurdles=(),
                                                  **options))
    k, n = args.shard
    for i, (name, text) in enumerate(rules[:args.limit], 1):
        row = load_rows(args.json).get(name, {})
        first = row.get(proxy_name) if row.get("rule") == text else None
        if (i - 1) % n != k or first is None or key in row:
            continue
        score = dict(first)
        if first["best_lr"] is not None:  # nothing trained to the end: no rate to train again, the reward stays
            finals = [first["reward"]]
            for seed in range(args.seed + 1, args.seed + args.extra_seeds):
                c0, w0 = time.process_time(), time.perf_counter()
                final, steps = evaluator().train_with_seed(text, first["best_lr"], seed)
                finals.append(final)
                score.update(steps=score["steps"] + steps, cpu=score["cpu"] + time.process_time() - c0,
                             wall=score["wall"] + time.perf_counter() - w0)
            score.update(reward=sum(finals) / len(finals), seed_rewards=finals)
        save_scores(args.json, name, {"rule": text, key: score})
        print(f"  {i}/{len(rules)} {name:12s} {proxy_name} {first['reward']:.4f}, mean of {args.extra_seeds} seeds "
              f"{score['reward']:.4f}", file=sys.stderr, flush=True)


def self_agreement(done, reference, proxy):
    """Lines comparing each stored repeat of the reference with its first scores, beside the proxy's agreement
    over the same rules: the reference's own noise is the ceiling of any proxy's correlation."""
    lines = []
    repeats = sorted({key for row in done.values() for key in row if key.startswith(f"{reference.name}@seed")})
    for key in repeats:
        rows = [row for row in done.values() if key in row]
        if len(rows) < 5:
            continue
        first = [row[reference.name]["reward"] for row in rows]
        again, cheap = [row[key]["reward"] for row in rows], [row[proxy.name]["reward"] for row in rows]
        low, high, _ = spearman_interval(first, again)
        lines += ["", f"**The reference against itself** ({key}: trained again with seed {key.split('@seed')[1]}, "
                      f"its own data split, start and batch order, at each rule's best learning rate; "
                      f"{len(rows)} rules): Spearman **{spearman(first, again):.3f}** (95% bootstrap interval "
                      f"{low:.2f} .. {high:.2f}); the proxy over the same rules: {spearman(first, cheap):.3f}. "
                      f"No proxy can be expected to rank these rules more like the reference than the reference "
                      f"does itself. Mean CPU s a rule of the repeat (one learning rate): "
                      f"{sum(row[key]['cpu'] for row in rows) / len(rows):.0f}."]
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="any CIFAR-10 source the loaders accept")
    parser.add_argument("--reference", default="cifar10-convnet")
    parser.add_argument("--proxy", default="cifar10-small")
    parser.add_argument("--reference-train-limit", type=int, default=None, help="shrink the reference's training set")
    parser.add_argument("--reference-epochs", type=int, default=None, help="shrink the reference's epochs")
    parser.add_argument("--random-rules", type=int, default=7)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=None,
                        help="score only the first N rules this time (a run spread over sessions, a quick look; "
                             "0 rewrites the table and plot from the results file)")
    parser.add_argument("--shard", type=shard, default=(0, 1), metavar="K/N",
                        help="score rules K, K+N, ... (run N processes, K = 0 .. N-1, to use N cores or machines "
                             "that share the results file)")
    parser.add_argument("--repeat-seed", type=int, default=None, metavar="S",
                        help="instead of the proxy, train the reference again with seed S at each scored rule's "
                             "best learning rate: how well the reference agrees with itself bounds what any proxy "
                             "can reach")
    parser.add_argument("--extra-seeds", type=seed_count, default=None, metavar="K",
                        help="instead of scoring the proxy, train its stored best rate of each rule with seeds "
                             "1 .. K-1 and store the column PROXY+seedsK: the reward of Evaluator(reward_seeds=K)")
    parser.add_argument("--json", help="results so far, read to resume and written after every rule "
                                       "(default: results/proxy_fidelity_REFERENCE.json)")
    parser.add_argument("--markdown", help="the table (default: results/proxy_fidelity_REFERENCE.md)")
    parser.add_argument("--doc", "--readme", dest="doc", metavar="PATH", nargs="?", const=RESULTS_DOC,
                        help="also rewrite the overview of every task scored against the reference (the JSON's "
                             "_overview.md) between PATH's <!-- REFERENCE overview: begin ... --> and "
                             f"<!-- REFERENCE overview: end --> lines (PATH: {RESULTS_DOC} when omitted)")
    args = parser.parse_args(argv)
    with quiet_native_stderr():  # TensorFlow's C++ start-up lines would bury the output
        import keras  # noqa: F401
    if not Path(args.data).exists():
        parser.exit(2, f"proxy_fidelity: error: no CIFAR-10 data at {args.data}; pass --data PATH\n")

    from keras_nos.tasks.lr_search import DEFAULT_LEARNING_RATES
    from keras_nos.tasks import Evaluator, get_task, register_task
    from keras_nos.tasks.datasets import load_cifar10, scaled_images

    reference = get_task(args.reference)
    full_reference_steps = None
    if args.reference_train_limit or args.reference_epochs:
        limit = args.reference_train_limit
        reduced = dataclasses.replace(
            reference, name=f"{reference.name}-reduced", epochs=args.reference_epochs or reference.epochs,
            load_data=lambda path, seed: scaled_images(load_cifar10(path, seed=seed, train_limit=limit)),
            description=f"{reference.name} on {limit or 'all'} training images for "
                        f"{args.reference_epochs or reference.epochs} epochs")
        register_task(reduced, overwrite=True)
        full_reference_steps = reference.epochs * math.ceil(45000 / reference.batch_size)
        reference = reduced
    register_candidates()
    options = CANDIDATES.get(args.proxy, (None, None, {}))[2]
    settings = {"reference": dict(task=reference, fuse_grid=False), "proxy": dict(task=args.proxy, **options)}

    @functools.cache
    def evaluator(which):
        """Built when first needed: scoring a new proxy against stored reference rewards never loads the
        reference's data."""
        return Evaluator(**{"learning_rates": DEFAULT_LEARNING_RATES, "seed": args.seed, "data_path": args.data,
                            "hurdles": (), **settings[which]})

    proxy = get_task(args.proxy)
    args.json = args.json or str(HERE / "results" / f"proxy_fidelity_{reference.name}.json")
    args.markdown = args.markdown or str(HERE / "results" / f"proxy_fidelity_{reference.name}_vs_{proxy.name}.md")
    rules = choose_rules(args.random_rules, args.seed)
    tasks = {"reference": reference.name, "proxy": proxy.name}
    done = scored(load_rows(args.json), rules, tasks.values())
    print(f"{len(rules)} rules; reference {reference.name} ({reference.description}); proxy {proxy.name} "
          f"({proxy.description}); proxy learning rates {_rates(proxy_learning_rates(proxy.name))}; "
          f"{len(done)} rules already done in {args.json}", flush=True)
    k, n = args.shard
    if args.repeat_seed is not None:
        repeat_reference(args, rules, reference)
    elif args.extra_seeds is not None:
        extra_seeds(args, rules, proxy.name)
    scoring = args.repeat_seed is None and args.extra_seeds is None
    for i, (name, text) in enumerate(rules[:args.limit] if scoring else [], 1):
        if (i - 1) % n != k:
            continue
        stored = load_rows(args.json).get(name, {})  # another shard may have scored rules meanwhile
        stored = stored if stored.get("rule") == text else {}
        missing = [which for which, task in tasks.items() if task not in stored]
        if not missing:
            continue
        row = {"rule": text}
        for which in missing:  # both, interleaved rule by rule, unless one task scored this rule before
            row[tasks[which]] = timed_score(evaluator(which), text)
        both = {**stored, **row}
        done = scored(save_scores(args.json, name, row), rules, tasks.values())
        if len(done) > 1:  # a run spread over days shows where it stands
            write_outputs(args.markdown, rules, done, reference, proxy, full_reference_steps)
        print(f"  {i}/{len(rules)} {name:12s} reference {both[reference.name]['reward']:.4f} "
              f"({both[reference.name]['wall']:.0f} s)  proxy {both[proxy.name]['reward']:.4f} "
              f"({both[proxy.name]['wall']:.0f} s)  {text}", file=sys.stderr, flush=True)

    all_rows = load_rows(args.json)
    if scored(all_rows, rules, [reference.name]):
        text = overview(rules, all_rows, reference.name)
        Path(args.json).with_name(f"{Path(args.json).stem}_overview.md").write_text(text + "\n")
        if args.doc:
            splice_overview(args.doc, reference.name, text)
    done = scored(all_rows, rules, tasks.values())
    if len(done) < 2:
        print(f"{len(done)} rule(s) scored so far: too few for a rank correlation")
        return 0
    text = write_outputs(args.markdown, rules, done, reference, proxy, full_reference_steps)
    print("\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
