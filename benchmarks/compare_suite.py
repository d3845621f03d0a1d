"""The found rules against the usual optimizers: ``keras-nos compare`` with the settings of docs/results/compare-suite.md.

Runs ``keras_nos.compare.compare`` (what ``keras-nos compare`` runs) on PowerSign, AddSign and the winner of an
earlier main job against the five baselines on the whole suite, each optimizer's learning rate chosen on a
5-point log grid (seed 0), then 3 seeds at it, and prints the tables ``keras-nos compare`` prints. Its MLflow
runs go to a temporary store unless ``--tracking-uri`` names one. With ``--doc`` the tables, the command and the
machine go into the page's compare-suite block; with ``--out`` the tables and the loss curves into a folder.

    python benchmarks/compare_suite.py --doc                        # the page's run (384 trainings)
    python benchmarks/compare_suite.py --tasks rosenbrock --seeds 1 --lr-grid 2 --doc /tmp/page.md   # a quick check
"""

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from keras_nos.native_log import quiet_native_stderr  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))  # results_page, beside this file
import results_page  # noqa: E402

PAGE = results_page.RESULTS / "compare-suite.md"
OPTIMIZERS = ("powersign", "addsign", "sign(m)^clip(-g*sign(w), 1e-4)")  # the last: an earlier main job's winner


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("optimizers", nargs="*", default=list(OPTIMIZERS), metavar="RULE_OR_NAME",
                        help=f"rules or optimizer names (default: {', '.join(OPTIMIZERS)})")
    parser.add_argument("--baselines", default="adam,sgd,momentum,rmsprop,lion", help="comma-separated")
    parser.add_argument("--tasks", default="all", help="all, or comma-separated compare task names")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--lr-grid", type=int, default=5)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of every task's epochs (quick runs)")
    parser.add_argument("--tracking-uri", default=None, help="MLflow store (default: a temporary one)")
    parser.add_argument("--out", type=Path, default=None, help="also write comparison.md and loss_curves.png here")
    parser.add_argument("--doc", nargs="?", const=PAGE, default=None, type=Path, metavar="PATH",
                        help=f"write the tables, the command and the machine into PATH's compare-suite block "
                             f"(default PATH: {PAGE.relative_to(results_page.ROOT)})")
    args = parser.parse_args(argv)
    machine = results_page.machine_line()  # the load average before the run
    with quiet_native_stderr():  # TensorFlow's C++ start-up lines would bury the output
        from keras_nos.compare import compare, to_markdown
        from keras_nos.compare.plots import plot_loss_curves

    with tempfile.TemporaryDirectory() as folder:
        uri = args.tracking_uri or f"sqlite:///{folder}/mlflow.db"
        comparison = compare(args.optimizers, baselines=args.baselines.split(","), tasks=args.tasks,
                             seeds=args.seeds, lr_grid=args.lr_grid, scale=args.scale, tracking_uri=uri,
                             progress=False)
    text = to_markdown(comparison)
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "comparison.md").write_text(text + "\n")
        plot_loss_curves(comparison, args.out / "loss_curves.png")
    if args.doc:
        results_page.write_results(args.doc, "compare-suite", "benchmarks/compare_suite.py", argv, machine, text,
                                   title="The found rules against the usual optimizers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
