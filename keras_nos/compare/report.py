"""Tables of a comparison: metric mean ± std per task, ranks, mean rank, and the speedup over Adam.

The speedup is the one of ``speedup.py``, which the search's funnel uses too: the
steps Adam needs to reach the optimizer's final training loss, divided by the
steps the optimizer needs to reach it (mean curves over seeds); ``≥`` when Adam
never gets there (a lower bound), ``-`` when there is nothing to measure (a
diverged curve).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any, Optional

import numpy as np

from keras_nos.tasks.speedup import SeedSpeedup, speedup as curve_speedup

# The functions below take a ``runner.Comparison`` as ``comparison`` (typed Any: runner imports this module) and a
# ``suite.CompareTask`` or its name as ``task``.

REFERENCE = "adam"


def score(metric: float, higher_is_better: bool) -> float:
    """A number to maximise; NaN (diverged) is the worst."""
    if not math.isfinite(metric):
        return -math.inf
    return metric if higher_is_better else -metric


def ranks(comparison: Any, task: Any) -> dict[str, float]:
    """{optimizer: rank} on ``task`` by mean test metric (1 is best; ties share the mean rank)."""
    scores = {spec: score(comparison.outcome(task, spec).mean, task.higher_is_better)
              for spec in comparison.optimizers}
    result = {}
    for spec, value in scores.items():
        better = sum(other > value for other in scores.values())
        equal = sum(other == value for other in scores.values())
        result[spec] = 1 + better + (equal - 1) / 2
    return result


def speedup(comparison: Any, task: Any, spec: str, reference: str = REFERENCE) -> Optional[SeedSpeedup]:
    """The ``speedup.SeedSpeedup`` of ``spec`` over ``reference`` on the mean training-loss curves of ``task``: the
    steps ``reference`` needs to reach ``spec``'s final loss over the steps ``spec`` needs; None when
    there is nothing to measure (no reference, a diverged curve)."""
    if reference not in comparison.optimizers:
        return None
    ref_steps, ref_losses = comparison.outcome(task, reference).mean_curve()
    steps, losses = comparison.outcome(task, spec).mean_curve()
    return curve_speedup(ref_steps, ref_losses, steps, losses, higher_is_better=False)


def speedup_cell(result: Optional[SeedSpeedup]) -> str:
    """"1.23x", "≥1.23x" for a lower bound, "-" for none."""
    return "-" if result is None else f"{'≥' if result.lower_bound else ''}{result.value:.2f}x"


def summary_rows(comparison: Any) -> list[dict[str, Any]]:
    """Per optimizer: mean rank over tasks, tasks where it ranks first, tasks ahead of Adam, speedup per task."""
    task_ranks = {task.name: ranks(comparison, task) for task in comparison.tasks}
    rows = []
    for spec in comparison.optimizers:
        ahead = None
        if REFERENCE in comparison.optimizers and spec != REFERENCE:
            ahead = sum(task_ranks[t.name][spec] < task_ranks[t.name][REFERENCE] for t in comparison.tasks)
        rows.append({
            "optimizer": spec,
            "mean_rank": float(np.mean([task_ranks[t.name][spec] for t in comparison.tasks])),
            "wins": sum(task_ranks[t.name][spec] == 1 for t in comparison.tasks),
            "ahead_of_adam": ahead,
            "speedups": {t.name: speedup(comparison, t, spec) for t in comparison.tasks},
        })
    return sorted(rows, key=lambda r: r["mean_rank"])


def number(value: Optional[float]) -> str:
    if value is None or not math.isfinite(value):
        return "-" if value is None else "diverged"
    return f"{value:.4f}" if value == 0 or 1e-3 <= abs(value) < 1e4 else f"{value:.2e}"


def _cell(outcome: Any) -> str:
    if not math.isfinite(outcome.mean):
        return "diverged"
    return f"{number(outcome.mean)} ± {number(outcome.std)}"


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    align = ["---"] + ["---:"] * (len(header) - 1)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _label(spec: str) -> str:
    return f"`{spec}`"


def results_table(comparison: Any) -> str:
    """Optimizers x tasks: test metric mean ± std over seeds, with the rank in brackets, and the mean rank."""
    task_ranks = {t.name: ranks(comparison, t) for t in comparison.tasks}
    header = ["optimizer"] + [f"{t.name} ({t.metric} {'↑' if t.higher_is_better else '↓'})"
                              for t in comparison.tasks] + ["mean rank"]
    rows = []
    for row in summary_rows(comparison):
        spec = row["optimizer"]
        cells = [f"{_cell(comparison.outcome(t, spec))} ({task_ranks[t.name][spec]:g})" for t in comparison.tasks]
        rows.append([_label(spec)] + cells + [f"{row['mean_rank']:.2f}"])
    return _table(header, rows)


def task_table(comparison: Any, task: Any) -> str:
    """One task: rank, optimizer, chosen learning rate, test metric mean ± std, speedup over Adam."""
    task_ranks = ranks(comparison, task)
    rows = []
    for spec in sorted(comparison.optimizers, key=lambda s: task_ranks[s]):
        outcome = comparison.outcome(task, spec)
        ratio = speedup(comparison, task, spec)
        rows.append([f"{task_ranks[spec]:g}", _label(spec), f"{outcome.best_learning_rate:.3g}", _cell(outcome),
                     speedup_cell(ratio)])
    return _table(["rank", "optimizer", "lr", f"test {task.metric}", "speedup vs adam"], rows)


def summary_table(comparison: Any) -> str:
    """Mean rank over tasks, first places, tasks ahead of Adam, and the speedup over Adam per task."""
    rows = []
    for row in summary_rows(comparison):
        ahead = "-" if row["ahead_of_adam"] is None else f"{row['ahead_of_adam']}/{len(comparison.tasks)}"
        speedups = [speedup_cell(v) for v in row["speedups"].values()]
        rows.append([_label(row["optimizer"]), f"{row['mean_rank']:.2f}", row["wins"], ahead] + speedups)
    header = ["optimizer", "mean rank", "first", "ahead of adam"] + [f"speedup {t.name}" for t in comparison.tasks]
    return _table(header, rows)


def to_markdown(comparison: Any) -> str:
    """The whole report: settings, the results table, one table per task, the summary."""
    budget = comparison.budget
    tuning = (f"a log grid of {budget.trials} learning rates from {budget.low:g} to {budget.high:g}"
              if budget.tuner == "grid" else
              f"an Optuna TPE study of {budget.trials} trials over [{budget.low:g}, {budget.high:g}]")
    parts = [f"Every optimizer: {tuning} per task (seed 0, validation metric), then {budget.seeds} seeds at the "
             f"chosen rate; test metric mean ± std over seeds, rank in brackets. Wall time "
             f"{comparison.wall_time:.0f} s.", "", results_table(comparison), "", "Summary:", "",
             summary_table(comparison)]
    for task in comparison.tasks:
        parts += ["", f"### {task.name}", "", task.description, "", task_table(comparison, task)]
    return "\n".join(parts) + "\n"


def metric_key(spec: str) -> str:
    """``spec`` as an MLflow metric-name fragment."""
    return re.sub(r"[^A-Za-z0-9_.\- /]", "_", spec)[:200]
