"""Proxy tasks, their data and the evaluator that turns a rule into a reward.

The names below load on first use (PEP 562): ``keras_nos.tasks.result`` is what
the executors' worker processes import first, and it must not start TensorFlow
before they can keep its start-up lines off the terminal.
"""

import importlib

_EXPORTS = {
    "DEFAULT_LEARNING_RATES": "keras_nos.tasks.evaluator",
    "Evaluator": "keras_nos.tasks.evaluator",
    "evaluate": "keras_nos.tasks.evaluator",
    "learning_rate_grid": "keras_nos.tasks.evaluator",
    "TASKS": "keras_nos.tasks.registry",
    "Task": "keras_nos.tasks.registry",
    "get_task": "keras_nos.tasks.registry",
    "register_task": "keras_nos.tasks.registry",
    "STATUSES": "keras_nos.tasks.result",
    "EvaluationResult": "keras_nos.tasks.result",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'keras_nos.tasks' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
