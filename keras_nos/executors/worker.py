"""What runs inside a worker, a local process or a Ray actor alike: one Evaluator, rule after rule.

Each worker builds its ``Evaluator`` once (so it loads the data once) and then
evaluates every rule it is sent with it.
"""

from __future__ import annotations

import pickle
from typing import Any

_WORKER_EVALUATOR = None


def init_worker(options: dict[str, Any], threads: int) -> None:
    """Build this worker's Evaluator from ``options``, TensorFlow limited to ``threads`` threads."""
    global _WORKER_EVALUATOR
    if threads:
        try:
            import tensorflow as tf

            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except (ImportError, RuntimeError):
            pass
    from keras_nos.tasks.evaluator import Evaluator

    _WORKER_EVALUATOR = Evaluator(**options)


def evaluate_in_worker(rule_text: str) -> dict[str, Any]:
    """The result of ``rule_text`` as a dict, which crosses process boundaries without Keras objects."""
    return _WORKER_EVALUATOR.evaluate(rule_text).to_dict()


def worker_options(options: dict[str, Any]) -> dict[str, Any]:
    """Evaluator options with the task name replaced by its ``Task``.

    Workers receive the task itself, so a task registered with
    ``register_task`` only in the driver process works in workers too.
    """
    from keras_nos.tasks.registry import get_task

    return dict(options, task=get_task(options["task"]))


def portable(error: BaseException) -> BaseException:
    """``error`` if it pickles, else a RuntimeError with its text, so the driver can raise it."""
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:
        return RuntimeError(f"{type(error).__name__}: {error}")
