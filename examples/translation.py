"""English->German translation with PowerSign, AddSign, Adam or any update rule.

Reproduces the setting of Table 2 of "Neural Optimizer Search with
Reinforcement Learning" (Bello et al., ICML 2017): an encoder-decoder trained
on WMT 2014 English->German with different optimizers, compared on perplexity
and BLEU. Two architectures: ``--arch transformer`` (Transformer, base sizes
by default) and ``--arch gnmt`` (GNMT-style LSTM with attention, smaller
default). Subwords are WordPiece, learned from the training text with
tensorflow-text; the vocabularies are logged with the runs.

Smoke run (built-in English->German grammar, tiny model, a few minutes on 2 CPU cores)::

    python examples/translation.py --smoke
    python examples/translation.py --smoke --arch gnmt --optimizers adam,powersign

Comparison on the built-in corpus (the one quoted in the README; about 7-10
minutes on 2 CPU cores; learning rates from a coarse sweep per optimizer)::

    python examples/translation.py --data builtin --optimizers adam,powersign,addsign \\
        --lr adam=3e-3,powersign=0.6,addsign=0.6 --seeds 3 --epochs 4 \\
        --out runs/translation-builtin

WMT 2014 English->German (needs tensorflow-datasets, tens of GB of disk for
the download, and a GPU; newstest2013 validates, newstest2014 is the test)::

    pip install tensorflow-datasets
    python examples/translation.py --data wmt14 --data-dir ~/tensorflow_datasets --download \\
        --arch transformer --optimizers adam,powersign --seeds 1 --epochs 20 \\
        --steps-per-epoch 5000 --batch-size 128 --schedule rsqrt --warmup-steps 4000 \\
        --label-smoothing 0.1 --beam-size 4 --out runs/wmt14-transformer

and the paper's GNMT setting with its PowerSign rule written out::

    python examples/translation.py --data wmt14 --data-dir ~/tensorflow_datasets \\
        --arch gnmt --optimizers "adam,exp(sign(g)*sign(m))*g" --lr adam=2e-4 \\
        --schedule linear-cosine --out runs/wmt14-gnmt

Any aligned pair of plain-text files (one sentence per line) works too::

    python examples/translation.py --src train.en --tgt train.de [--test-src t.en --test-tgt t.de]

Optimizers are names or rule text for ``keras_nos.optimizers.make_optimizer``
(sgd, momentum, adam, rmsprop, lion, powersign, addsign, powersign-ld|cd|rd,
addsign-ld|cd|rd, "exp(sign(g)*sign(m))*g", ...). ``--lr`` is one value, one
per optimizer, or ``name=value`` pairs. ``--schedule constant|rsqrt|linear-cosine``,
each optionally behind ``--warmup-steps`` of linear warm-up. Gradients are
clipped to global norm ``--clip-norm`` (1, or 5 for the full-size GNMT) for
every optimizer alike: PowerSign and AddSign, which scale the raw gradient,
diverge on the Transformer without it. On WMT, learning the vocabulary from
``--vocab-sample`` sentences (300k by default) takes a while in pure Python.

Every optimizer x seed is a nested MLflow run under one parent run (default
store: SQLite under ./mlruns; ``--tracking-uri`` overrides). At the end a table
(optimizer, perplexity, BLEU; mean ± std over seeds) is printed, written to
``--out``/table.md and logged on the parent run. A missing data set or a bad
flag is a one-line error on stderr and exit status 2; nothing is downloaded
without ``--download``.
"""

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for _path in (HERE, ROOT):  # translation_lib next to this file; keras_nos from a checkout
    if str(_path) not in sys.path:
        sys.path.insert(0 if _path == HERE else len(sys.path), str(_path))

from common.results_doc import add_doc_argument, machine_line, write_doc  # noqa: E402
from common.cli import UsageError, check_positive, doc_parser, run_main  # noqa: E402
from translation_lib.data import SOURCES, DataError, check_source  # noqa: E402
from translation_lib.specs import parse_learning_rates, parse_optimizers  # noqa: E402

PROG = "translation.py"

# Sizes per preset and architecture; a flag given on the command line wins.
PRESETS = {
    "full": {
        "common": {"epochs": 20, "batch_size": 128, "max_len": 64, "vocab_size": 16000,
                   "vocab_sample": 300000, "schedule": "rsqrt", "warmup_steps": 4000,
                   "label_smoothing": 0.1, "beam_size": 4, "decode_batch_size": 64,
                   "train_eval_size": 3000, "clip_norm": 1.0},
        "transformer": {"layers": 6, "d_model": 512, "heads": 8, "ff_dim": 2048, "dropout": 0.1},
        "gnmt": {"layers": 4, "units": 512, "dropout": 0.2, "clip_norm": 5.0},
    },
    "smoke": {
        "common": {"epochs": 3, "batch_size": 64, "max_len": 24, "vocab_size": 1000,
                   "vocab_sample": 4000, "schedule": "constant", "warmup_steps": 100,
                   "label_smoothing": 0.1, "beam_size": 3, "decode_batch_size": 300,
                   "train_eval_size": 300, "clip_norm": 1.0},
        "transformer": {"layers": 2, "d_model": 64, "heads": 4, "ff_dim": 128, "dropout": 0.1},
        "gnmt": {"layers": 2, "units": 128, "dropout": 0.1},
    },
}
DATA_SIZES = {  # train_size (0 = all), val_size, test_size (0 = all)
    "builtin": (8000, 200, 300),
    "files": (0, 1000, 1000),
    "wmt14": (0, 0, 0),
}


