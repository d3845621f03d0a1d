"""The leaderboard of a search: rows, the text table, CSV, and reading it back from MLflow."""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Optional, TypedDict, Union

import numpy as np

from keras_nos.tasks.speedup import SeedSpeedup, interval
from keras_nos.dsl.tokens import DECAY_OPERAND_TOKENS
from keras_nos.tracking import find_search_run, read_search, speedup_metrics

if TYPE_CHECKING:
    from keras_nos.tasks.speedup import SpeedupInterval
    from keras_nos.search.space import SearchSpace
    from keras_nos.tracking import Trial

COLUMNS = ("rank", "rule", "reward", "funnel_reward", "funnel_std", "funnel_seeds", "speedup", "speedup_low",
           "speedup_high", "vs_adam", "vs_adam_se", "best_learning_rate", "fingerprint", "tokens", "reference",
           "raw_rule", "suite_vs_adam", "best_reference")
REFERENCE = "adam"  # the tuned optimizer every funnel runs beside the found rules
SIGNIFICANT_ERRORS = 2.0  # a difference from Adam counts when it is more than this many standard errors


class LeaderboardRow(TypedDict, total=False):
    """One row of a leaderboard (a plain dict at run time): one behaviour (fingerprint) of a search, or an Adam
    reference. ``build_leaderboard`` and ``read_leaderboard`` fill every key; ``None`` where nothing was measured
    (no funnel, one seed, no speedup). ``write_csv`` writes the keys of ``COLUMNS``."""

    rank: int
    rule: str  # the simplified formula
    raw_rule: str  # the text the search evaluated
    reward: Optional[float]  # the proxy reward (the best of the behaviour's trainings); None for an untrained reference
    best_learning_rate: Optional[float]
    fingerprint: str
    tokens: str  # the strategy's tokens, space-separated; "" for a reference
    reference: bool  # an Adam reference
    funnel_reward: Optional[float]  # mean over the funnel's seeds
    funnel_std: Optional[float]
    funnel_seeds: Optional[int]
    speedup: Optional[float]  # geometric mean over the seeds of the speed to a target over the best reference
    speedup_low: Optional[float]  # its 95% interval (None under 2 seeds)
    speedup_high: Optional[float]
    speedup_bounds: int  # seeds on which the speedup is a lower bound (the reference never reached the target)
    vs_adam: Optional[float]  # final-score difference from the best reference, paired by seed
    vs_adam_se: Optional[float]
    suite_vs_adam: Optional[str]  # "wins/tasks" against Adam on the compare suite
    best_reference: Optional[str]  # the rule text of the best Adam reference
    references_compared: tuple[str, ...]
    search_epochs: Optional[int]
    funnel_epochs: Optional[int]


def reference_rules(space: SearchSpace) -> tuple[str, ...]:
    """The Adam references of a search in ``space``: tuned ``adam`` always, and Adam times each decay operand
    (``ld``, ``cd``, ``rd``: the schedules a rule of the space can express internally) that the space holds.
    "Beats Adam" means beating the best of them (``best_reference``)."""
    return (REFERENCE,) + tuple(f"{REFERENCE}*{decay}" for decay in DECAY_OPERAND_TOKENS if decay in space.operands)


def best_reference(funnel: Mapping[str, Sequence[float]], references: Mapping[str, str]) -> Optional[str]:
    """The fingerprint, among ``references`` ({fingerprint: rule text}), with the highest mean funnel reward over
    the seeds all of them ran (paired by seed); the first reference on a tie, or when none has a funnel result."""
    trained = [fingerprint for fingerprint in references if funnel.get(fingerprint)]
    if not trained:
        return next(iter(references), None)
    seeds = min(len(funnel[fingerprint]) for fingerprint in trained)
    return max(trained, key=lambda fingerprint: (np.mean(funnel[fingerprint][:seeds]), -trained.index(fingerprint)))


