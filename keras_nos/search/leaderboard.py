"""The leaderboard of a search: rows, the text table, CSV, and reading it back from MLflow."""

import csv
import math

import numpy as np

from keras_nos.compare.speedup import SeedSpeedup, interval
from keras_nos.tracking import find_search_run, read_search

COLUMNS = ("rank", "rule", "reward", "funnel_reward", "funnel_std", "funnel_seeds", "speedup", "speedup_low",
           "speedup_high", "vs_adam", "vs_adam_se", "best_learning_rate", "fingerprint", "tokens", "reference",
           "raw_rule", "suite_vs_adam")
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


def speed_verdict(row):
    """"faster" or "slower" than tuned Adam when the speedup's 95% interval lies above or below 1, "no different"
    when it holds 1, None without an interval (one seed, or no speedup)."""
    if row.get("speedup_low") is None:
        return None
    return "faster" if row["speedup_low"] > 1 else "slower" if row["speedup_high"] < 1 else "no different"


SPEED_VERDICTS = {"faster": "faster than tuned Adam (its 95% interval is above 1)",
                  "slower": "slower than tuned Adam (its 95% interval is below 1)",
                  "no different": "not distinguishable from tuned Adam in speed (its 95% interval holds 1)",
                  None: "no interval with 1 seed"}


def summary(rows):
    """One line on the winner against tuned Adam in the funnel: its speed to a target with the 95% interval (the
    verdict), the final-score difference beside it, the funnel's training length and, when it ran, the suite."""
    top = next((row for row in rows if not row["reference"]), None)
    if top is None or top.get("vs_adam") is None:
        return "No funnel against tuned Adam ran: the leaderboard ranks by one training each."
    seeds = top["funnel_seeds"]
    if top.get("speedup") is None:
        text = f"Winner {top['rule']}: no speedup over tuned Adam measured (no curve to read, or a diverged one);"
    else:
        bound = " (at least: tuned Adam never reached its final score on some seeds)" if top.get("speedup_bounds") \
            else ""
        text = (f"Winner {top['rule']}: {_speed(top)} tuned Adam's speed to its final validation score{bound} over "
                f"{seeds} paired seed{'s' if seeds != 1 else ''}: {SPEED_VERDICTS[speed_verdict(top)]};")
    error = f" ± {top['vs_adam_se']:.4f}" if top.get("vs_adam_se") is not None else ""
    text += f" final score {top['vs_adam']:+.4f}{error} against Adam."
    text += _length_note(top)
    if top.get("suite_vs_adam"):
        wins, tasks = top["suite_vs_adam"].split("/")
        text += f" On the compare suite it beat Adam on {wins} of {tasks} tasks."
    return text


def _speed(row):
    """"1.23x (95% 1.05-1.44)" or "1.23x"."""
    if row.get("speedup_low") is None:
        return f"{row['speedup']:.2f}x"
    return f"{row['speedup']:.2f}x (95% {row['speedup_low']:.2f}-{row['speedup_high']:.2f})"


def _length_note(row):
    """Whether the funnel trained as long as the search's candidates, and why not when it did not."""
    search_epochs, funnel_epochs = row.get("search_epochs"), row.get("funnel_epochs")
    if search_epochs is None or funnel_epochs is None:
        return ""
    if search_epochs == funnel_epochs:
        return f" The funnel trained {funnel_epochs} epochs, as the search did."
    return (f" The funnel trained {funnel_epochs} epochs against the search's {search_epochs}, because funnel_epochs "
            f"was set: it measures another training length than the one the search ranked by.")


def speedup_statistics(speedups):
    """fingerprint -> ``SpeedupInterval`` from {fingerprint: {seed: {"value", "lower_bound", ...} or None}}."""
    statistics = {}
    for fingerprint, by_seed in (speedups or {}).items():
        seeds = [SeedSpeedup(entry["value"], 0.0, 0.0, 0.0, entry.get("lower_bound", False)) if entry else None
                 for _, entry in sorted(by_seed.items())]
        statistics[fingerprint] = interval(seeds)
    return statistics


