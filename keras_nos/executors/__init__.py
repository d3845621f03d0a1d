"""Where candidate evaluations run: ``local`` (this machine) or ``ray`` (a Ray cluster).

Every executor is an ``Executor``: ``submit(rule) -> ticket``, ``next_result()
-> (ticket, EvaluationResult)``, ``map_unordered(rules)`` (yields ``(position,
result)`` as each finishes), ``workers`` and ``close()``. Both kinds are a
``PoolExecutor`` over their own ``WorkerHandle``.
"""

from __future__ import annotations

from typing import Any

from keras_nos.errors import KerasNosError
from keras_nos.executors.base import Executor
from keras_nos.executors.local import LocalExecutor
from keras_nos.executors.pool import PoolExecutor, WorkerHandle


def _ray_executor(evaluator_options: dict[str, Any], workers: int = 1, **options: Any) -> Executor:
    from keras_nos.executors.ray_executor import RayExecutor  # Ray is an optional extra: imported when asked for

    return RayExecutor(evaluator_options, workers=workers, **options)


EXECUTORS = {"local": LocalExecutor, "ray": _ray_executor}


def make_executor(name: str, evaluator_options: dict[str, Any], workers: int = 1,
                  **options: Any) -> Executor:
    """The executor ``name``; ``options`` are its keyword arguments (``timeout``, ``max_retries``;
    for ``ray`` also ``address``, ``num_cpus_per_task``, ``num_gpus_per_task``, ``ship_data``)."""
    if name not in EXECUTORS:
        raise KerasNosError(f"Unknown executor {name!r}; allowed: {', '.join(EXECUTORS)}")
    return EXECUTORS[name](evaluator_options, workers=workers, **options)


__all__ = ["EXECUTORS", "Executor", "LocalExecutor", "PoolExecutor", "WorkerHandle", "make_executor"]
