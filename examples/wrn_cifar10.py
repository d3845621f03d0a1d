"""CIFAR-10 on a Wide ResNet with SGD, momentum, Adam, RMSProp, PowerSign, AddSign or any rule.

Reproduces the setting of Table 1 of "Neural Optimizer Search with
Reinforcement Learning" (Bello et al., ICML 2017): the rules found on a small
proxy transfer to a Wide ResNet (Zagoruyko & Komodakis 2016) on CIFAR-10;
each optimizer is run at several learning rates on a log scale and reported at
the best one (chosen on a held-out validation set): Final Val, Final Test,
Best Val, Best Test accuracy.

Smoke run (a few hundred images, one epoch, WRN-10-1; about a minute on a CPU)::

    python examples/wrn_cifar10.py --smoke --data ../shared/data/cifar10-jpeg.tar.gz

The paper-size comparison (WRN-28-10, 300 epochs, seven learning rates per
optimizer; needs a GPU, and days for all of it)::

    python examples/wrn_cifar10.py --depth 28 --width 10 --epochs 300 --lr-count 7 \\
        --optimizers sgd,momentum,adam,rmsprop,powersign,addsign,powersign-ld,addsign-ld,powersign-cd,addsign-cd

A rule from a finished search, at learning rates centred on the search's best::

    python examples/wrn_cifar10.py --from-search RUN_ID --rank 1 --optimizers momentum

Data (``--data``): the Keras cache, the official tarball or folder, or an
image-folder tree or tarball; by default ``$KERAS_NOS_CIFAR10`` or the Keras
copy. 5,000 training images are held out for validation (``--validation-size``);
``--train-limit`` keeps a class-balanced subset of the rest, ``--test-limit``
of the test set.

Model and training: WRN-``--depth``-``--width`` (WRN-16-4 by default), batch
norm, L2 weight decay ``--weight-decay`` 5e-4 on every kernel, batch 128,
4-pixel pad + random crop, horizontal flips and per-channel normalization in
a prefetched tf.data pipeline; ``--schedule cosine`` (default: cosine decay to
zero over the run; the paper does not tie Table 1 to one), ``step`` (the WRN
paper's x0.2 at 30/60/80% of training) or ``constant``. Mixed precision and
XLA (jit_compile) are on when a GPU is visible, off on a CPU.

Learning rates: ``--lr-count`` values (7) ``--lr-step`` decades apart (0.5)
around a centre per optimizer (0.1 for SGD, momentum, PowerSign, AddSign and
rule texts; 1e-3 for Adam and RMSProp; ``--lr-center`` overrides as one
value, one per optimizer, or name=value pairs), or exactly the values of
``--lr`` (comma-separated) for every optimizer.

Every (optimizer, lr) is a nested MLflow run under one parent run (default
store: SQLite under ./mlruns; ``--tracking-uri`` overrides) that logs per epoch
train loss, validation and test accuracy. The parent is tagged with a hash of
the settings: starting the same settings again (or ``--resume RUN_ID``) reuses
its finished runs and trains only the rest (``--fresh`` starts anew). At the
end the table is printed, written to ``--out``/table.md with a plot of test
accuracy per epoch (test_accuracy.png), and both are logged on the parent run.
A missing data set, an unknown optimizer or a bad flag is one line on stderr
and exit status 2.
"""

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for _path in (HERE, ROOT):  # wrn_lib and common next to this file; keras_nos from a checkout
    if str(_path) not in sys.path:
        sys.path.insert(0 if _path == HERE else len(sys.path), str(_path))

from common.results_doc import add_doc_argument, machine_line, write_doc  # noqa: E402
from common.cli import UsageError, check_positive, doc_parser, first_line, run_main  # noqa: E402
from common.specs import parse_learning_rates, parse_optimizers, positive_number  # noqa: E402
from common.specs import split_top_level  # noqa: E402
from wrn_lib.lrs import SCHEDULES, default_center, lr_grid  # noqa: E402

PROG = "wrn_cifar10.py"
DEFAULT_OPTIMIZERS = "sgd,momentum,adam,rmsprop,powersign,addsign"

PRESETS = {
    "full": {"depth": 16, "width": 4, "epochs": 300, "batch_size": 128, "lr_count": 7,
             "validation_size": 5000, "train_limit": None, "test_limit": None,
             "optimizers": DEFAULT_OPTIMIZERS},
    "smoke": {"depth": 10, "width": 1, "epochs": 1, "batch_size": 32, "lr_count": 2,
              "validation_size": 100, "train_limit": 320, "test_limit": 200,
              "optimizers": "momentum,adam,powersign"},
}


