"""A search's trials: the frozen record of one finished training, and its conversion to and from an MLflow run.

Like Optuna's ``FrozenTrial``: the search makes a :class:`Trial` once, with
everything it will show (the simplified rule included); the tracker writes it
as a nested run, and :func:`trial_from_run` is the one way back. A checkpoint
holds trials as plain dicts (:meth:`Trial.to_dict`); one of another shape is
an earlier version's, refused with one clear error.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Optional

from keras_nos.errors import KerasNosError
from keras_nos.tasks.result import EvaluationResult
from keras_nos.tracking import tags

if TYPE_CHECKING:
    from mlflow.entities import Run


@dataclasses.dataclass(frozen=True)
class Trial:
    """One training of a search: a candidate (stage ``search``), an Adam reference trained as the candidates were
    (stage ``reference``) or a funnel training (stage ``funnel``)."""

    index: int
    result: EvaluationResult
    tokens: Optional[tuple[str, ...]] = None  # the strategy's tokens; None for a funnel training
    simplified_rule: str = ""  # the form the leaderboard shows; the search computes it, tracking only writes it
    cache_hit: bool = False
    strategy: str = ""
    seed: int = 0
    stage: str = "search"
    reference: bool = False  # a funnel training of a reference optimizer (tuned Adam)
    run_id: Optional[str] = None  # its MLflow run, once written

    @property
    def rule(self) -> str:
        return self.result.rule

    @property
    def fingerprint(self) -> str:
        return self.result.fingerprint

    @property
    def reward(self) -> float:
        return self.result.reward

    @property
    def status(self) -> str:
        return self.result.status

    def to_dict(self) -> dict[str, Any]:
        return dict(dataclasses.asdict(self), tokens=None if self.tokens is None else list(self.tokens))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Trial:
        """The trial :meth:`to_dict` wrote; KerasNosError for a record of another shape (an earlier version's)."""
        if set(data) != {field.name for field in dataclasses.fields(cls)}:
            raise KerasNosError("This checkpoint's trials come from an earlier keras_nos version; resume it with the "
                                "version that started it, or start a new search")
        tokens = data["tokens"]
        return cls(**dict(data, result=EvaluationResult.from_dict(data["result"]),
                          tokens=None if tokens is None else tuple(tokens)))


def run_fields(trial: Trial, parent_run_id: str
               ) -> tuple[dict[str, str], dict[str, Any], list[tuple[str, float, int]]]:
    """(tags, params, metrics) of the nested run that records ``trial``; metrics are [(name, value, step)]."""
    result = trial.result
    run_tags = {
        tags.PARENT: parent_run_id,
        tags.RUN_NAME: f"{trial.stage}-{trial.index:04d}",
        tags.STAGE: trial.stage,
        tags.INDEX: str(trial.index),
        tags.STATUS: result.status,
        tags.CACHE_HIT: str(trial.cache_hit).lower(),
        tags.STRATEGY: trial.strategy,
        tags.MESSAGE: result.message[:5000],
        **({tags.REFERENCE: "true"} if trial.reference else {}),
    }
    params = {"rule": result.rule, "simplified_rule": trial.simplified_rule, "tokens": " ".join(trial.tokens or []),
              "fingerprint": result.fingerprint, "learning_rate": result.best_learning_rate, "task": result.task,
              "seed": trial.seed}
    return run_tags, params, _metrics(result)


def _metrics(result: EvaluationResult) -> list[tuple[str, float, int]]:
    metrics = [("reward", result.reward, 0), ("wall_time", result.wall_time, 0)]
    best = f"{result.best_learning_rate:g}" if result.best_learning_rate else None
    for lr, curve in result.curves.items():
        # At the training step of each point where it was recorded (a funnel's dense curve), else by epoch.
        steps = result.curve_steps.get(lr) or range(len(curve))
        for step, value in zip(steps, curve):  # NaN points of a diverged rate are left out by the writer
            metrics.append((f"val_accuracy_lr_{lr}", value, step))
            if lr == best:
                metrics.append(("val_accuracy", value, step))
    # The best rate's reward with each seed, where the reward is their mean (reward_seeds > 1).
    return metrics + [("seed_reward", value, k) for k, value in enumerate(result.seed_rewards or [])]


def trial_from_run(run: Run) -> Trial:
    """The :class:`Trial` a nested run of a search records (curves and seed rewards stay in MLflow)."""
    run_tags, params, metrics = run.data.tags, run.data.params, run.data.metrics
    lr = params.get("learning_rate")
    rule = params.get("rule", "")
    result = EvaluationResult(
        rule=rule, fingerprint=params.get("fingerprint", ""), task=params.get("task", ""),
        status=run_tags.get(tags.STATUS, ""), reward=metrics.get("reward", 0.0),
        best_learning_rate=float(lr) if lr not in (None, "None") else None, wall_time=metrics.get("wall_time", 0.0),
        message=run_tags.get(tags.MESSAGE, ""))
    return Trial(index=int(run_tags.get(tags.INDEX, -1)), result=result,
                 tokens=tuple(params.get("tokens", "").split()) or None,
                 simplified_rule=params.get("simplified_rule") or rule,
                 cache_hit=run_tags.get(tags.CACHE_HIT) == "true", strategy=run_tags.get(tags.STRATEGY, ""),
                 seed=int(params.get("seed", 0)), stage=run_tags.get(tags.STAGE, "search"),
                 reference=run_tags.get(tags.REFERENCE) == "true", run_id=run.info.run_id)
