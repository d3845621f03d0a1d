"""The leaderboard of a search: rows, the text table, CSV, and reading it back from MLflow."""

import csv
import math

import numpy as np

from keras_nos.tracking import read_search

COLUMNS = ("rank", "rule", "reward", "funnel_reward", "funnel_std", "funnel_seeds", "vs_adam", "vs_adam_se",
           "best_learning_rate", "fingerprint", "tokens", "reference", "raw_rule", "suite_vs_adam")
REFERENCE = "adam"  # the tuned optimizer every funnel runs beside the found rules
SIGNIFICANT_ERRORS = 2.0  # a difference from Adam counts when it is more than this many standard errors


def funnel_statistics(funnel, reference=None):
    """fingerprint -> {"mean", "std", "seeds", "vs_adam", "vs_adam_se"} from each rule's funnel rewards by seed.

    ``funnel`` maps fingerprint -> [reward with seed 0, seed 1, ...]. ``vs_adam`` is the mean over the
    seeds both ran of (rule - ``reference``), the fingerprint of tuned Adam, paired by seed: a seed that
    is kind to every optimizer cancels out. ``vs_adam_se`` is its standard error (None under 2 seeds).
    """
    adam = funnel.get(reference) or []
    statistics = {}
    for fingerprint, rewards in funnel.items():
        entry = {"mean": float(np.mean(rewards)), "std": float(np.std(rewards)), "seeds": len(rewards),
                 "vs_adam": None, "vs_adam_se": None}
        differences = np.subtract(rewards[:len(adam)], adam[:len(rewards)])
        if fingerprint != reference and len(differences):
            entry["vs_adam"] = float(differences.mean())
            if len(differences) > 1:
                entry["vs_adam_se"] = float(differences.std(ddof=1) / math.sqrt(len(differences)))
        statistics[fingerprint] = entry
    return statistics


def verdict(row):
    """"better" or "worse" than tuned Adam by more than two standard errors, "no different", or None."""
    difference, error = row.get("vs_adam"), row.get("vs_adam_se")
    if difference is None or error is None:
        return None
    if abs(difference) <= SIGNIFICANT_ERRORS * error:
        return "no different"
    return "better" if difference > 0 else "worse"


def summary(rows):
    """One line on the winner against tuned Adam in the funnel and, when it ran, on the compare suite."""
    top = next((row for row in rows if not row["reference"]), None)
    if top is None or top.get("vs_adam") is None:
        return "No funnel against tuned Adam ran: the leaderboard ranks by one training each."
    seeds = top["funnel_seeds"]
    text = f"Winner {top['rule']}: {top['vs_adam']:+.4f}"
    if top.get("vs_adam_se") is None:
        text += " against tuned Adam with 1 seed (no standard error)."
    else:
        judged = {"better": f"beats tuned Adam by more than {SIGNIFICANT_ERRORS:g} standard errors",
                  "worse": "is worse than tuned Adam",
                  "no different": f"not distinguishable from tuned Adam (within {SIGNIFICANT_ERRORS:g} standard errors)"}
        text += f" ± {top['vs_adam_se']:.4f} against tuned Adam over {seeds} paired seeds: {judged[verdict(top)]}."
    if top.get("suite_vs_adam"):
        wins, tasks = top["suite_vs_adam"].split("/")
        text += f" On the compare suite it beat Adam on {wins} of {tasks} tasks."
    return text


def build_leaderboard(trials, funnel, suite=None, reference=None):
    """Rows of ``trials`` sorted by funnel reward (when the funnel ran) then proxy reward; one row per fingerprint.

    ``rule`` is the trial's simplified formula, ``raw_rule`` the text the search evaluated.

    ``funnel`` maps fingerprint -> the funnel's rewards by seed (``funnel_statistics``);
    the rows of reference optimizers (like Adam) have ``reference`` true and no tokens. ``suite`` maps fingerprint ->
    "wins/tasks" against Adam on the compare suite (``search(funnel_suite=...)``).
    """
    best = {}
    for trial in trials:
        if trial.status != "ok":
            continue
        if trial.fingerprint not in best or trial.reward > best[trial.fingerprint]["reward"]:
            best[trial.fingerprint] = {
                "rule": trial.simplified_rule or trial.rule,
                "raw_rule": trial.rule,
                "reward": trial.reward,
                "best_learning_rate": trial.result.best_learning_rate,
                "fingerprint": trial.fingerprint,
                "tokens": " ".join(trial.tokens or ()),
                "reference": trial.reference,
            }
    statistics = funnel_statistics(funnel, reference)
    for fingerprint, row in best.items():
        entry = statistics.get(fingerprint, {})
        row["funnel_reward"], row["funnel_std"] = entry.get("mean"), entry.get("std")
        row["funnel_seeds"] = entry.get("seeds")
        row["vs_adam"], row["vs_adam_se"] = entry.get("vs_adam"), entry.get("vs_adam_se")
        row["suite_vs_adam"] = (suite or {}).get(fingerprint)
    rows = sorted(best.values(), key=lambda r: (r["funnel_reward"] is None, -round(r["funnel_reward"] or 0.0, 9),
                                               -r["reward"], r["fingerprint"]))  # ties: stable by fingerprint
    for rank, row in enumerate(rows, 1):
        row["rank"] = rank
    return rows


def format_leaderboard(rows, limit=20):
    """A fixed-width text table of the top ``limit`` rows."""
    suite = any(row.get("suite_vs_adam") for row in rows)  # the column appears when the funnel ran the suite
    lines = [f"{'rank':>4}  {'reward':>6}  {'funnel':>13}  {'vs adam ± se':>16}  {'lr':>7}  "
             + ("suite wins  " if suite else "") + f"{'fingerprint':16}  rule"]
    for row in rows[:limit]:
        funnel = f"{row['funnel_reward']:.4f}±{row['funnel_std']:.4f}" if row["funnel_reward"] is not None else "-"
        lr = f"{row['best_learning_rate']:g}" if row["best_learning_rate"] else "-"
        wins = f"{row.get('suite_vs_adam') or '-':>10}  " if suite else ""
        lines.append(f"{row['rank']:>4}  {row['reward']:.4f}  {funnel:>13}  {_versus_adam(row):>16}  {lr:>7}  {wins}"
                     f"{row['fingerprint']:16}  {row['rule']}")
    return "\n".join(lines)


def _versus_adam(row):
    """"+0.0040±0.0012*": the paired difference from Adam and its standard error, starred beyond two errors."""
    if row.get("vs_adam") is None:
        return "-"
    error = f"±{row['vs_adam_se']:.4f}" if row.get("vs_adam_se") is not None else ""
    return f"{row['vs_adam']:+.4f}{error}{'*' if verdict(row) in ('better', 'worse') else ''}"


def write_csv(rows, path):
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({key: row.get(key) for key in COLUMNS})


def read_leaderboard(uri, run_id):
    """Rows of a finished or running search, read from its MLflow runs."""
    from keras_nos.dsl.fingerprint import fingerprint

    trials, funnel, suite = read_search(uri, run_id)
    return build_leaderboard(trials, funnel, suite, reference=fingerprint(REFERENCE))