def funnel_statistics(funnel: Mapping[str, Sequence[float]],
                      reference: Optional[str] = None) -> dict[str, dict[str, Any]]:
    """fingerprint -> {"mean", "std", "seeds", "vs_adam", "vs_adam_se"} from each rule's funnel rewards by seed.

    ``funnel`` maps fingerprint -> [reward with seed 0, seed 1, ...]. ``vs_adam`` is the mean over the
    seeds both ran of (rule - ``reference``), the fingerprint of tuned Adam, paired by seed: a seed that
    is kind to every optimizer cancels out. ``vs_adam_se`` is its standard error (None under 2 seeds).
    """
    adam = funnel.get(reference) or []
    statistics: dict[str, dict[str, Any]] = {}
    for fingerprint, rewards in funnel.items():
        entry: dict[str, Any] = {"mean": float(np.mean(rewards)), "std": float(np.std(rewards)), "seeds": len(rewards),
                 "vs_adam": None, "vs_adam_se": None}
        differences = np.subtract(rewards[:len(adam)], adam[:len(rewards)])
        if fingerprint != reference and len(differences):
            entry["vs_adam"] = float(differences.mean())
            if len(differences) > 1:
                entry["vs_adam_se"] = float(differences.std(ddof=1) / math.sqrt(len(differences)))
        statistics[fingerprint] = entry
    return statistics


def verdict(row: Mapping[str, Any]) -> Optional[str]:
    """"better" or "worse" than tuned Adam by more than two standard errors, "no different", or None."""
    difference, error = row.get("vs_adam"), row.get("vs_adam_se")
    if difference is None or error is None:
        return None
    if abs(difference) <= SIGNIFICANT_ERRORS * error:
        return "no different"
    return "better" if difference > 0 else "worse"


def speed_verdict(row: Mapping[str, Any]) -> Optional[str]:
    """"faster" or "slower" than tuned Adam when the speedup's 95% interval lies above or below 1, "no different"
    when it holds 1, None without an interval (one seed, or no speedup)."""
    if row.get("speedup_low") is None:
        return None
    return "faster" if row["speedup_low"] > 1 else "slower" if row["speedup_high"] < 1 else "no different"


SPEED_VERDICTS: dict[Optional[str], str] = {"faster": "faster than {against} (its 95% interval is above 1)",
                  "slower": "slower than {against} (its 95% interval is below 1)",
                  "no different": "not distinguishable from {against} in speed (its 95% interval holds 1)",
                  None: "no interval with 1 seed"}


def _against(row: Mapping[str, Any]) -> str:
    """"tuned Adam" when Adam is the only reference, else "the best Adam reference (adam*cd)"."""
    if len(row.get("references_compared") or ()) <= 1:
        return "tuned Adam"
    return f"the best Adam reference ({row['best_reference']})"


def summary(rows: Sequence[LeaderboardRow]) -> str:
    """One line on the winner against the best Adam reference in the funnel: its speed to a target with the 95%
    interval (the verdict), the final-score difference beside it, which reference was best, the funnel's training
    length and, when it ran, the suite."""
    top = next((row for row in rows if not row["reference"]), None)
    if top is None or top.get("vs_adam") is None:
        return "No funnel against tuned Adam ran: the leaderboard ranks by one training each."
    seeds, against = top["funnel_seeds"], _against(top)
    if top.get("speedup") is None:
        text = f"Winner {top['rule']}: no speedup over {against} measured (no curve to read, or a diverged one);"
    else:
        bound = f" (at least: {against} never reached its final score on some seeds)" if top.get("speedup_bounds") \
            else ""
        whose = "tuned Adam's" if against == "tuned Adam" else f"the best Adam reference's ({top['best_reference']})"
        text = (f"Winner {top['rule']}: {_speed(top)} {whose} speed to its final validation score{bound} over "
                f"{seeds} paired seed{'s' if seeds != 1 else ''}: "
                f"{SPEED_VERDICTS[speed_verdict(top)].format(against=against)};")
    error = f" ± {top['vs_adam_se']:.4f}" if top.get("vs_adam_se") is not None else ""
    text += f" final score {top['vs_adam']:+.4f}{error} against {top.get('best_reference') or 'Adam'}."
    if len(top.get("references_compared") or ()) > 1:
        text += (f" The Adam references ({', '.join(top['references_compared'])}) had the same grid and seeds; "
                 f"{top['best_reference']} had the best mean funnel reward.")
    text += _length_note(top)
    if top.get("suite_vs_adam"):
        wins, tasks = top["suite_vs_adam"].split("/")
        text += f" On the compare suite it beat Adam on {wins} of {tasks} tasks."
    return text


def _speed(row: Mapping[str, Any]) -> str:
    """"1.23x (95% 1.05-1.44)" or "1.23x"."""
    if row.get("speedup_low") is None:
        return f"{row['speedup']:.2f}x"
    return f"{row['speedup']:.2f}x (95% {row['speedup_low']:.2f}-{row['speedup_high']:.2f})"


