"""The ``keras-nos`` command: search, leaderboard, evaluate, export, compare.

A user error (bad rule text, unknown task, strategy or space, unknown run id,
unreachable store, missing data) prints one line on stderr and exits with
status 2. Only the message's first line is printed, so each error puts the bad
value and what would work there, and any detail on the lines after.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn, Optional

from keras_nos.errors import KerasNosError
from keras_nos.native_log import quiet_native_stderr


TASK_HELP = "a registered task name, or package.module:attr naming a keras_nos.tasks.Task or a function returning one"


class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise KerasNosError(message)


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_float(text):
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _non_negative_int(text):
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {value}")
    return value


def _learning_rates(text):
    return tuple(float(x) for x in text.split(","))


def _strategy_option(text):
    """``KEY=VALUE`` -> (key, value), the value read as JSON where it parses (0.002, true, [1, 2]), else text."""
    key, equals, value = text.partition("=")
    if not (key and equals):
        raise argparse.ArgumentTypeError(f"must be KEY=VALUE, e.g. learning_rate=0.002; got {text!r}")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def build_parser() -> argparse.ArgumentParser:
    parser = _ArgumentParser(prog="keras-nos", description="Neural Optimizer Search for Keras 3.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_ArgumentParser)
    for add_command in (_add_search_command, _add_leaderboard_command, _add_export_command, _add_evaluate_command,
                        _add_compare_command):
        add_command(commands)
    return parser


def _add_search_command(commands):
    """The flags of ``keras-nos search``: a setting left out is absent, for a resume to fill in."""
    s = commands.add_parser(
        "search", help="search for update rules; every candidate is an MLflow run",
        description="With --resume RUN_ID every setting comes from that search's parent run: a flag given with it "
                    "must agree with the stored value, except a larger --budget and --workers, --ray-address, --data.")
    # No defaults here: a flag left out is absent, so a resumed search takes it from its parent run, and a new
    # one from search()'s defaults (the values in brackets).
    setting = functools.partial(s.add_argument, default=argparse.SUPPRESS)
    setting("--task", help=f"{TASK_HELP} [digits-autoencoder]")
    setting("--strategy", help="rl, random, evolution or tpe [rl]")
    setting("--budget", type=int, help="number of sampled rules [2000]")
    setting("--workers", type=_positive_int, help="[1]")
    setting("--space", help="paper, paper-decay or small [paper]")
    setting("--groups", dest="num_groups", type=int, metavar="N",
            help="groups of five tokens (1 to 4) [the space's]")
    setting("--batch-size", type=_positive_int, help="rules proposed per batch, trained together by the batched evaluator [25]")
    setting("--max-consecutive-errors", type=_non_negative_int,
            help="stop when this many candidates in a row end in error; 0 never stops [10]")
    setting("--strategy-option", dest="strategy_options", type=_strategy_option, action="append",
            metavar="KEY=VALUE", help="an option of the strategy, e.g. learning_rate=0.002 (repeatable; README)")
    setting("--warm-start", metavar="named|RULE,RULE,...",
            help="evaluate these rules first and let the strategy start from them: named (the named optimizers "
                 "the space can express, adam among them) or rule texts and names [none]")
    setting("--seed", type=int, help="[0]")
    setting("--epochs", type=_positive_int, help="override the task's epochs")
    setting("--lr", dest="learning_rates", type=_learning_rates, metavar="LR,LR,...",
            help="comma-separated learning-rate grid [1e-4 .. 1, 5 rates]")
    setting("--data", dest="data_path", metavar="PATH", help="path of the task's data set (CIFAR-10 tasks)")
    setting("--no-hurdles", dest="hurdles", action="store_const", const=(),
            help="train every candidate, without the cheap NumPy hurdles first")
    setting("--reward-seeds", type=_positive_int, metavar="N",
            help="train each candidate's best rate with N seeds; the reward is their mean (less noise) [1]")
    setting("--reward", choices=("final", "speedup"),
            help="final: the best rate's final validation score; speedup: the steps tuned Adam takes to reach it "
                 "over the rule's own, read at the epoch ends [final]")
    setting("--evaluator", choices=("auto", "batched", "keras"),
            help="batched: a batch's rules trained side by side in one compiled JAX program; keras: rule after "
                 "rule; auto: batched for a network task on arrays from a budget of 50 [auto]")
    setting("--funnel-top-k", type=int, help="[5]")
    setting("--funnel-seeds", type=_positive_int, help="[5]")
    setting("--funnel-suite", metavar="TASKS",
            help="run the winner against Adam on these keras-nos compare tasks, all, or none "
                 "[convnet-shapes,friedman-regression,rosenbrock]")
    s.add_argument("--resume", default=None, metavar="RUN_ID",
                   help="continue the search of this parent run, with its settings")
    s.add_argument("--tracking-uri", default=None, help="MLflow store (default: MLFLOW_TRACKING_URI or ./mlruns)")
    s.add_argument("--store-patience", type=_positive_float, default=600.0, metavar="SECONDS",
                   help="wait this long for a tracking store that goes away mid-search (training pauses), then "
                        "stop with the resume command [600]")
    setting("--experiment", help="[keras-nos]")
    s.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    setting("--executor", choices=("local", "ray"),
            help="where candidates run: local processes or a Ray cluster (pip install keras-nos[ray]) [local]")
    setting("--ray-address", metavar="ADDRESS",
            help="Ray cluster to use with --executor ray: auto, HOST:PORT, or local (default: start one here)")
    setting("--timeout", dest="candidate_timeout", type=_positive_float, metavar="SECONDS",
            help="cancel a candidate after this many seconds (status timeout)")
    setting("--max-retries", type=_non_negative_int,
            help="retries of a candidate whose worker died, before it is recorded as worker_lost [2]")
    setting("--async", dest="mode", action="store_const", const="async",
            help="keep --workers candidates in flight, proposing one as each finishes (not reproducible)")


def _add_leaderboard_command(commands):
    b = commands.add_parser("leaderboard", help="print a search's leaderboard from MLflow")
    b.add_argument("run_id", nargs="?", default=None, help="parent run id (default: the latest search)")
    b.add_argument("--tracking-uri", default=None)
    b.add_argument("--experiment", default="keras-nos")
    b.add_argument("--limit", type=_positive_int, default=20)


def _add_export_command(commands):
    x = commands.add_parser("export", help="write a found rule as a Python module that needs only Keras")
    x.add_argument("run_id", help="parent run id of the search")
    x.add_argument("--rank", type=_positive_int, default=1, help="leaderboard rank of the rule (default: 1)")
    x.add_argument("--name", default=None, help="class name, a Python identifier (default: NosRank<RANK>)")
    x.add_argument("--out", default=None, help="file to write (default: the class name in snake_case + .py)")
    x.add_argument("--tracking-uri", default=None)


def _add_evaluate_command(commands):
    e = commands.add_parser("evaluate", help="train the task with one rule and print the reward per learning rate")
    e.add_argument("rule")
    e.add_argument("--task", default="digits-autoencoder", help=TASK_HELP)
    e.add_argument("--lr", type=_learning_rates, default=None, help="comma-separated learning rates")
    e.add_argument("--data", default=None)
    e.add_argument("--epochs", type=_positive_int, default=None)
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--no-hurdles", action="store_true")
    e.add_argument("--lr-search", default="grid", choices=("grid", "halving", "optuna"),
                   help="every rate in full (grid), every rate for an epoch and the best two in full (halving), "
                        "or an Optuna TPE study")
    e.add_argument("--reward-seeds", type=_positive_int, default=1, metavar="N",
                   help="train the best rate with N seeds; the reward is their mean accuracy (grid, halving)")


def _add_compare_command(commands):
    c = commands.add_parser("compare", help="compare rules with Adam, SGD, momentum, RMSProp and Lion on a task suite")
    c.add_argument("optimizers", nargs="+", metavar="RULE_OR_NAME", help="rule text or optimizer name")
    c.add_argument("--baselines", default="adam,sgd,momentum,rmsprop,lion",
                   help="comma-separated baselines (default: adam,sgd,momentum,rmsprop,lion; 'none' for none)")
    c.add_argument("--tasks", "--task", default="all",
                   help="all, or comma-separated compare task names or package.module:attr (a search Task)")
    c.add_argument("--seeds", type=_positive_int, default=3, help="seeds at each optimizer's tuned learning rate")
    c.add_argument("--lr-grid", type=_positive_int, default=5,
                   help="learning-rate trials per optimizer and task, the same for all (default: 5)")
    c.add_argument("--lr-range", type=_learning_rates, default=(1e-4, 1.0), metavar="LOW,HIGH")
    c.add_argument("--tuner", default="grid", choices=("grid", "optuna"), help="log grid or an Optuna TPE study")
    c.add_argument("--scale", type=_positive_float, default=1.0, help="fraction of every task's epochs (quick runs)")
    c.add_argument("--tracking-uri", default=None)
    c.add_argument("--experiment", default="keras-nos")
    c.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _search(args):
    from keras_nos.search import format_leaderboard, search
    from keras_nos.search.leaderboard import summary

    given = {k: v for k, v in vars(args).items()
             if k not in ("command", "resume", "tracking_uri", "no_progress", "store_patience")}
    if "strategy_options" in given:
        given["strategy_options"] = dict(given["strategy_options"])
    if "warm_start" in given:  # as stored, so that a resume given the same text agrees with its parent run
        from keras_nos.search.strategies.warm_start import parse_warm_start

        given["warm_start"] = parse_warm_start(given["warm_start"])
    rows = search(resume=args.resume, tracking_uri=args.tracking_uri, progress=not args.no_progress,
                  store_patience=args.store_patience, **given)
    print(format_leaderboard(rows))
    print(summary(rows))


def _leaderboard(args):
    from keras_nos import tracking
    from keras_nos.search import format_leaderboard, read_leaderboard
    from keras_nos.search.leaderboard import summary

    uri = args.tracking_uri or tracking.default_tracking_uri()
    tracking.check_reachable(uri)
    run_id = args.run_id or tracking.latest_search_run_id(uri, args.experiment)
    rows = read_leaderboard(uri, run_id)  # an unknown run id is an error before anything is printed
    print(f"search run {run_id}")
    print(format_leaderboard(rows, limit=args.limit))
    print(summary(rows))


def _evaluate(args):
    from keras_nos.dsl import parse_rule
    from keras_nos.tasks import DEFAULT_LEARNING_RATES, Evaluator, get_task
    from keras_nos.tasks.hurdles import DEFAULT_HURDLES

    rule = parse_rule(args.rule)
    evaluator = Evaluator(args.task, learning_rates=args.lr or DEFAULT_LEARNING_RATES, seed=args.seed,
                          data_path=args.data, epochs=args.epochs, hurdles=() if args.no_hurdles else DEFAULT_HURDLES,
                          lr_search=args.lr_search, reward_seeds=args.reward_seeds)
    result = evaluator.evaluate(rule)
    print(f"rule {result.rule}  task {result.task}  status {result.status}  reward {result.reward:.4f}  "
          f"best lr {result.best_learning_rate}  ({result.wall_time:.1f} s)")
    if result.message:
        print(result.message)
    if result.seed_rewards:
        print(f"best lr with each seed: {', '.join(f'{reward:.4f}' for reward in result.seed_rewards)}")
    task = get_task(args.task)
    score = "final reward" if task.objective else f"final {task.reward_label}"
    print(f"{'learning rate':>14}  {'status':13}  {score}")
    for lr, status in result.lr_status.items():  # every rate, the ones the hurdles ruled out too
        curve = result.curves.get(lr)
        final = f"{curve[-1]:.4f}" if curve else "-"
        print(f"{lr:>14}  {status:13}  {final}")


def _compare(args):
    from keras_nos.compare import compare, to_markdown

    if len(args.lr_range) != 2:
        raise KerasNosError(f"--lr-range takes LOW,HIGH, got {','.join(map(str, args.lr_range))}")
    baselines = [] if args.baselines.strip().lower() == "none" else args.baselines.split(",")
    comparison = compare(args.optimizers, baselines=baselines, tasks=args.tasks, seeds=args.seeds,
                         lr_grid=args.lr_grid, tuner=args.tuner, lr_range=args.lr_range, scale=args.scale,
                         tracking_uri=args.tracking_uri, experiment=args.experiment, progress=not args.no_progress)
    print(f"compare run {comparison.run_id}")
    print(to_markdown(comparison))


def _export(args):
    from keras_nos.export import export_search

    path, row, name = export_search(args.run_id, rank=args.rank, name=args.name, out=args.out,
                                    tracking_uri=args.tracking_uri)
    lr = f"{row['best_learning_rate']:g}" if row["best_learning_rate"] else "-"
    print(f"wrote {path}: class {name}, rule {row['rule']}, rank {row['rank']}, reward {row['reward']:.4f}, "
          f"learning rate {lr}")


COMMANDS = {"search": _search, "leaderboard": _leaderboard, "evaluate": _evaluate, "export": _export,
            "compare": _compare}


def main(argv: Optional[Sequence[str]] = None) -> int:
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        args = build_parser().parse_args(argv)
        with quiet_native_stderr():
            import keras  # noqa: F401  (TensorFlow starts here; its C++ log would break one-line errors)
        COMMANDS[args.command](args)
    except KerasNosError as error:  # a user's mistake; anything else is a bug and keeps its traceback
        print(f"keras-nos: error: {error}".splitlines()[0], file=sys.stderr)
        return 2
    except KeyboardInterrupt as interrupt:  # a search's interrupt carries its resume command
        command = getattr(interrupt, "resume_command", "--resume RUN_ID (the parent run id in MLflow)")
        print(f"keras-nos: interrupted; resume with: {command}", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
