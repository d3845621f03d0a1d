"""How a network task turns its child network's validation outputs into a reward in [0, 1].

Validation accuracy, the paper's reward, counts correct answers: on a small
validation set (digits: 360 images) the good rules all land within a few
answers of each other, and one seed's luck reorders them. The other scores are
continuous, so they see differences accuracy rounds away:

- ``accuracy``: the share of validation examples classified right (cross-entropy training).
- ``log_loss``: the share of chance-level cross-entropy (log K for K classes) removed, floored at 0.
- ``r2``: the share of the targets' variance explained, 1 - MSE / variance, floored at 0 (MSE training).

Every score is higher-is-better with 1 as good as it gets, like the rewards of
objective tasks, so strategies, the funnel and plots need not know which one ran.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, Optional, Union

import keras
import numpy as np
from keras.src.losses import LossFunctionWrapper  # what compile wraps a loss function in
from keras.src.trainers import compile_utils  # Keras' own choice of accuracy by the shapes of labels and outputs

from keras_nos.errors import KerasNosError
from keras_nos.tasks import fit_data

if TYPE_CHECKING:
    from keras_nos.tasks.datasets import Splits


@dataclasses.dataclass(frozen=True)
class Score:
    """A reward for network tasks: the loss trained on, and the value of validation outputs."""

    name: str
    loss: Literal["crossentropy", "mse"]  # "crossentropy" (integer labels, logits out) or "mse" (real targets)
    value: Callable[[np.ndarray, np.ndarray], float]  # (outputs, targets) -> float in [0, 1]; outputs finite
    label: str  # what the reward is, for a plot's axis

    @property
    def classifies(self) -> bool:
        return self.loss == "crossentropy"

    needs_baseline = False  # the reward is the value itself
    judges_progress = True  # a copy is stopped when it makes no progress after an epoch (fused_trainer.CopyMonitor)

    def reward(self, value: float, baseline: Optional[float] = None) -> float:
        """The reward of a validation ``value``: for these scores the value itself."""
        return value

    def keras_loss(self) -> keras.losses.Loss:
        if self.classifies:
            return keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        return keras.losses.MeanSquaredError()

    def metrics(self) -> list[str]:
        """What each copy is compiled with: accuracy, for the no-progress test of classification."""
        return ["accuracy"] if self.classifies else []

    def output_size(self, splits: Splits) -> int:
        """Units of the child network's last layer: the classes, or the width of the targets."""
        if self.classifies:
            return splits.num_classes
        return 1 if splits.y_train.ndim == 1 else int(splits.y_train.shape[-1])


def _accuracy(logits, labels):
    return float(np.mean(np.argmax(logits, axis=-1) == labels))


def _log_loss(logits, labels):
    logits = logits.astype(np.float64)
    top = logits.max(axis=-1, keepdims=True)
    log_normaliser = np.log(np.exp(logits - top).sum(axis=-1)) + top[:, 0]
    cross_entropy = np.mean(log_normaliser - logits[np.arange(len(labels)), labels])
    return float(max(0.0, 1.0 - cross_entropy / np.log(logits.shape[-1])))


def _r2(predictions, targets):
    predictions = predictions.reshape(targets.shape).astype(np.float64)
    variance = np.mean((targets - targets.mean(axis=0)) ** 2)
    return float(max(0.0, 1.0 - np.mean((predictions - targets) ** 2) / variance))


SCORES = {score.name: score for score in (
    Score("accuracy", "crossentropy", _accuracy, "validation accuracy"),
    Score("log_loss", "crossentropy", _log_loss, "validation 1 - log loss / log(classes)"),
    Score("r2", "mse", _r2, "validation R²"),
)}


def get_score(name: str) -> Score:
    """The score called ``name``; ``ValueError`` lists the names."""
    if name not in SCORES:
        raise KerasNosError(f"Unknown score {name!r}; allowed: {', '.join(SCORES)}")
    return SCORES[name]


# Names of metrics that are better when higher, as KerasTuner infers an objective's direction; any other
# name (loss, mae, mse, ...) is better when lower.
_HIGHER_IS_BETTER = ("acc", "auc", "precision", "recall", "f1", "iou", "r2", "top_k", "specificity", "sensitivity")


@dataclasses.dataclass(frozen=True)
class Objective:
    """A validation quantity to optimise and its direction, as KerasTuner's ``Objective``.

    ``Objective("val_auc", "max")``; a plain name (``"val_loss"``, ``"val_accuracy"``) gets its direction from
    the name: losses and errors go down, accuracies, AUC, precision and recall go up.
    """

    name: str
    direction: Optional[Literal["min", "max"]] = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.startswith("val_") or self.name == "val_":
            raise KerasNosError(f"Unknown objective {self.name!r}; allowed: 'val_loss', 'val_<metric>' for a metric "
                                f"given in metrics, an Objective(name, direction) or a callable (y_true, y_pred) "
                                f"-> float, higher is better")
        if self.direction is None:
            higher = any(part in self.name for part in _HIGHER_IS_BETTER)
            object.__setattr__(self, "direction", "max" if higher else "min")
        if self.direction not in ("min", "max"):
            raise KerasNosError(f"Objective direction must be 'min' or 'max', got {self.direction!r}")

    @property
    def metric(self) -> str:
        """The metric's name without ``val_``: ``loss`` for the loss."""
        return self.name[len("val_"):]


