"""Whether a search's task can be trained by the batched evaluator, asked in the driver without JAX.

The batched trainer takes a network task whose training inputs are one array, trained in whole passes over
the data with one reward seed, and needs JAX installed (its worker processes run Keras on JAX). A task that
passes may still fail in the worker (a model that only runs on TensorFlow): its candidates then get
the error as their status, and ``evaluator="keras"`` is the way out.
"""

from __future__ import annotations

import glob
import importlib.util
from typing import TYPE_CHECKING, Any, Optional

import numpy as np

if TYPE_CHECKING:
    from keras_nos.tasks.registry import Task


def why_not_batched(task: Task, reward_seeds: int, x_train: Any = None) -> Optional[str]:
    """Why the batched evaluator cannot train ``task`` (with training inputs ``x_train``; None: not loaded yet,
    so not judged), or None when it can."""
    if task.objective is not None:
        return f"task {task.name!r} minimises a function in NumPy, not a network"
    if task.steps_per_epoch is not None:
        return f"task {task.name!r} sets steps_per_epoch={task.steps_per_epoch}; the batched trainer trains whole passes"
    if x_train is not None and not isinstance(x_train, np.ndarray):
        return (f"task {task.name!r} gives its training inputs as a {type(x_train).__name__}; the batched trainer "
                f"takes one NumPy array")
    if reward_seeds != 1:
        return f"reward_seeds={reward_seeds}; the batched evaluator trains one seed"
    if importlib.util.find_spec("jax") is None:
        return "JAX is not installed (pip install jax)"
    return None


def gpu_present() -> bool:
    """Whether this machine has an NVIDIA GPU, asked without starting JAX (which would claim the GPU's memory in
    the driver, away from the workers)."""
    return bool(glob.glob("/dev/nvidia[0-9]*"))