def build_parser():
    p = doc_parser(PROG, __doc__)
    p.add_argument("--smoke", action="store_true",
                   help="a few hundred images, one epoch, WRN-10-1, one lr per optimizer")
    g = p.add_argument_group("data")
    g.add_argument("--data", help="CIFAR-10: Keras cache, official tarball/folder, or "
                                  "image-folder tree/tarball (default: $KERAS_NOS_CIFAR10 or Keras)")
    g.add_argument("--train-limit", type=int, help="class-balanced training subset (0 = all)")
    g.add_argument("--validation-size", type=int, help="training images held out for validation")
    g.add_argument("--test-limit", type=int, help="class-balanced test subset (0 = all)")
    g = p.add_argument_group("model")
    g.add_argument("--depth", type=int, help="6n+4: 10, 16, 22, 28, ... (default 16)")
    g.add_argument("--width", type=int, help="widening factor k (default 4)")
    g.add_argument("--weight-decay", type=float, default=5e-4, help="L2 on every kernel")
    g.add_argument("--dropout", type=float, default=0.0, help="dropout inside each block")
    g = p.add_argument_group("training")
    g.add_argument("--optimizers", help=f"comma-separated names or rule texts "
                                        f"(default: {DEFAULT_OPTIMIZERS})")
    g.add_argument("--from-search", metavar="RUN_ID",
                   help="add the rule at --rank of this finished search's leaderboard")
    g.add_argument("--rank", type=int, default=1, help="leaderboard rank for --from-search")
    g.add_argument("--lr", help="exact learning rates for every optimizer, comma-separated")
    g.add_argument("--lr-center", help="grid centre: one value, one per optimizer, or "
                                       "name=value pairs")
    g.add_argument("--lr-count", type=int, help="learning rates per optimizer (default 7)")
    g.add_argument("--lr-step", type=float, default=0.5, help="decades between grid values")
    g.add_argument("--schedule", choices=SCHEDULES, default="cosine")
    g.add_argument("--epochs", type=int, help="default 300, as in the paper")
    g.add_argument("--batch-size", type=int)
    g.add_argument("--eval-batch-size", type=int, default=500)
    g.add_argument("--seed", type=int, default=0, help="data split, subset and init seed")
    g.add_argument("--mixed-precision", action=argparse.BooleanOptionalAction, default=None,
                   help="mixed_float16 (default: only when a GPU is visible)")
    g.add_argument("--jit-compile", action=argparse.BooleanOptionalAction, default=None,
                   help="XLA-compile the steps (default: only when a GPU is visible)")
    g.add_argument("--verbose", type=int, choices=(0, 1, 2), default=2, help="Keras fit verbosity")
    g = p.add_argument_group("tracking and output")
    g.add_argument("--experiment", default="wrn-cifar10", help="MLflow experiment name")
    g.add_argument("--tracking-uri", help="MLflow tracking URI (default: SQLite under ./mlruns)")
    g.add_argument("--run-name", help="name of the parent MLflow run")
    g.add_argument("--resume", metavar="RUN_ID", help="parent run to resume (default: the "
                                                      "newest with the same settings)")
    g.add_argument("--fresh", action="store_true", help="start a new parent run")
    g.add_argument("--out", help="output dir (default runs/wrn_cifar10/<time>-wrn-D-K)")
    add_doc_argument(g, "wrn-transfer.md")
    return p


def parse_config(argv=None):
    """Parsed flags with preset defaults filled in; UsageError on anything wrong."""
    cfg = build_parser().parse_args(argv)
    for key, value in PRESETS["smoke" if cfg.smoke else "full"].items():
        if getattr(cfg, key) is None:
            setattr(cfg, key, value)
    cfg.train_limit = cfg.train_limit or None
    cfg.test_limit = cfg.test_limit or None
    check_positive(cfg, ["depth", "width", "epochs", "batch_size", "eval_batch_size",
                         "lr_count", "rank", "lr_step"])
    check_positive(cfg, ["validation_size", "weight_decay"], allow_zero=("validation_size",
                                                                         "weight_decay"))
    for name in ("train_limit", "test_limit"):
        if getattr(cfg, name) is not None and getattr(cfg, name) < 0:
            raise UsageError(f"argument --{name.replace('_', '-')}: must be >= 0")
    if cfg.depth < 10 or (cfg.depth - 4) % 6:
        raise UsageError(f"argument --depth: must be 6n+4 with n >= 1 (10, 16, 22, 28, ...), "
                         f"got {cfg.depth}")
    if not 0.0 <= cfg.dropout < 1.0:
        raise UsageError(f"argument --dropout: must be in [0, 1), got {cfg.dropout}")
    if cfg.validation_size == 0:
        raise UsageError("argument --validation-size: must be > 0 (the best lr is chosen on it)")
    if cfg.resume and cfg.fresh:
        raise UsageError("--resume and --fresh exclude each other")
    if cfg.lr and cfg.lr_center:
        raise UsageError("--lr and --lr-center exclude each other")
    if cfg.data is not None:
        path = Path(cfg.data).expanduser()
        if not path.exists():
            raise UsageError(f"CIFAR-10 not found: --data {cfg.data} does not exist")
        cfg.data = str(path.resolve())
    try:
        cfg.optimizer_specs = parse_optimizers(cfg.optimizers)
        cfg.fixed_lrs = ([positive_number(v) for v in split_top_level(cfg.lr)]
                         if cfg.lr else None)
        if not cfg.from_search:  # else checked once the search's rule is known
            parse_learning_rates(cfg.lr_center, cfg.optimizer_specs, default_center,
                                 flag="--lr-center")
    except ValueError as error:
        raise UsageError(str(error)) from None
    return cfg


