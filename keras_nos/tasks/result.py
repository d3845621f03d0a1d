"""What evaluating one candidate rule produces."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Optional

OK = "ok"
DIVERGED = "diverged"
NO_PROGRESS = "no_progress"
ERROR = "error"
FAILED_HURDLE = "failed_hurdle"
WORKER_LOST = "worker_lost"
TIMEOUT = "timeout"
PRUNED = "pruned"  # a learning rate stopped early by the search over rates; never a whole result's status
STATUSES = (OK, DIVERGED, NO_PROGRESS, ERROR, FAILED_HURDLE, WORKER_LOST, TIMEOUT)
# The statuses of an evaluation that broke, rather than one that judged its rule (MLflow's FAILED run status).
BROKEN = (ERROR, WORKER_LOST, TIMEOUT)


@dataclasses.dataclass
class EvaluationResult:
    """The reward of a rule on a task, and how it was reached.

    ``curves`` maps each learning rate tried (as text) to its validation
    score at each epoch's end (and, with ``curve_points``, at evenly spaced
    steps and step 0); ``curve_steps`` gives the training step of each point,
    where recorded; ``lr_status`` gives each learning rate's status;
    ``seed_rewards`` the best rate's final accuracy with each seed, when the
    reward is their mean (``Evaluator(reward_seeds=...)``); ``score`` the best
    rate's final validation score when the reward is something else (the
    speedup over Adam, ``speedup_reward.py``).
    """

    rule: str
    fingerprint: str
    task: str
    status: str
    reward: float = 0.0
    best_learning_rate: Optional[float] = None
    curves: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    lr_status: dict[str, str] = dataclasses.field(default_factory=dict)
    wall_time: float = 0.0
    steps_trained: int = 0
    message: str = ""
    seed_rewards: list[float] = dataclasses.field(default_factory=list)
    curve_steps: dict[str, list[int]] = dataclasses.field(default_factory=dict)
    score: Optional[float] = None

    def best_curve(self) -> tuple[list[int], list[float]]:
        """(steps, values) of the best learning rate's curve; steps are 1, 2, ... epochs where not recorded."""
        key = f"{self.best_learning_rate:g}" if self.best_learning_rate else None
        values = self.curves.get(key, [])
        steps = self.curve_steps.get(key) or list(range(1, len(values) + 1))
        return list(steps), list(values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvaluationResult:
        return cls(**data)
