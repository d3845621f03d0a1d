"""The main job, measured: a bare ``keras-nos search`` in an empty folder, written up as docs/results/main-job.md.

The README's main-job section quotes that page (``--readme`` rewrites the block
between its ``main-job`` markers, and ``tests/test_docs.py`` fails when the two
tables differ), so no figure of the main job is ever typed by hand. The page
holds the leaderboard, the search's last line, what became of the candidates
(statuses, cache hits, the mean sample reward and the failing fraction per
quarter of the budget), the time of each stage read from the MLflow runs
(search, funnel, compare suite), Figure 4 and the machine it ran on.

    python benchmarks/main_job.py --readme                     # the bare search; rewrites the page, README and figure
    python benchmarks/main_job.py --doc /tmp/p.md -- --budget 20   # any search flags after "--"
"""

import argparse
import collections
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # one small figure: no bar

sys.path.insert(0, str(Path(__file__).resolve().parent))  # results_page, beside this file
from results_page import machine_line, markers, write_block  # noqa: E402

from keras_nos.search import read_leaderboard  # noqa: E402
from keras_nos.search.leaderboard import speed_cell, summary  # noqa: E402
from keras_nos.tracking import candidate_runs, tags  # noqa: E402
from keras_nos.tracking.store import client  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PAGE = ROOT / "docs" / "results" / "main-job.md"
README = ROOT / "README.md"
BEGIN, END = markers("main-job", "benchmarks/main_job.py")
TABLE_HEADER = ("| rank | proxy reward | funnel reward (mean ± std) | speedup over tuned Adam (95% interval) "
                "| vs tuned Adam (paired mean ± s.e.) | lr | suite wins | rule |\n"
                "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")


def run_search(folder, flags):
    """Run ``keras-nos search FLAGS`` in ``folder`` with its default store; (stdout, wall seconds)."""
    environment = {key: value for key, value in os.environ.items() if key != "MLFLOW_TRACKING_URI"}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "keras_nos.cli", "search", "--no-progress", *flags], cwd=folder,
                          env=environment, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"keras-nos search failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout, time.perf_counter() - started


def the_search_run(uri):
    """The only search run of the store at ``uri``."""
    store = client(uri)
    runs = store.search_runs([experiment.experiment_id for experiment in store.search_experiments()],
                             filter_string=f"tags.`{tags.KIND}` = 'search'")
    if len(runs) != 1:
        sys.exit(f"expected one search run in {uri}, found {len(runs)}")
    return runs[0]


def stage_seconds(uri, parent, children):
    """{stage: seconds} from the runs' clocks: search (the parent's start to its last candidate's end),
    funnel (its trainings' span) and suite (the nested comparison's run)."""
    spans = {}
    for stage in ("search", "funnel"):
        runs = [run for run in children if run.data.tags.get(tags.STAGE) == stage and run.info.end_time]
        if runs:
            start = parent.info.start_time if stage == "search" else min(run.info.start_time for run in runs)
            spans[stage] = (max(run.info.end_time for run in runs) - start) / 1000
    suite = client(uri).search_runs([parent.info.experiment_id], filter_string=(
        f"tags.`{tags.PARENT}` = '{parent.info.run_id}' and tags.`{tags.KIND}` = 'compare'"))
    if suite and suite[0].info.end_time:
        spans["suite"] = (suite[0].info.end_time - suite[0].info.start_time) / 1000
    return spans


def quarters(children):
    """[(mean sample reward, failing fraction)] per quarter of the search's candidates in proposal order; a
    candidate that did not train to status ok fails (its reward, 0 or its partial score, counts as it is)."""
    search = sorted((run for run in children if run.data.tags.get(tags.STAGE) == "search"),
                    key=lambda run: int(run.data.tags[tags.INDEX]))
    rows = []
    for part in np.array_split(np.arange(len(search)), 4):
        runs = [search[i] for i in part]
        rewards = [run.data.metrics.get("reward", 0.0) for run in runs]
        failing = [run.data.tags.get(tags.STATUS) != "ok" for run in runs]
        rows.append((float(np.mean(rewards)) if runs else float("nan"), float(np.mean(failing)) if runs else 0.0))
    return rows


def statuses(children):
    """{status: count} and the number of cache hits among the search's candidates."""
    search = [run for run in children if run.data.tags.get(tags.STAGE) == "search"]
    counts = collections.Counter(run.data.tags.get(tags.STATUS, "?") for run in search)
    return dict(counts.most_common()), sum(
        run.data.tags.get(tags.CACHE_HIT) == "true" for run in search)