@dataclasses.dataclass(frozen=True, eq=False)
class ModelScore:
    """The reward of a user's own model: its loss, its metrics, and the objective to optimise.

    The reward is in [0, 1] and higher is better, as every score's: an objective to maximise (accuracy, AUC)
    is its value; one to minimise (the loss, an error) is the share of the untrained network's value removed,
    ``1 - value / untrained``, floored at 0, so a failed candidate's 0 is the worst. A callable objective
    ``f(y_true, y_pred)`` is taken as it is (higher is better; keep it at or above 0).
    """

    loss: Any
    objective: Union[str, Objective, Callable[[Any, Any], float]] = "val_loss"
    metric_names: tuple[Any, ...] = ()
    name: str = "objective"
    classifies = False
    judges_progress = False  # only divergence stops a copy early

    def __post_init__(self) -> None:
        if not callable(self.objective):
            objective = self.objective if isinstance(self.objective, Objective) else Objective(self.objective)
            if objective.metric != "loss" and objective.metric not in self.metric_names:
                raise KerasNosError(f"Objective {objective.name!r} names a metric that is not in metrics "
                                    f"{list(self.metric_names)}; add {objective.metric!r} to metrics or use 'val_loss'")
            object.__setattr__(self, "objective", objective)

    @property
    def needs_baseline(self) -> bool:
        return not callable(self.objective) and self.objective.direction == "min"

    @property
    def label(self) -> str:
        if callable(self.objective):
            return f"validation {getattr(self.objective, '__name__', 'objective')}"
        if self.needs_baseline:
            return f"1 - {self.objective.name} / untrained {self.objective.name}"
        return self.objective.name

    def keras_loss(self) -> keras.losses.Loss:
        """The loss as a ``keras.losses.Loss``: a function is wrapped as ``compile`` wraps it, so targets of
        shape (N,) fit outputs of shape (N, 1) here as they do in ``model.fit``."""
        loss = keras.losses.get(self.loss) if isinstance(self.loss, str) else self.loss
        return loss if isinstance(loss, keras.losses.Loss) else LossFunctionWrapper(loss)

    def metrics(self) -> list[Any]:
        return list(self.metric_names)

    def value(self, outputs: np.ndarray, targets: np.ndarray) -> float:
        """The objective's value on validation ``outputs`` against ``targets``."""
        if callable(self.objective):
            return float(self.objective(targets, outputs))
        if self.objective.metric == "loss":
            return float(keras.ops.convert_to_numpy(self.keras_loss()(targets, outputs)))
        metric = compile_utils.get_metric(self.objective.metric, targets, outputs)
        metric.update_state(targets, outputs)
        return float(keras.ops.convert_to_numpy(metric.result()))

    def reward(self, value: float, baseline: Optional[float] = None) -> float:
        if not self.needs_baseline:
            return value
        return float(max(0.0, 1.0 - value / baseline)) if baseline and baseline > 0 else 0.0


def validation_outputs(model: keras.Model, x: Any, y: Any = None,
                       chunk: int = 500) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Each output's values on validation inputs ``x`` and the targets, in NumPy.

    ``x`` is what ``model.fit`` takes: an array, a list or dict of arrays (targets ``y``), or a batched
    ``tf.data.Dataset`` of (inputs, targets). Eager forward passes in chunks: Keras' ``model.evaluate`` traces
    a test step for every candidate, which cost a quarter of a trained candidate's evaluation on digits-mlp
    (benchmarks/evaluator_cost.py).
    """
    outputs, targets = {}, []
    for inputs, labels in fit_data.batches(x, y, chunk):
        for name, value in model(inputs, training=False).items():
            outputs.setdefault(name, []).append(keras.ops.convert_to_numpy(value))
        targets.append(np.asarray(labels))
    return {name: np.concatenate(parts) for name, parts in outputs.items()}, np.concatenate(targets)


def validation_scores(model: keras.Model, x: Any, y: Any, score: Union[Score, ModelScore],
                      chunk: int = 500) -> dict[str, float]:
    """Each output's score on (x, y), NaN where its outputs are not finite."""
    outputs, targets = validation_outputs(model, x, y, chunk)
    return {name: score.value(values, targets) if np.isfinite(values).all() else float("nan")
            for name, values in outputs.items()}
