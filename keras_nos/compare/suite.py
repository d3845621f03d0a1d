"""The comparison suite: small tasks unlike the search's proxy, by name, and how users add their own.

Every task says how to get its data (once per comparison), what to train, its
loss, the metric reported on held-out data, and whether higher is better. A
network task gives ``load_data`` and ``build_model`` and is trained with
``model.fit``; any other task gives ``train`` (see ``train_rosenbrock``).
Register a task of your own with::

    from keras_nos.compare import CompareTask, register_compare_task
    register_compare_task(CompareTask(
        name="my-task",
        load_data=lambda seed: my_splits(),          # -> keras_nos.tasks.datasets.Splits
        build_model=lambda data: my_model(),         # -> keras.Model (logits out for accuracy tasks)
        loss="mse", metric="mse", higher_is_better=False,
        epochs=10, batch_size=32, description="what it is"))

and ``keras-nos compare RULE --tasks my-task`` (from Python: ``compare(...)``) runs it.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

import keras
import numpy as np
from keras import layers

from keras_nos import name_tables
from keras_nos.errors import KerasNosError
from keras_nos.tasks import datasets, fit_data, numpy_stepper

if TYPE_CHECKING:
    from keras_nos.tasks.registry import Task
    from keras_nos.tasks.scores import ModelScore, Score

METRICS = ("accuracy", "mse", "loss")


@dataclasses.dataclass(frozen=True)
class Training:
    """What one training gives back: the training-loss curve and the metric on the held-out split."""

    steps: tuple[int, ...]  # step count at each curve point
    losses: tuple[float, ...]  # training loss at each curve point (mean over the steps since the last point)
    metric: float  # the task's metric on the split asked for (validation or test); NaN when diverged
    error: str = ""  # what a training that raised said (its metric is NaN)


@dataclasses.dataclass(frozen=True)
class CompareTask:
    """A task of the comparison suite.

    ``metric`` is ``"accuracy"``, ``"mse"`` or ``"loss"``; ``higher_is_better``
    says which way it points. ``epochs`` are curve points: one pass over the
    training split for a network task, ``steps_per_epoch`` steps for a ``train`` task.
    ``train(task, data, optimizer, seed, epochs, split)`` returns a ``Training``.
    """

    name: str
    load_data: Callable[[int], Any]  # seed -> data (a datasets.Splits for network tasks)
    build_model: Optional[Callable[[Any], Any]] = None  # data -> keras.Model
    loss: Any = None  # a Keras loss, for network tasks
    metric: str = "accuracy"
    higher_is_better: bool = True
    epochs: int = 10
    batch_size: int = 32
    steps_per_epoch: Optional[int] = None  # None: one pass over the training split
    train: Optional[Callable[..., Training]] = None
    description: str = ""

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise KerasNosError(f"Task {self.name!r}: metric must be one of {', '.join(METRICS)}, got {self.metric!r}")
        if self.train is None and (self.build_model is None or self.loss is None):
            raise KerasNosError(f"Task {self.name!r} needs build_model and loss, or a train function")
        if self.train is not None and not self.steps_per_epoch:
            raise KerasNosError(f"Task {self.name!r} with a train function needs steps_per_epoch")

    def scaled_epochs(self, scale: float = 1.0) -> int:
        """Epochs after a size override (tests train a few steps with a small ``scale``)."""
        return max(1, round(self.epochs * scale))

    def total_steps(self, data: Any, scale: float = 1.0) -> int:
        """Optimizer steps of one training (the ``decay_steps`` of decaying rules)."""
        per_epoch = self.steps_per_epoch or fit_data.steps_per_epoch(data.x_train, self.batch_size) or 1
        return per_epoch * self.scaled_epochs(scale)

    def run(self, data: Any, optimizer: keras.optimizers.Optimizer, seed: int, scale: float = 1.0,
            split: str = "test") -> Training:
        """Train once with ``optimizer`` from seed ``seed``; the metric is measured on ``split`` (val or test)."""
        epochs = self.scaled_epochs(scale)
        return (self.train or train_network)(self, data, optimizer, seed, epochs, split)


COMPARE_TASKS: dict[str, CompareTask] = {}


def register_compare_task(task: CompareTask, overwrite: bool = False) -> CompareTask:
    """Add ``task`` to the suite so ``keras-nos compare --tasks NAME`` can use it."""
    return name_tables.register(COMPARE_TASKS, task, "compare task", overwrite)


def get_compare_task(name: Union[str, CompareTask]) -> CompareTask:
    """The compare task registered as ``name``; ``ValueError`` lists the names."""
    return name_tables.lookup(COMPARE_TASKS, name, "compare task", CompareTask)


def compare_task_names() -> list[str]:
    return list(COMPARE_TASKS)


def resolve_tasks(tasks: Union[str, Sequence[Union[str, CompareTask, Task]], None] = "all") -> list[CompareTask]:
    """Tasks from ``"all"``, a comma-separated string or a list of names/tasks; every name checked."""
    if tasks in (None, "all"):
        return [COMPARE_TASKS[name] for name in DEFAULT_SUITE]
    if isinstance(tasks, str):
        tasks = [t.strip() for t in tasks.split(",") if t.strip()]
    if not tasks:
        raise KerasNosError("No compare tasks given")
    return [_compare_task(t) for t in tasks]


def _compare_task(name: Union[str, CompareTask, Task]) -> CompareTask:
    """A compare task by name; a search ``Task`` or ``package.module:attr`` naming one runs in its compare form."""
    from keras_nos.tasks.registry import Task, get_task

    if isinstance(name, Task) or (isinstance(name, str) and ":" in name and name not in COMPARE_TASKS):
        return from_task(get_task(name))
    return get_compare_task(name)


def from_task(task: Task) -> CompareTask:
    """The compare form of a search ``Task`` (a user's own model among them): its data, model and loss; the
    metric is accuracy when the task's reward is, else the loss, measured on its test split (or, without one,
    its validation split)."""
    if task.objective is not None:
        raise KerasNosError(f"Task {task.name!r} minimises a function; compare takes network tasks, or "
                            f"{', '.join(COMPARE_TASKS)}")
    from keras_nos.tasks.checks import check_network_task

    check_network_task(task, task.load_data(None, 0))
    score = task.make_score()
    accuracy = _rewards_accuracy(score)
    return CompareTask(name=task.name, load_data=functools.partial(_task_data, task),
                       build_model=functools.partial(_task_model, task), loss=score.keras_loss(),
                       metric="accuracy" if accuracy else "loss", higher_is_better=accuracy, epochs=task.epochs,
                       batch_size=task.batch_size, steps_per_epoch=task.steps_per_epoch,
                       description=task.description)


def _rewards_accuracy(score: Union[Score, ModelScore]) -> bool:
    objective = getattr(score, "objective", None)  # a user's model: its objective; a bundled score: its name
    return score.name == "accuracy" if objective is None else getattr(objective, "metric", None) in ("accuracy", "acc")


def _task_data(task: Task, seed: int) -> datasets.Splits:
    return task.load_data(None, seed)


def _task_model(task: Task, data: datasets.Splits) -> keras.Model:
    from keras_nos.tasks.fused_trainer import build_child

    output_size = task.make_score().output_size(data) if task.builds_from_shape else None
    return build_child(task, None if fit_data.is_dataset(data.x_train) else data.x_train.shape[1:], output_size)


# ---------------------------------------------------------------- training


class _StopOnNaN(keras.callbacks.Callback):
    """Stop a diverged training at once, silently (Keras' TerminateOnNaN prints)."""

    def on_train_batch_end(self, batch: int, logs: Optional[dict[str, Any]] = None) -> None:
        if logs and not math.isfinite(float(logs.get("loss", 0.0))):
            self.model.stop_training = True


def train_network(task: CompareTask, data: datasets.Splits, optimizer: keras.optimizers.Optimizer, seed: int,
                  epochs: int, split: str) -> Training:
    """``model.fit`` with verbose=0; one curve point per epoch; stops on NaN."""
    keras.utils.set_random_seed(seed)
    model = task.build_model(data)
    metrics = ["accuracy"] if task.metric == "accuracy" else []
    model.compile(optimizer=optimizer, loss=task.loss, metrics=metrics)
    dataset = fit_data.is_dataset(data.x_train)
    history = model.fit(data.x_train, data.y_train, batch_size=None if dataset else task.batch_size, epochs=epochs,
                        steps_per_epoch=task.steps_per_epoch, verbose=0, shuffle=not dataset, callbacks=[_StopOnNaN()])
    losses = [float(x) for x in history.history["loss"]]
    per_epoch = task.steps_per_epoch or fit_data.steps_per_epoch(data.x_train, task.batch_size) or 1
    steps = [per_epoch * (k + 1) for k in range(len(losses))]
    if not losses or not math.isfinite(losses[-1]):
        return Training(tuple(steps), tuple(losses), float("nan"))
    x, y = (data.x_val, data.y_val) if split == "val" or data.x_test is None else (data.x_test, data.y_test)
    scores = model.evaluate(x, y, batch_size=None if fit_data.is_dataset(x) else 256, verbose=0, return_dict=True)
    return Training(tuple(steps), tuple(losses), float(scores["accuracy" if task.metric == "accuracy" else "loss"]))


ROSENBROCK_START = (-1.5, 2.0)


def rosenbrock_trajectory(optimizer: keras.optimizers.Optimizer, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Minimise the 2-D Rosenbrock function from (-1.5, 2) with ``optimizer.apply``.

    The "model" is one Keras variable of shape (2,); the gradient is exact
    (``keras_nos.tasks.numpy_stepper.rosenbrock``). Returns the points (steps+1, 2)
    and the function values (steps+1,); a diverged run stops at its first non-finite value.
    """
    value_and_grad, start = numpy_stepper.rosenbrock()
    variable = keras.Variable(np.asarray(ROSENBROCK_START, dtype="float32"), name="xy")
    optimizer.build([variable])
    points, values = [np.asarray(start, dtype=float)], []
    for _ in range(steps):
        with np.errstate(all="ignore"):  # a diverging learning rate overflows; it stops below
            value, grad = value_and_grad(points[-1][None])
            grad = grad[0].astype("float32")
        values.append(float(value[0]))
        if not np.all(np.isfinite(grad)) or not math.isfinite(values[-1]):
            break
        optimizer.apply([keras.ops.convert_to_tensor(grad)], [variable])
        points.append(np.asarray(keras.ops.convert_to_numpy(variable.value), dtype=float))
    else:
        with np.errstate(all="ignore"):
            values.append(float(value_and_grad(points[-1][None])[0][0]))
    return np.array(points), np.array(values)


def train_rosenbrock(task: CompareTask, data: Any, optimizer: keras.optimizers.Optimizer, seed: int, epochs: int,
                     split: str) -> Training:
    """Rosenbrock as a task: the loss is f; its metric is f at the last step (lower is better)."""
    keras.utils.set_random_seed(seed)
    _, values = rosenbrock_trajectory(optimizer, epochs * task.steps_per_epoch)
    per = task.steps_per_epoch
    chunks = [values[k * per + 1:(k + 1) * per + 1] for k in range(epochs)]
    losses = [float(np.mean(c)) if len(c) == per else float("nan") for c in chunks]
    final = float(values[-1]) if len(values) == epochs * per + 1 and math.isfinite(values[-1]) else float("nan")
    return Training(tuple(per * (k + 1) for k in range(epochs)), tuple(losses), final)


# ---------------------------------------------------------------- data


def _digits(seed: int) -> datasets.Splits:
    return datasets.load_digits(seed=seed)


def _split(x: np.ndarray, y: np.ndarray, seed: int, train: float = 0.6, val: float = 0.2) -> datasets.Splits:
    order = np.random.default_rng(seed).permutation(len(x))
    a, b = int(train * len(x)), int((train + val) * len(x))
    x, y = x[order], y[order]
    return datasets.Splits(x[:a], y[:a], x[a:b], y[a:b], x[b:], y[b:])


def make_shapes(n: int = 1200, size: int = 16, seed: int = 0) -> datasets.Splits:
    """Synthetic 16x16 images of four shapes at random places, with noise: horizontal bar,
    vertical bar, hollow square, filled square."""
    rng = np.random.default_rng(seed)
    x = rng.normal(scale=0.3, size=(n, size, size, 1)).astype("float32")
    y = np.arange(n) % 4
    for i, label in enumerate(y):
        r, c = rng.integers(1, size - 7, size=2)
        if label == 0:
            x[i, r + 3, c:c + 6] += 1.0
        elif label == 1:
            x[i, r:r + 6, c + 3] += 1.0
        elif label == 2:
            x[i, r:r + 6, c:c + 6] += 1.0
            x[i, r + 1:r + 5, c + 1:c + 5] -= 1.0
        else:
            x[i, r + 1:r + 5, c + 1:c + 5] += 1.0
    return _split(x, y.astype("int64"), seed)


def make_adding_problem(n: int = 1200, length: int = 16, seed: int = 0) -> datasets.Splits:
    """The adding problem (Hochreiter & Schmidhuber): a sequence of (value, marker) pairs with two
    markers; the target is the sum of the two marked values (predicting 1 gives MSE 1/6)."""
    rng = np.random.default_rng(seed)
    values = rng.uniform(size=(n, length))
    markers = np.zeros((n, length))
    for i in range(n):
        markers[i, rng.choice(length, 2, replace=False)] = 1.0
    x = np.stack([values, markers], axis=-1).astype("float32")
    y = (values * markers).sum(axis=1, keepdims=True).astype("float32")
    return _split(x, y, seed)


def make_friedman(n: int = 1200, seed: int = 0) -> datasets.Splits:
    """scikit-learn's Friedman #1 regression (10 features, 5 informative), targets standardised."""
    from sklearn.datasets import make_friedman1

    x, y = make_friedman1(n_samples=n, n_features=10, noise=0.5, random_state=seed)
    y = (y - y.mean()) / y.std()
    return _split(x.astype("float32"), y[:, None].astype("float32"), seed)


# ---------------------------------------------------------------- models


def _mlp_digits(data: datasets.Splits) -> keras.Model:
    return keras.Sequential([keras.Input(data.x_train.shape[1:]), layers.Flatten(),
                             layers.Dense(64, activation="tanh"), layers.Dense(64, activation="tanh"),
                             layers.Dense(10)])


def _convnet_shapes(data: datasets.Splits) -> keras.Model:
    return keras.Sequential([keras.Input(data.x_train.shape[1:]), layers.Conv2D(8, 3, activation="relu"),
                             layers.MaxPooling2D(2), layers.Conv2D(16, 3, activation="relu"),
                             layers.GlobalAveragePooling2D(), layers.Dense(4)])


def _gru_adding(data: datasets.Splits) -> keras.Model:
    return keras.Sequential([keras.Input(data.x_train.shape[1:]), layers.GRU(16), layers.Dense(1)])


def _autoencoder(data: datasets.Splits) -> keras.Model:
    return keras.Sequential([keras.Input(data.x_train.shape[1:]), layers.Dense(32, activation="relu"),
                             layers.Dense(8), layers.Dense(32, activation="relu"), layers.Dense(64)])


def _regression_mlp(data: datasets.Splits) -> keras.Model:
    return keras.Sequential([keras.Input(data.x_train.shape[1:]), layers.Dense(32, activation="relu"),
                             layers.Dense(32, activation="relu"), layers.Dense(1)])


SPARSE_CE = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

register_compare_task(CompareTask(
    name="mlp-digits", load_data=_digits, build_model=_mlp_digits, loss=SPARSE_CE, metric="accuracy",
    epochs=10, batch_size=32,
    description="digits (8x8, bundled), MLP 64-64 tanh, 10 epochs; test accuracy"))
register_compare_task(CompareTask(
    name="convnet-shapes", load_data=lambda seed: make_shapes(seed=seed), build_model=_convnet_shapes,
    loss=SPARSE_CE, metric="accuracy", epochs=8, batch_size=32,
    description="synthetic 16x16 shapes (4 classes, random places, noise), 2 conv layers + global pooling, "
                "8 epochs; test accuracy"))
register_compare_task(CompareTask(
    name="gru-adding", load_data=lambda seed: make_adding_problem(seed=seed), build_model=_gru_adding,
    loss="mse", metric="mse", higher_is_better=False, epochs=10, batch_size=32,
    description="the adding problem, sequences of 16, GRU with 16 units, 10 epochs; test MSE"))
register_compare_task(CompareTask(
    name="autoencoder-digits", load_data=lambda seed: datasets.load_digits_reconstruction(seed=seed), build_model=_autoencoder, loss="mse",
    metric="mse", higher_is_better=False, epochs=10, batch_size=32,
    description="digits as 64-vectors, dense autoencoder 64-32-8-32-64, 10 epochs; test reconstruction MSE"))
register_compare_task(CompareTask(
    name="friedman-regression", load_data=lambda seed: make_friedman(seed=seed), build_model=_regression_mlp,
    loss="mse", metric="mse", higher_is_better=False, epochs=10, batch_size=32,
    description="scikit-learn's Friedman #1 (10 features), MLP 32-32 ReLU, 10 epochs; test MSE"))
register_compare_task(CompareTask(
    name="rosenbrock", load_data=lambda seed: None, train=train_rosenbrock, metric="loss", higher_is_better=False,
    epochs=50, steps_per_epoch=10,
    description="the 2-D Rosenbrock function from (-1.5, 2), a (2,) Keras variable, 500 optimizer.apply steps; "
                "final f"))

DEFAULT_SUITE = tuple(COMPARE_TASKS)
