"""What runs inside a worker, a local process or a Ray actor alike: one evaluator, batch after batch.

Each worker builds its evaluator once (so it loads the data, and the batched
evaluator compiles its program, once) and then evaluates every batch of rules
it is sent with it. ``options["evaluator"]`` says which: ``"keras"``, the
``Evaluator`` that trains one rule at a time under the process's Keras
backend, or ``"batched"``, the ``BatchedEvaluator`` that trains a whole batch
in one compiled JAX program (the process must run Keras on JAX:
``worker_environment``).
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable, Sequence
from typing import Any

from keras_nos.tasks.result import EvaluationResult

EVALUATORS = ("keras", "batched")

_WORKER_EVALUATE = None


def worker_environment(options: dict[str, Any]) -> dict[str, str]:
    """Environment variables a worker process needs before it imports Keras: JAX for the batched evaluator, with
    JAX's persistent compilation cache on (``JAX_COMPILATION_CACHE_DIR``, the user's if set, else
    ``compilation_cache_dir()``): a later search, a resumed one or a second worker then loads the program a
    first one compiled, rather than spending 15-30 CPU-s compiling it again (docs/results/evaluator-throughput.md)."""
    if options.get("evaluator") != "batched":
        return {}
    return {"KERAS_BACKEND": "jax",
            "JAX_COMPILATION_CACHE_DIR": os.environ.get("JAX_COMPILATION_CACHE_DIR") or compilation_cache_dir()}


def compilation_cache_dir() -> str:
    """Where the batched evaluator's compiled programs are kept by default: ``$XDG_CACHE_HOME/keras_nos/jax``,
    ``~/.cache/keras_nos/jax`` without it."""
    return os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "keras_nos", "jax")


def evaluates_batches(options: dict[str, Any]) -> bool:
    """Whether these options build an evaluator that trains many rules in one call, so that a worker
    should be sent a share of the queue rather than one rule."""
    return options.get("evaluator") == "batched"


def build_evaluate(options: dict[str, Any]) -> Callable[[Sequence[str]], list[EvaluationResult]]:
    """``evaluate(rules) -> results`` of the evaluator ``options`` describe (``Evaluator``'s keyword arguments,
    with ``evaluator``, ``reward`` and, for the batched one, the search space's ``num_groups``)."""
    options = dict(options)
    if options.pop("reward", "final") == "speedup":
        from keras_nos.tasks.speedup_reward import SpeedupReward

        return SpeedupReward(build_evaluate(options), options)
    kind = options.pop("evaluator", "keras")
    num_groups = options.pop("num_groups", None)
    if kind == "batched":
        from keras_nos.tasks.batched.evaluator import BatchedEvaluator

        options.pop("reward_seeds", None)  # one reward seed: SearchConfig allows no other with this evaluator
        return BatchedEvaluator(**options, num_groups=num_groups).evaluate
    from keras_nos.tasks.evaluator import Evaluator

    evaluator = Evaluator(**options)
    return lambda rules: [evaluator.evaluate(rule) for rule in rules]


def init_worker(options: dict[str, Any], threads: int) -> None:
    """Build this worker's evaluator from ``options``, TensorFlow limited to ``threads`` threads."""
    global _WORKER_EVALUATE
    if threads and not evaluates_batches(options):
        try:
            import tensorflow as tf

            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except (ImportError, RuntimeError):
            pass
    _WORKER_EVALUATE = build_evaluate(options)


def evaluate_in_worker(rule_texts: Sequence[str]) -> list[dict[str, Any]]:
    """The results of ``rule_texts`` as dicts, which cross process boundaries without Keras objects."""
    return [result.to_dict() for result in _WORKER_EVALUATE(list(rule_texts))]


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