def _length_note(row: Mapping[str, Any]) -> str:
    """Whether the funnel trained as long as the search's candidates, and why not when it did not."""
    search_epochs, funnel_epochs = row.get("search_epochs"), row.get("funnel_epochs")
    if search_epochs is None or funnel_epochs is None:
        return ""
    if search_epochs == funnel_epochs:
        return f" The funnel trained {funnel_epochs} epoch{'s' * (funnel_epochs != 1)}, as the search did."
    return (f" The funnel trained {funnel_epochs} epoch{'s' * (funnel_epochs != 1)} against the search's {search_epochs}, because funnel_epochs "
            f"was set: it measures another training length than the one the search ranked by.")


def speedup_statistics(speedups: Optional[Mapping[str, Mapping[int, Optional[Mapping[str, Any]]]]]
                       ) -> dict[str, Optional[SpeedupInterval]]:
    """fingerprint -> ``SpeedupInterval`` from {fingerprint: {seed: {"value", "lower_bound", ...} or None}}."""
    statistics: dict[str, Optional[SpeedupInterval]] = {}
    for fingerprint, by_seed in (speedups or {}).items():
        seeds = [SeedSpeedup(entry["value"], 0.0, 0.0, 0.0, entry.get("lower_bound", False)) if entry else None
                 for _, entry in sorted(by_seed.items())]
        statistics[fingerprint] = interval(seeds)
    return statistics


def build_leaderboard(trials: Sequence[Trial], funnel: Mapping[str, Sequence[float]],
                      suite: Optional[Mapping[str, str]] = None,
                      reference: Union[str, Mapping[str, str], None] = None,
                      speedups: Optional[Mapping[str, Mapping[str, Mapping[int, Optional[Mapping[str, Any]]]]]] = None,
                      lengths: Optional[tuple[Optional[int], Optional[int]]] = None) -> list[LeaderboardRow]:
    """Rows of ``trials`` sorted by funnel reward (when the funnel ran) then proxy reward; one row per fingerprint.

    ``rule`` is the trial's simplified formula, ``raw_rule`` the text the search evaluated.

    ``funnel`` maps fingerprint -> the funnel's rewards by seed (``funnel_statistics``). ``reference`` names the
    Adam references, {fingerprint: rule text} (a single fingerprint is plain ``adam``); left out, they are the
    trials marked ``reference``. Their rows have ``reference`` true and no tokens; a reference's ``reward`` is its
    training as the candidates were trained (a trial of stage ``reference``), None ("-") when it has only funnel
    trainings. ``vs_adam`` and ``speedup`` compare with the best reference (``best_reference``, by mean funnel
    reward), named in each row's ``best_reference``. ``suite`` maps fingerprint -> "wins/tasks" against Adam on
    the compare suite (``search(funnel_suite=...)``). ``speedups`` maps reference fingerprint -> fingerprint ->
    {seed: that seed's speed over the reference} (``keras_nos/tasks/speedup.py``), summarised as ``speedup``
    (geometric mean) with its 95% interval ``speedup_low``-``speedup_high``. ``lengths`` is (the search's epochs,
    the funnel's), for the summary.
    """
    references = _references(trials, reference)
    best: dict[str, LeaderboardRow] = {}
    for trial in trials:
        if trial.status != "ok" or trial.stage == "funnel":
            if trial.reference:  # a reference without a proxy reward (an older search's, or one that failed)
                best.setdefault(trial.fingerprint, _row(trial, reward=None))
        elif best.get(trial.fingerprint, {}).get("reward") is None or trial.reward > best[trial.fingerprint]["reward"]:
            best[trial.fingerprint] = _row(trial, trial.reward)
    chosen = best_reference(funnel, references)
    statistics = funnel_statistics(funnel, chosen)
    speeds = speedup_statistics((speedups or {}).get(chosen))
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
        row["best_reference"] = references.get(chosen)
        row["references_compared"] = tuple(references.values())
        row["reference"] = row["reference"] or fingerprint in references
    rows = sorted(best.values(), key=lambda r: (r["funnel_reward"] is None, -round(r["funnel_reward"] or 0.0, 9),
                                               r["reward"] is None, -(r["reward"] or 0.0), r["fingerprint"]))
    for rank, row in enumerate(rows, 1):  # ties: stable by fingerprint
        row["rank"] = rank
    return rows