def build_parser():
    p = doc_parser(PROG, __doc__)
    p.add_argument("--smoke", action="store_true",
                   help="built-in corpus, tiny model, a few minutes on a CPU")
    p.add_argument("--arch", choices=("transformer", "gnmt"), default="transformer")
    g = p.add_argument_group("data")
    g.add_argument("--data", choices=SOURCES,
                   help="builtin (with --smoke), files (with --src/--tgt), else wmt14")
    g.add_argument("--src", help="training source sentences, one per line")
    g.add_argument("--tgt", help="training target sentences, aligned with --src")
    g.add_argument("--test-src", help="test source file (default: held out from --src)")
    g.add_argument("--test-tgt", help="test target file, aligned with --test-src")
    g.add_argument("--data-dir", help="tensorflow-datasets data dir (default $TFDS_DATA_DIR "
                                      "or ~/tensorflow_datasets)")
    g.add_argument("--download", action="store_true",
                   help="let tensorflow-datasets download and prepare WMT 2014")
    g.add_argument("--corpus-seed", type=int, default=0, help="seed of the built-in corpus")
    g.add_argument("--train-size", type=int, help="training pairs (0 = all)")
    g.add_argument("--val-size", type=int, help="validation pairs (0 = all)")
    g.add_argument("--test-size", type=int, help="test pairs (0 = all)")
    g.add_argument("--vocab-size", type=int, help="WordPiece vocabulary size per language")
    g.add_argument("--vocab-sample", type=int,
                   help="training sentences used to learn the vocabulary")
    g.add_argument("--max-len", type=int,
                   help="max subword ids per sentence incl. [START]/[END]; longer training "
                        "pairs are dropped, longer test sentences truncated")
    g = p.add_argument_group("model")
    g.add_argument("--layers", type=int, help="encoder and decoder layers")
    g.add_argument("--d-model", type=int, help="Transformer model width")
    g.add_argument("--heads", type=int, help="Transformer attention heads")
    g.add_argument("--ff-dim", type=int, help="Transformer feed-forward width")
    g.add_argument("--units", type=int, help="GNMT LSTM units")
    g.add_argument("--dropout", type=float)
    g = p.add_argument_group("training")
    g.add_argument("--optimizers", default="adam,powersign",
                   help="comma-separated names or rule texts (default: %(default)s, the "
                        "pair of the paper's Table 2)")
    g.add_argument("--lr", help="one value, one per optimizer, or name=value pairs")
    g.add_argument("--seeds", type=int, default=1, help="seeds 0..N-1 per optimizer")
    g.add_argument("--epochs", type=int)
    g.add_argument("--steps-per-epoch", type=int,
                   help="default: training pairs // batch size")
    g.add_argument("--batch-size", type=int)
    g.add_argument("--schedule", choices=("constant", "rsqrt", "linear-cosine"))
    g.add_argument("--warmup-steps", type=int, help="linear warm-up in front of the schedule")
    g.add_argument("--label-smoothing", type=float)
    g.add_argument("--clip-norm", type=float,
                   help="clip gradients to this global norm, for every optimizer alike; "
                        "PowerSign/AddSign diverge on the Transformer without it (0: off; "
                        "default 1, and 5 for the full-size GNMT as in GNMT)")
    g.add_argument("--jit-compile", action=argparse.BooleanOptionalAction, default=None,
                   help="XLA-compile the train, eval and decode steps (default: only when a "
                        "GPU is visible; on a CPU the compile time outweighs the gain for "
                        "small models, and LSTMs compile slowly)")
    g.add_argument("--checkpoints", action=argparse.BooleanOptionalAction, default=True,
                   help="save the weights after every epoch into the run dir")
    g.add_argument("--verbose", type=int, choices=(0, 1, 2), default=2, help="Keras fit verbosity")
    g = p.add_argument_group("evaluation")
    g.add_argument("--beam-size", type=int, help="beam width (1: greedy only)")
    g.add_argument("--length-penalty", type=float, default=0.6, help="GNMT alpha for the beam")
    g.add_argument("--decode-batch-size", type=int)
    g.add_argument("--train-eval-size", type=int,
                   help="training pairs scored for the train perplexity")
    g = p.add_argument_group("tracking and output")
    g.add_argument("--experiment", default="translation", help="MLflow experiment name")
    g.add_argument("--tracking-uri", help="MLflow tracking URI (default: SQLite under ./mlruns)")
    g.add_argument("--run-name", help="name of the parent MLflow run")
    g.add_argument("--out", help="output dir (default runs/translation/<time>-<arch>)")
    add_doc_argument(g, "translation-transfer.md")
    return p


