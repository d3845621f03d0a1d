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

import dataclasses

import keras
import numpy as np


@dataclasses.dataclass(frozen=True)
class Score:
    """A reward for network tasks: the loss trained on, and the value of validation outputs."""

    name: str
    loss: str  # "crossentropy" (integer labels, logits out) or "mse" (real targets)
    value: callable  # (outputs, targets) -> float in [0, 1]; outputs finite
    label: str  # what the reward is, for a plot's axis

    @property
    def classifies(self):
        return self.loss == "crossentropy"

    def keras_loss(self):
        if self.classifies:
            return keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        return keras.losses.MeanSquaredError()

    def output_size(self, splits):
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


def get_score(name):
    """The score called ``name``; ``ValueError`` lists the names."""
    if name not in SCORES:
        raise ValueError(f"Unknown score {name!r}; allowed: {', '.join(SCORES)}")
    return SCORES[name]


def validation_scores(model, x, y, score, chunk=500):
    """Each output's score on (x, y), NaN where its outputs are not finite.

    Eager forward passes in chunks: Keras' ``model.evaluate`` traces a test step for every candidate,
    which cost a quarter of a trained candidate's evaluation on digits-mlp (benchmarks/evaluator_cost.py).
    """
    outputs = {}
    for start in range(0, len(x), chunk):
        for name, value in model(x[start:start + chunk], training=False).items():
            outputs.setdefault(name, []).append(keras.ops.convert_to_numpy(value))
    scores = {}
    for name, parts in outputs.items():
        values = np.concatenate(parts)
        scores[name] = score.value(values, y) if np.isfinite(values).all() else float("nan")
    return scores
