"""Speed to a target: how many times fewer steps an optimizer needs than a reference to reach the score it ends at.

The one definition that the search's funnel (``keras_nos/search/funnel.py``) and ``keras-nos compare``
(``compare/report.py``) use. For one training of a rule and one of the reference (tuned Adam) on the same seed:

- the *target* is the rule's final value (the last point of its curve);
- ``steps_to_target(curve, target)`` is the first step at which a curve reaches the target, linearly
  interpolated between the last point short of it and the first point at or past it;
- the speedup is ``reference steps to the target / rule steps to the target``.

This is VeLO's measure (the steps tuned Adam needs to reach the loss the optimizer reaches), with one change:
the rule's steps are the first step its own curve reaches its final value, not the length of its training.
Both curves are then measured the same way, so an optimizer against an equal one (Adam against Adam on
another seed) scores 1 in expectation; with the training's length as the rule's steps, a curve that
flattens before its end would score below 1 against itself. A rule that ends worse than the reference
scores below 1 (the reference got there sooner); one that ends where the reference never gets has a
speedup of at least ``reference's steps / rule steps``: a lower bound, flagged ``lower_bound``. A reference
trained only as long as the rule caps what can be measured near 1 for such a rule, so the search's funnel gives
its references a longer curve (``speedup_reward.REFERENCE_LENGTH``).

Over seeds, the speedups are paired (rule and reference share a seed) and summarised on the log scale, where a
ratio's noise is symmetric: the geometric mean, with a 95% Student-t interval over the seeds' log speedups. A
lower bound enters as its value, which can only pull the interval down: a rule is never called faster on the
strength of a bound. One seed gives no interval.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Optional, Union

import numpy as np

CONFIDENCE = 0.95


def _reaches(values: np.ndarray, target: float, higher_is_better: bool) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return values >= target if higher_is_better else values <= target


def steps_to_target(steps: Sequence[float], values: Sequence[float], target: float,
                    higher_is_better: bool = True) -> Optional[float]:
    """The first step at which the curve (``steps``, ``values``) reaches ``target``, linearly interpolated
    between the point before and the first point that reaches it; None when it never does (NaN points never
    reach). A curve that starts at or past the target reaches it at its first step."""
    steps, values = np.asarray(steps, dtype=float), np.asarray(values, dtype=float)
    hits = np.nonzero(_reaches(values, target, higher_is_better))[0]
    if not len(hits):
        return None
    i = int(hits[0])
    if i == 0 or not math.isfinite(values[i - 1]) or values[i] == values[i - 1]:
        return float(steps[i])
    fraction = (target - values[i - 1]) / (values[i] - values[i - 1])
    return float(steps[i - 1] + fraction * (steps[i] - steps[i - 1]))


@dataclasses.dataclass(frozen=True)
class SeedSpeedup:
    """One seed's speedup: ``value`` = ``reference_steps / steps``; ``lower_bound`` when the reference never
    reached the target within ``reference_steps`` (its whole training)."""

    value: float
    steps: float
    reference_steps: float
    target: float
    lower_bound: bool = False


def speedup(reference_steps: Sequence[float], reference_values: Sequence[float], steps: Sequence[float],
            values: Sequence[float], higher_is_better: bool = True) -> Optional[SeedSpeedup]:
    """The speedup of the curve (``steps``, ``values``) over the reference curve at the curve's final value.

    None when there is nothing to measure: an empty curve, a final value that is not finite (diverged), a
    reference curve with no finite point, or a target reached at step 0 (a rule that ends where it began).
    """
    values = np.asarray(values, dtype=float)
    reference_values = np.asarray(reference_values, dtype=float)
    if not len(values) or not math.isfinite(values[-1]) or not np.isfinite(reference_values).any():
        return None
    target = float(values[-1])
    own = steps_to_target(steps, values, target, higher_is_better)
    if not own or own <= 0:
        return None
    reached = steps_to_target(reference_steps, reference_values, target, higher_is_better)
    if reached is None:
        last = float(np.asarray(reference_steps, dtype=float)[-1])
        return SeedSpeedup(last / own, own, last, target, lower_bound=True)
    return SeedSpeedup(reached / own, own, reached, target)


@dataclasses.dataclass(frozen=True)
class SpeedupInterval:
    """The speedups of several seeds: geometric ``mean``, its ``low``-``high`` interval (None with one seed),
    the ``seeds`` counted and how many of them were ``lower_bounds``."""

    mean: float
    low: Optional[float]
    high: Optional[float]
    seeds: int
    lower_bounds: int = 0

    def verdict(self) -> Optional[str]:
        """"faster" when the whole interval is above 1, "slower" when below, "no different", or None without
        an interval."""
        if self.low is None:
            return None
        return "faster" if self.low > 1 else "slower" if self.high < 1 else "no different"


def interval(seed_speedups: Sequence[Union[SeedSpeedup, float, None]],
             confidence: float = CONFIDENCE) -> Optional[SpeedupInterval]:
    """The geometric mean of ``seed_speedups`` (``SeedSpeedup``s or plain numbers; None entries skipped) with a
    ``confidence`` Student-t interval over their logarithms; None when there is none."""
    kept = [s for s in seed_speedups if s is not None]
    ratios = np.array([s.value if isinstance(s, SeedSpeedup) else float(s) for s in kept], dtype=float)
    bounds = sum(bool(getattr(s, "lower_bound", False)) for s in kept)
    if not len(ratios) or not np.all(ratios > 0) or not np.all(np.isfinite(ratios)):
        return None
    logs = np.log(ratios)
    mean = float(np.exp(logs.mean()))
    if len(logs) < 2:
        return SpeedupInterval(mean, None, None, 1, bounds)
    from scipy import stats

    half = stats.t.ppf(0.5 + confidence / 2, len(logs) - 1) * logs.std(ddof=1) / math.sqrt(len(logs))
    return SpeedupInterval(mean, float(np.exp(logs.mean() - half)), float(np.exp(logs.mean() + half)),
                           len(logs), bounds)


def describe(summary: Optional[SpeedupInterval]) -> str:
    """"1.23x (0.98-1.51)" for an interval, "1.23x (1 seed, no interval)", or "-"."""
    if summary is None:
        return "-"
    at_least = "≥" if summary.lower_bounds else ""
    if summary.low is None:
        return f"{at_least}{summary.mean:.2f}x (1 seed, no interval)"
    return f"{at_least}{summary.mean:.2f}x ({summary.low:.2f}-{summary.high:.2f})"
