"""Where a training of the current evaluator starts: its initial weights and its batch order.

``FusedTrainer`` seeds Keras, builds the child network, seeds Keras again and
lets ``model.fit`` shuffle. Both draws come from the running Keras backend's
random generators (TensorFlow's Philox, or NumPy's for JAX), so they are read
here, under the backend whose evaluator is to be matched: the batched trainer
given them trains each copy from the very weights and batches the current
evaluator would, whichever backend it runs on. Computed in a TensorFlow
process and handed over as arrays, they let a JAX process reproduce the
TensorFlow evaluator's rewards.
"""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING, Any, Optional, Union

import keras
import numpy as np
from keras.src.trainers.data_adapters.array_data_adapter import ArrayDataAdapter  # fit's own shuffling

from keras_nos.errors import KerasNosError
from keras_nos.tasks import fit_data
from keras_nos.tasks.fused_trainer import build_child

if TYPE_CHECKING:
    from keras_nos.tasks.registry import Task


@dataclasses.dataclass(frozen=True)
class TrainingStart:
    """The child network's initial ``trainable`` and ``non_trainable`` weights (lists of arrays, in the model's
    order) and ``batch_order``: the training examples' indices in the order of each epoch, (epochs, examples)."""

    trainable: list[np.ndarray]
    non_trainable: list[np.ndarray]
    batch_order: np.ndarray

    def save(self, path: Union[str, os.PathLike]) -> None:
        """Write the start to ``path`` (a ``.npz`` file), for ``load``."""
        arrays = {f"trainable_{i}": a for i, a in enumerate(self.trainable)}
        arrays.update({f"non_trainable_{i}": a for i, a in enumerate(self.non_trainable)})
        np.savez(path, batch_order=self.batch_order, **arrays)

    @classmethod
    def load(cls, path: Union[str, os.PathLike]) -> TrainingStart:
        """The start ``save`` wrote to ``path``."""
        with np.load(path) as data:
            def listed(prefix: str) -> list[np.ndarray]:
                return [data[f"{prefix}_{i}"] for i in range(sum(k.startswith(prefix + "_") for k in data.files))]
            return cls(listed("trainable"), listed("non_trainable"), data["batch_order"])


def initial_weights(task: Task, x_train: np.ndarray, num_outputs: Optional[int],
                    seed: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(trainable, non_trainable) weights of a child network built as ``FusedTrainer`` builds each copy."""
    keras.utils.set_random_seed(seed)
    model = build_child(task, x_train.shape[1:] if task.builds_from_shape else None, num_outputs)
    if not model.built:
        model(fit_data.head(x_train)[0])
    weights = ([np.array(v) for v in model.trainable_variables], [np.array(v) for v in model.non_trainable_variables])
    keras.backend.clear_session(free_memory=False)
    return weights


def batch_order(num_examples: int, batch_size: int, epochs: int, seed: int) -> np.ndarray:
    """The example indices ``model.fit(shuffle=True)`` visits after ``keras.utils.set_random_seed(seed)``, each
    epoch's in order, read from Keras' own data adapter under the running backend."""
    keras.utils.set_random_seed(seed)
    indices = np.arange(num_examples)
    adapter = ArrayDataAdapter(indices, indices, batch_size=batch_size, shuffle=True)
    if keras.backend.backend() == "tensorflow":
        dataset = adapter.get_tf_dataset()
        epochs_seen = [np.concatenate([np.asarray(x) for x, _ in dataset]) for _ in range(epochs)]
    else:  # JAX and the others shuffle with NumPy, once an epoch
        epochs_seen = [np.concatenate([np.asarray(x) for x, _ in adapter.get_numpy_iterator()]) for _ in range(epochs)]
    return np.stack(epochs_seen).astype(np.int32)


def training_start(task: Task, x_train: Any, num_outputs: Optional[int], seed: int, epochs: int) -> TrainingStart:
    """The ``TrainingStart`` of ``task``'s child network and array inputs ``x_train`` for a training of ``seed``."""
    if fit_data.is_dataset(x_train) or not isinstance(x_train, np.ndarray):
        raise KerasNosError(f"Task {task.name!r}: the batched trainer takes one array of inputs, got "
                            f"{type(x_train).__name__}; use the current evaluator for this task")
    if task.steps_per_epoch is not None:
        raise KerasNosError(f"Task {task.name!r} sets steps_per_epoch={task.steps_per_epoch}; the batched trainer "
                            f"trains whole passes over the data only")
    trainable, non_trainable = initial_weights(task, x_train, num_outputs, seed)
    return TrainingStart(trainable, non_trainable, batch_order(len(x_train), task.batch_size, epochs, seed))
