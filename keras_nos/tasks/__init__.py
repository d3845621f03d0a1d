"""Proxy tasks, their data and the evaluator that turns a rule into a reward."""

from keras_nos.tasks.evaluator import DEFAULT_LEARNING_RATES, Evaluator, evaluate, learning_rate_grid
from keras_nos.tasks.registry import TASKS, Task, get_task, register_task
from keras_nos.tasks.result import STATUSES, EvaluationResult

__all__ = [
    "DEFAULT_LEARNING_RATES", "EvaluationResult", "Evaluator", "STATUSES", "TASKS", "Task", "evaluate",
    "get_task", "learning_rate_grid", "register_task",
]