def table(rows, limit=6):
    """The leaderboard's top ``limit`` rows as the README's markdown table."""
    lines = [TABLE_HEADER]
    for row in rows[:limit]:
        funnel = f"{row['funnel_reward']:.4f} ± {row['funnel_std']:.4f}" if row["funnel_reward"] is not None else "-"
        versus = "-" if row.get("vs_adam") is None else f"{row['vs_adam']:+.4f}" + (
            f" ± {row['vs_adam_se']:.4f}" if row.get("vs_adam_se") is not None else "")
        rank = f"{row['rank']} (reference)" if row["reference"] else str(row["rank"])
        rule = f"`{row['rule']}`" + (" (Adam, learning rate tuned on the same grid)" if row["reference"] else "")
        lr = f"{row['best_learning_rate']:g}" if row["best_learning_rate"] else "-"
        reward = "-" if row["reward"] is None else f"{row['reward']:.4f}"
        lines.append(f"| {rank} | {reward} | {funnel} | {speed_cell(row)} | {versus} | {lr} | "
                     f"{row.get('suite_vs_adam') or '-'} | {rule} |")
    return "\n".join(lines)


def _minutes(seconds):
    return f"{int(seconds // 60)} min {seconds % 60:02.0f} s"


def summary_block(rows, last_line, counts, cache_hits, parts, spans, wall, command):
    """The README's block: the command, the table, the last line, the candidates and the stage times."""
    total = sum(counts.values())
    stages = ", ".join(f"{stage} {_minutes(seconds)}" for stage, seconds in spans.items())
    return "\n".join([
        f"`{command}` in an empty folder:", "", table(rows), "", "Its last line:", "", "```", last_line, "```", "",
        f"Of the {total} candidates, " + ", ".join(f"{n} {status}" for status, n in counts.items())
        + f"; {cache_hits} cache hits. Per quarter of the budget the mean sample reward was "
        + ", ".join(f"{mean:.3f}" for mean, _ in parts) + " and the failing fraction "
        + ", ".join(f"{failing:.2f}" for _, failing in parts) + " (one run: a description, not a measurement over "
        "seeds).", "", f"Wall time {_minutes(wall)}: {stages}."])


def write_page(path, block, machine_line, figure):
    text = "\n".join([
        "# The main job", "", "Written by `python benchmarks/main_job.py` (do not edit by hand; run it again).", "",
        block, "", f"Machine: {machine_line}.", "", f"Figure 4 (reward of every candidate in proposal order):", "",
        f"![Figure 4 of the main job]({figure.name})", ""])
    Path(path).write_text(text)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--doc", type=Path, default=PAGE, help=f"the page to write (default: {PAGE.relative_to(ROOT)})")
    parser.add_argument("--readme", nargs="?", const=README, type=Path, default=None,
                        help="also rewrite this README's main-job block (default file: README.md)")
    parser.add_argument("--folder", type=Path, default=None, help="run in this empty folder (default: a new one)")
    parser.add_argument("flags", nargs="*", help="search flags, after --: none is the bare search")
    args = parser.parse_args(argv)
    machine = machine_line()
    folder = args.folder or Path(tempfile.mkdtemp(prefix="main-job-"))
    folder.mkdir(parents=True, exist_ok=True)
    if any(folder.iterdir()):
        sys.exit(f"--folder {folder} is not empty; the main job starts in an empty folder")
    stdout, wall = run_search(folder, args.flags)
    uri = f"sqlite:///{folder.resolve() / 'mlruns' / 'mlflow.db'}"
    parent = the_search_run(uri)
    children = candidate_runs(uri, parent.info.run_id)
    rows = read_leaderboard(uri, parent.info.run_id)
    counts, cache_hits = statuses(children)
    command = " ".join(["keras-nos search", *args.flags])
    block = summary_block(rows, stdout.strip().splitlines()[-1] if stdout.strip() else summary(rows), counts,
                          cache_hits, quarters(children), stage_seconds(uri, parent, children), wall, command)
    figure = args.doc.parent / ("bare-search-figure4.png" if not args.flags else f"{args.doc.stem}-figure4.png")
    local = client(uri).download_artifacts(parent.info.run_id, "reward_vs_samples.png", str(folder))
    shutil.copyfile(local, figure)
    write_page(args.doc, block, machine, figure)
    if args.readme:
        write_block(args.readme, "main-job", block, "benchmarks/main_job.py")
    print(block)
    print(f"wrote {args.doc} and {figure}" + (f"; rewrote the main-job block of {args.readme}" if args.readme else ""))


if __name__ == "__main__":
    main()