def add_search_rule(cfg):
    """Append the --from-search rule with its search's best learning rate as centre."""
    from keras_nos import tracking
    from keras_nos.search.leaderboard import read_leaderboard

    uri = cfg.tracking_uri or tracking.default_tracking_uri()
    try:
        tracking.check_reachable(uri)
        tracking.find_search_run(uri, cfg.from_search)
        rows = read_leaderboard(uri, cfg.from_search)
    except ValueError as error:
        raise UsageError(f"--from-search: {first_line(error)}") from None
    if cfg.rank > len(rows):
        raise UsageError(f"--rank {cfg.rank} is past the leaderboard of run {cfg.from_search} "
                         f"({len(rows)} row(s))")
    row = rows[cfg.rank - 1]
    if row["rule"] not in cfg.optimizer_specs:
        cfg.optimizer_specs.append(row["rule"])
    return row


def resolve_learning_rates(cfg, search_row=None):
    """{spec: [lr, ...]}: the --lr values, or the log grid around each centre."""
    if cfg.fixed_lrs:
        return {spec: list(cfg.fixed_lrs) for spec in cfg.optimizer_specs}

    def center(spec):
        if search_row and spec == search_row["rule"] and search_row.get("best_learning_rate"):
            return search_row["best_learning_rate"]
        return default_center(spec)

    try:
        centers = parse_learning_rates(cfg.lr_center, cfg.optimizer_specs, center,
                                       flag="--lr-center")
    except ValueError as error:
        raise UsageError(str(error)) from None
    return {spec: lr_grid(c, cfg.lr_count, cfg.lr_step) for spec, c in centers.items()}


def check_optimizers(cfg):
    """Build each optimizer once so that a bad spec fails before any work."""
    from keras_nos.optimizers import make_optimizer

    for spec in cfg.optimizer_specs:
        try:
            make_optimizer(spec, learning_rate=0.1, decay_steps=1000)
        except ValueError as error:
            raise UsageError(f"--optimizers: {first_line(error)}") from None


def load_data(cfg):
    from keras_nos.tasks.datasets import load_cifar10

    try:
        return load_cifar10(cfg.data, seed=cfg.seed, train_limit=cfg.train_limit,
                            validation_size=cfg.validation_size)
    except FileNotFoundError as error:  # its first line names the path and what would work
        raise UsageError(first_line(error)) from None
    except (ValueError, OSError) as error:
        raise UsageError(f"CIFAR-10 could not be read from {cfg.data}: {first_line(error)}") \
            from None


def main(argv=None):
    started = time.time()

    def body():
        cfg = parse_config(argv)
        from keras_nos.native_log import quiet_native_stderr

        with quiet_native_stderr():
            import keras
            import tensorflow as tf

            import keras_nos.optimizers  # noqa: F401
        search_row = add_search_rule(cfg) if cfg.from_search else None
        check_optimizers(cfg)
        cfg.learning_rates = resolve_learning_rates(cfg, search_row)
        gpu = bool(tf.config.list_physical_devices("GPU"))
        cfg.jit_compile = gpu if cfg.jit_compile is None else cfg.jit_compile
        cfg.mixed_precision = gpu if cfg.mixed_precision is None else cfg.mixed_precision
        if cfg.mixed_precision:
            keras.mixed_precision.set_global_policy("mixed_float16")
        splits = load_data(cfg)
        from wrn_lib.experiment import run_sweep

        machine = machine_line() if cfg.doc else None  # the load average before the training
        run_sweep(cfg, splits, started)
        if cfg.doc:
            write_doc(cfg.doc, "wrn-reduced", "examples/wrn_cifar10.py", argv, machine,
                      (Path(cfg.out) / "table.md").read_text(encoding="utf-8"))

    return run_main(PROG, body)


if __name__ == "__main__":
    sys.exit(main())