def _references(trials: Sequence[Trial], reference: Union[str, Mapping[str, str], None]) -> dict[str, str]:
    """{fingerprint: rule text} of the Adam references: ``reference`` as given, else the trials marked so (a
    trial of stage ``reference`` names its reference's text; a funnel training may carry a found rule's)."""
    if isinstance(reference, str):
        return {reference: REFERENCE}
    if reference is not None:
        return dict(reference)
    references: dict[str, str] = {}
    for trial in sorted((t for t in trials if t.reference), key=lambda t: t.stage != "reference"):
        references.setdefault(trial.fingerprint, trial.rule)
    order = (REFERENCE,) + tuple(f"{REFERENCE}*{decay}" for decay in DECAY_OPERAND_TOKENS)
    return dict(sorted(references.items(), key=lambda item: order.index(item[1]) if item[1] in order else len(order)))


def _row(trial: Trial, reward: Optional[float]) -> LeaderboardRow:
    return {"rule": trial.simplified_rule or trial.rule, "raw_rule": trial.rule, "reward": reward,
            "best_learning_rate": trial.result.best_learning_rate if reward is not None else None,
            "fingerprint": trial.fingerprint, "tokens": " ".join(trial.tokens or ()), "reference": trial.reference}


def format_leaderboard(rows: Sequence[LeaderboardRow], limit: int = 20) -> str:
    """A fixed-width text table of the top ``limit`` rows."""
    suite = any(row.get("suite_vs_adam") for row in rows)  # the column appears when the funnel ran the suite
    against = next((row["best_reference"] for row in rows if row.get("best_reference")), REFERENCE)
    versus = f"vs {against} ± se"
    lines = [f"{'rank':>4}  {'reward':>6}  {'funnel':>13}  {'speedup (95%)':>20}  {versus:>16}  {'lr':>7}  "
             + ("suite wins  " if suite else "") + f"{'fingerprint':16}  rule"]
    for row in rows[:limit]:
        funnel = f"{row['funnel_reward']:.4f}±{row['funnel_std']:.4f}" if row["funnel_reward"] is not None else "-"
        lr = f"{row['best_learning_rate']:g}" if row["best_learning_rate"] else "-"
        wins = f"{row.get('suite_vs_adam') or '-':>10}  " if suite else ""
        reward = f"{row['reward']:.4f}" if row["reward"] is not None else "-"
        lines.append(f"{row['rank']:>4}  {reward:>6}  {funnel:>13}  {speed_cell(row):>20}  "
                     f"{_versus_adam(row):>16}  {lr:>7}  {wins}"
                     f"{row['fingerprint']:16}  {row['rule']}")
    return "\n".join(lines)


def speed_cell(row: Mapping[str, Any]) -> str:
    """"1.23x 1.05-1.44*": the speedup over tuned Adam and its 95% interval, starred when the interval is above 1
    (the rule beats Adam); "≥" when on some seed Adam never reached the rule's final score (a lower bound)."""
    if row.get("speedup") is None:
        return "-"
    bound = "≥" if row.get("speedup_bounds") else ""
    if row.get("speedup_low") is None:
        return f"{bound}{row['speedup']:.2f}x"
    star = "*" if speed_verdict(row) == "faster" else ""
    return f"{bound}{row['speedup']:.2f}x {row['speedup_low']:.2f}-{row['speedup_high']:.2f}{star}"


def _versus_adam(row: Mapping[str, Any]) -> str:
    """"+0.0040±0.0012": the final-score difference from Adam paired by seed, and its standard error."""
    if row.get("vs_adam") is None:
        return "-"
    error = f"±{row['vs_adam_se']:.4f}" if row.get("vs_adam_se") is not None else ""
    return f"{row['vs_adam']:+.4f}{error}"


def write_csv(rows: Sequence[LeaderboardRow], path: Union[str, os.PathLike]) -> None:
    """Write ``rows`` to the CSV file ``path``: one line per row, the keys of ``COLUMNS``."""
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({key: row.get(key) for key in COLUMNS})


def read_leaderboard(uri: str, run_id: str) -> list[LeaderboardRow]:
    """Rows of a finished or running search, read from its MLflow runs."""
    trials, funnel, suite, speedups = read_search(uri, run_id, speedups=True)
    params = find_search_run(uri, run_id).data.params
    lengths = tuple(int(params[key]) if params.get(key, "None") != "None" else None
                    for key in ("search_epochs", "funnel_epochs"))
    references = _references(trials, None)
    by_reference = {fingerprint: speedups.get(speedup_metrics(rule)[0], {}) for fingerprint, rule in references.items()}
    return build_leaderboard(trials, funnel, suite, reference=references, speedups=by_reference,
                             lengths=lengths if None not in lengths else None)
