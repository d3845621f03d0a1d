"""Checks of a network task's data and model, made before anything is trained or written to MLflow.

A model that cannot be built, data whose parts do not fit together, or an
output that does not fit the loss would fail every candidate alike; each is
the user's error, reported once with the bad value named.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import keras

from keras_nos.errors import KerasNosError
from keras_nos.tasks import fit_data

if TYPE_CHECKING:
    from keras_nos.tasks.datasets import Splits
    from keras_nos.tasks.registry import Task


def check_network_task(task: Task, splits: Splits) -> None:
    """A ``KerasNosError`` when ``splits`` or ``task.build_model`` cannot train: lengths that differ, a builder
    that returns no ``keras.Model``, an output that does not fit the loss and the targets."""
    fit_data.check_pair(splits.x_train, splits.y_train, f"Task {task.name!r}: training data")
    fit_data.check_pair(splits.x_val, splits.y_val, f"Task {task.name!r}: validation data")
    if task.builds_from_shape:
        return  # the bundled builders fit the model to the data themselves
    x_few, y_few = fit_data.head(splits.x_train, splits.y_train)
    model = task.build_model()
    try:
        if not isinstance(model, keras.Model):
            raise KerasNosError(f"Task {task.name!r}: build_model() returned {type(model).__name__}; it must return "
                                f"a new keras.Model")
        _check_loss(task, model, x_few, y_few)
    finally:
        keras.backend.clear_session(free_memory=False)


def _check_loss(task: Task, model: keras.Model, x_few: Any, y_few: Any) -> None:
    outputs = None
    try:
        outputs = model(x_few)
        keras.ops.convert_to_numpy(task.make_score().keras_loss()(y_few, outputs))
    except Exception as error:
        shape = "unknown" if outputs is None else tuple(keras.ops.shape(outputs))
        text = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", str(error)).strip()  # TensorFlow's op path
        first = text.splitlines()[0] if text else type(error).__name__
        raise KerasNosError(f"Task {task.name!r}: the model's output (shape {shape}) does not fit loss "
                            f"{_loss_name(task.loss)} with targets of shape {tuple(keras.ops.shape(y_few))}: "
                            f"{first}") from None


def _loss_name(loss: Any) -> str:
    return loss if isinstance(loss, str) else getattr(loss, "name", None) or type(loss).__name__
