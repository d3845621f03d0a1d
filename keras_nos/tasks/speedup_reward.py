"""The search's reward as speed to a target: how many times fewer steps than tuned Adam a rule needs to reach the
validation score it ends at (``keras_nos.tasks.speedup``, the funnel's measure), read at the epoch ends.

Why: over the same 35 rules and 3 seeds (docs/results/noise-ceiling.md), this ranking agrees with itself from seed
to seed better than the final score's (Spearman 0.973 against 0.944), and more so among the best rules, where a
search's choices are made. A final score is partly the seed's; a speedup is paired with Adam on the same seed.

Tuned Adam is the funnel's reference: the grid's best rate at the candidates' length, trained again
``REFERENCE_LENGTH`` times as long at that rate, so that a rule that ends past Adam's final score gets a measured
speedup rather than a bound near 1. It is trained once per evaluator by the one-rule ``Evaluator`` in the same
process, which starts from the weights and batch order every candidate starts from (the batched evaluator too,
``batched.start``), so its score at step 0 is every candidate's: it goes in front of each candidate's epoch-end
curve. A candidate that did not train ("diverged", a failed hurdle, ...) keeps its reward; one whose speedup cannot
be measured (it never moved) gets 0. The final score stays in the result's ``score``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Optional

from keras_nos.tasks.speedup import speedup
from keras_nos.tasks import result as statuses
from keras_nos.tasks.result import EvaluationResult

REWARDS = ("final", "speedup")
REFERENCE_RULE = "adam"
REFERENCE_LENGTH = 2  # Adam's curve runs this many times the candidates' training (the funnel's too)


class SpeedupReward:
    """Wraps ``evaluate(rules) -> results`` so that each result's reward is its speedup over tuned Adam.

    ``options`` are the one-rule ``Evaluator``'s keyword arguments the candidates were trained with (task, grid,
    seed, epochs, data); Adam is trained on first use."""

    def __init__(self, evaluate: Callable[[Sequence[str]], list[EvaluationResult]], options: dict[str, Any]) -> None:
        self._evaluate, self._options = evaluate, dict(options)
        self._reference: Optional[tuple[list[float], list[float], int]] = None

    def __call__(self, rules: Sequence[str]) -> list[EvaluationResult]:
        return [self.rescore(result) for result in self._evaluate(rules)]

    def reference(self) -> tuple[list[float], list[float], int]:
        """Tuned Adam's curve, ``REFERENCE_LENGTH`` times the candidates' epochs, at step 0 and each epoch's end:
        (epochs, values, steps an epoch)."""
        if self._reference is None:
            from keras_nos.tasks.evaluator import Evaluator

            options = {name: value for name, value in self._options.items()
                       if name in ("task", "learning_rates", "seed", "data_path", "epochs")}
            grid = Evaluator(**options, hurdles=())
            tuned = grid.evaluate(REFERENCE_RULE)
            if tuned.status != statuses.OK:
                raise RuntimeError(f"The speedup reward's reference {REFERENCE_RULE!r} did not train: {tuned.status} "
                                   f"{tuned.message}")
            longer = Evaluator(**dict(options, learning_rates=(tuned.best_learning_rate,),
                                      epochs=REFERENCE_LENGTH * grid.epochs), hurdles=(), curve_points=1)
            steps, values = longer.evaluate(REFERENCE_RULE).best_curve()
            per_epoch = longer.steps_per_epoch
            kept = [(step / per_epoch, value) for step, value in zip(steps, values) if step % per_epoch == 0]
            self._reference = [epoch for epoch, _ in kept], [value for _, value in kept], per_epoch
        return self._reference

    def rescore(self, result: EvaluationResult) -> EvaluationResult:
        """``result`` with its speedup as the reward and its final score as ``score``; unchanged if not "ok"."""
        if result.status != statuses.OK:
            return result
        epochs, values, steps_per_epoch = self.reference()
        steps, own = result.best_curve()
        per_epoch = steps_per_epoch if result.curve_steps else 1  # training steps where recorded, else epochs
        own_epochs = [step / per_epoch for step in steps]
        if not own_epochs or own_epochs[0] > 0:  # every copy starts where the reference did
            own_epochs, own = [0.0] + own_epochs, [values[0]] + list(own)
        found = speedup(epochs, values, own_epochs, own)
        result.score, result.reward = result.reward, (found.value if found else 0.0)
        return result