def parse_config(argv=None):
    """Parsed flags with preset defaults filled in; UsageError on anything wrong."""
    cfg = build_parser().parse_args(argv)
    if (cfg.src is None) != (cfg.tgt is None):
        raise UsageError("--src and --tgt go together")
    if (cfg.test_src is None) != (cfg.test_tgt is None):
        raise UsageError("--test-src and --test-tgt go together")
    if cfg.data is None:
        cfg.data = "files" if cfg.src else ("builtin" if cfg.smoke else "wmt14")
    if cfg.data == "files" and cfg.src is None:
        raise UsageError("--data files needs --src FILE --tgt FILE")
    preset = PRESETS["smoke" if cfg.smoke or cfg.data == "builtin" else "full"]
    for key, value in {**preset["common"], **preset[cfg.arch]}.items():
        if getattr(cfg, key, None) is None:
            setattr(cfg, key, value)
    for key in ("d_model", "heads", "ff_dim", "units"):
        if getattr(cfg, key) is None:
            setattr(cfg, key, 0)  # not used by this architecture
    for key, value in zip(("train_size", "val_size", "test_size"), DATA_SIZES[cfg.data]):
        if getattr(cfg, key) is None:
            setattr(cfg, key, value)
    check_positive(cfg, ["epochs", "batch_size", "max_len", "vocab_size", "vocab_sample",
                          "layers", "beam_size", "decode_batch_size", "train_eval_size",
                          "seeds", "train_size", "val_size", "test_size", "warmup_steps"],
                    allow_zero=("train_size", "val_size", "test_size", "warmup_steps"))
    if cfg.data == "builtin" and not (cfg.train_size and cfg.val_size and cfg.test_size):
        raise UsageError("the built-in corpus needs --train-size, --val-size, --test-size > 0")
    if cfg.steps_per_epoch is not None and cfg.steps_per_epoch <= 0:
        raise UsageError(f"argument --steps-per-epoch: must be > 0, got {cfg.steps_per_epoch}")
    if not 0.0 <= cfg.dropout < 1.0:
        raise UsageError(f"argument --dropout: must be in [0, 1), got {cfg.dropout}")
    if cfg.clip_norm < 0:
        raise UsageError(f"argument --clip-norm: must be >= 0, got {cfg.clip_norm}")
    if not 0.0 <= cfg.label_smoothing < 1.0:
        raise UsageError(f"argument --label-smoothing: must be in [0, 1), got {cfg.label_smoothing}")
    if cfg.arch == "transformer" and cfg.d_model % cfg.heads:
        raise UsageError(f"--d-model {cfg.d_model} is not divisible by --heads {cfg.heads}")
    if cfg.arch == "gnmt" and cfg.units % 2:
        raise UsageError(f"--units {cfg.units} must be even")
    try:
        cfg.optimizer_specs = parse_optimizers(cfg.optimizers)
        cfg.learning_rates = parse_learning_rates(cfg.lr, cfg.optimizer_specs)
    except ValueError as error:
        raise UsageError(str(error)) from None
    return cfg


def check_optimizers(cfg):
    """Build each optimizer once so that a bad spec fails before any work."""
    from keras_nos.optimizers import make_optimizer

    for spec in cfg.optimizer_specs:
        try:
            make_optimizer(spec, learning_rate=cfg.learning_rates[spec], decay_steps=1000)
        except ValueError as error:
            raise UsageError(f"--optimizers: {str(error).splitlines()[0]}") from None


def main(argv=None):
    started = time.time()

    def body():
        cfg = parse_config(argv)
        check_source(cfg)
        from keras_nos.native_log import quiet_native_stderr

        with quiet_native_stderr():
            import keras  # noqa: F401  (TensorFlow and Keras start here)
            import tensorflow_text  # noqa: F401
            import keras_nos.optimizers  # noqa: F401
        check_optimizers(cfg)
        if cfg.jit_compile is None:
            import tensorflow as tf

            cfg.jit_compile = bool(tf.config.list_physical_devices("GPU"))
        from translation_lib.experiment import run_experiment

        machine = machine_line() if cfg.doc else None  # the load average before the training
        run_experiment(cfg, started)
        if cfg.doc:
            write_doc(cfg.doc, "translation-builtin", "examples/translation.py", argv, machine,
                      (Path(cfg.out) / "table.md").read_text(encoding="utf-8"))

    return run_main(PROG, body, errors=(DataError,))


if __name__ == "__main__":
    sys.exit(main())
