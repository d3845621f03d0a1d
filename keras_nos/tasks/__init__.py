"""Proxy tasks, their data and the evaluator that turns a rule into a reward.

The names below load on first use (PEP 562): ``keras_nos.tasks.result`` is what
the executors' worker processes import first, and it must not start TensorFlow
before they can keep its start-up lines off the terminal.
"""

from keras_nos.lazy import lazy_exports

_EXPORTS = {
    "DEFAULT_LEARNING_RATES": "keras_nos.tasks.lr_search",
    "Evaluator": "keras_nos.tasks.evaluator",
    "evaluate": "keras_nos.tasks.evaluator",
    "learning_rate_grid": "keras_nos.tasks.lr_search",
    "TASKS": "keras_nos.tasks.registry",
    "Task": "keras_nos.tasks.registry",
    "get_task": "keras_nos.tasks.registry",
    "register_task": "keras_nos.tasks.registry",
    "Objective": "keras_nos.tasks.scores",
    "STATUSES": "keras_nos.tasks.result",
    "Splits": "keras_nos.tasks.datasets",
    "EvaluationResult": "keras_nos.tasks.result",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