def build_leaderboard(trials, funnel, suite=None, reference=None, speedups=None, lengths=None):
    """Rows of ``trials`` sorted by funnel reward (when the funnel ran) then proxy reward; one row per fingerprint.

    ``rule`` is the trial's simplified formula, ``raw_rule`` the text the search evaluated.

    ``funnel`` maps fingerprint -> the funnel's rewards by seed (``funnel_statistics``);
    the rows of reference optimizers (like Adam) have ``reference`` true and no tokens. ``suite`` maps fingerprint ->
    "wins/tasks" against Adam on the compare suite (``search(funnel_suite=...)``). ``speedups`` maps fingerprint
    -> {seed: that seed's speed over tuned Adam} (``keras_nos/compare/speedup.py``), summarised as ``speedup``
    (geometric mean) with its 95% interval ``speedup_low``-``speedup_high``. ``lengths`` is (the search's epochs,
    the funnel's), for the summary.
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
    speeds = speedup_statistics(speedups)
    for fingerprint, row in best.items():
        speed = speeds.get(fingerprint)
        row["speedup"], row["speedup_low"], row["speedup_high"] = (speed.mean, speed.low, speed.high) if speed \
            else (None, None, None)
        row["speedup_bounds"] = speed.lower_bounds if speed else 0
        row["search_epochs"], row["funnel_epochs"] = lengths or (None, None)
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
    lines = [f"{'rank':>4}  {'reward':>6}  {'funnel':>13}  {'speedup (95%)':>20}  {'vs adam ± se':>16}  {'lr':>7}  "
             + ("suite wins  " if suite else "") + f"{'fingerprint':16}  rule"]
    for row in rows[:limit]:
        funnel = f"{row['funnel_reward']:.4f}±{row['funnel_std']:.4f}" if row["funnel_reward"] is not None else "-"
        lr = f"{row['best_learning_rate']:g}" if row["best_learning_rate"] else "-"
        wins = f"{row.get('suite_vs_adam') or '-':>10}  " if suite else ""
        lines.append(f"{row['rank']:>4}  {row['reward']:.4f}  {funnel:>13}  {_speed_cell(row):>20}  "
                     f"{_versus_adam(row):>16}  {lr:>7}  {wins}"
                     f"{row['fingerprint']:16}  {row['rule']}")
    return "\n".join(lines)


def _speed_cell(row):
    """"1.23x 1.05-1.44*": the speedup over tuned Adam and its 95% interval, starred when the interval is above 1
    (the rule beats Adam); "≥" when on some seed Adam never reached the rule's final score (a lower bound)."""
    if row.get("speedup") is None:
        return "-"
    bound = "≥" if row.get("speedup_bounds") else ""
    if row.get("speedup_low") is None:
        return f"{bound}{row['speedup']:.2f}x"
    star = "*" if speed_verdict(row) == "faster" else ""
    return f"{bound}{row['speedup']:.2f}x {row['speedup_low']:.2f}-{row['speedup_high']:.2f}{star}"


def _versus_adam(row):
    """"+0.0040±0.0012": the final-score difference from Adam paired by seed, and its standard error."""
    if row.get("vs_adam") is None:
        return "-"
    error = f"±{row['vs_adam_se']:.4f}" if row.get("vs_adam_se") is not None else ""
    return f"{row['vs_adam']:+.4f}{error}"


def write_csv(rows, path):
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({key: row.get(key) for key in COLUMNS})


def read_leaderboard(uri, run_id):
    """Rows of a finished or running search, read from its MLflow runs."""
    from keras_nos.dsl.fingerprint import fingerprint

    trials, funnel, suite, speedups = read_search(uri, run_id, speedups=True)
    params = find_search_run(uri, run_id).data.params
    lengths = tuple(int(params[key]) if params.get(key, "None") != "None" else None
                    for key in ("search_epochs", "funnel_epochs"))
    return build_leaderboard(trials, funnel, suite, reference=fingerprint(REFERENCE), speedups=speedups,
                             lengths=lengths if None not in lengths else None)
