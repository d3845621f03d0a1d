"""From search to shipped optimizer: a found rule exported as a plain Keras class, and its forms, as the page shows them.

Exports the rule at ``--rank`` of a finished search (what ``keras-nos export`` does), then prints the forms of
the rule (the search's tokens, the rule it evaluated, the simplified rule, Unicode), its rewards beside the
funnel's Adam reference, and what simplification does to ``--sample`` random rules of the ``paper`` space (how
many it shortens, and how many fingerprints it changes: none should). With ``--doc`` the tables, the command and
the machine go into docs/results/search-to-shipped.md's block.

    python benchmarks/search_to_shipped.py --tracking-uri sqlite:///mlruns/mlflow.db --name SignAdamPower --doc
    python benchmarks/search_to_shipped.py --run RUN_ID --rank 2 --out my_rule.py
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

PAGE = results_page.RESULTS / "search-to-shipped.md"


def the_search_run(uri):
    """The id of the only search run in the store at ``uri``."""
    from keras_nos.tracking import tags
    from keras_nos.tracking.store import client

    store = client(uri)
    runs = store.search_runs([experiment.experiment_id for experiment in store.search_experiments()],
                             filter_string=f"tags.`{tags.KIND}` = 'search'")
    if len(runs) != 1:
        raise SystemExit(f"search_to_shipped: error: {uri} holds {len(runs)} search runs; name one with --run")
    return runs[0].info.run_id


def forms(row, rows):
    """The table of the exported rule's forms and rewards."""
    from keras_nos.dsl import parse_rule, simplify, to_unicode

    simplified = str(simplify(parse_rule(row["raw_rule"])))
    minimal = " (already minimal)" if simplified == str(parse_rule(row["raw_rule"])) else ""
    reference = next((r for r in rows if r["reference"]), None)
    funnel = "-" if row.get("funnel_reward") is None else f"{row['funnel_reward']:.4f}"
    adam = "" if reference is None or reference.get("funnel_reward") is None else (
        f" (tuned `{reference['rule']}`: {reference['funnel_reward']:.4f})")
    lr = f"{row['best_learning_rate']:g}" if row["best_learning_rate"] else "-"
    return "\n".join([
        "| form | |", "| --- | --- |",
        f"| raw tokens | `{row['tokens']}` |" if row.get("tokens") else "| raw tokens | - |",
        f"| rule the search evaluated | `{row['raw_rule']}` |",
        f"| simplified rule | `{simplified}`{minimal} |",
        f"| Unicode | `{to_unicode(parse_rule(simplified))}` |",
        f"| rewards | proxy {row['reward']:.4f}, funnel {funnel}{adam}, best learning rate {lr} |"])


def simplification(sample, seed):
    """(shortened, fingerprints changed) over ``sample`` random rules of the paper space."""
    import numpy as np

    from keras_nos.dsl import fingerprint, simplify
    from keras_nos.search.space import SearchSpace

    space, rng = SearchSpace.preset("paper"), np.random.default_rng(seed)
    shortened = changed = 0
    for _ in range(sample):
        rule = space.to_rule(space.sample(rng))
        simple = simplify(rule)
        shortened += simple.size() < rule.size()
        changed += fingerprint(simple) != fingerprint(rule)
    return shortened, changed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracking-uri", default=None, help="the search's MLflow store (default: the project's)")
    parser.add_argument("--run", default=None, help="the search's parent run (default: the store's only search)")
    parser.add_argument("--rank", type=int, default=1)
    parser.add_argument("--name", default=None, help="the class name (default NosRankN)")
    parser.add_argument("--out", type=Path, default=None, help="the module to write (default: a temporary file)")
    parser.add_argument("--sample", type=int, default=200, help="random rules for the simplification figure")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--doc", nargs="?", const=PAGE, default=None, type=Path, metavar="PATH",
                        help=f"write the tables, the command and the machine into PATH's search-to-shipped block "
                             f"(default PATH: {PAGE.relative_to(results_page.ROOT)})")
    args = parser.parse_args(argv)
    machine = results_page.machine_line()
    with quiet_native_stderr():  # TensorFlow's C++ start-up lines would bury the output
        from keras_nos import tracking
        from keras_nos.export import export_search
        from keras_nos.search.leaderboard import read_leaderboard

    uri = args.tracking_uri or tracking.default_tracking_uri()
    run = args.run or the_search_run(uri)
    with tempfile.TemporaryDirectory() as folder:
        out = args.out or Path(folder) / "exported.py"
        path, row, name = export_search(run, rank=args.rank, name=args.name, out=out, tracking_uri=uri)
        source = Path(path).read_text()
    shortened, changed = simplification(args.sample, args.seed)
    imports = sorted({line.split()[1] for line in source.splitlines() if line.startswith(("import ", "from "))})
    text = "\n".join([
        f"Rank {row['rank']} of search run `{run}`, exported as class `{name}` "
        f"({len(source.splitlines())} lines importing {', '.join(imports)}):", "", forms(row, read_leaderboard(uri, run)),
        "", f"Simplification on {args.sample} random rules of the paper space (seed {args.seed}): {shortened} "
        f"shortened, {changed} fingerprints changed."])
    print(text)
    if args.doc:
        results_page.write_results(args.doc, "search-to-shipped", "benchmarks/search_to_shipped.py", argv, machine,
                                   text, title="From search to shipped optimizer")
    return 0


if __name__ == "__main__":
    sys.exit(main())
