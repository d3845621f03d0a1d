"""The proxy tasks by name, and how users add their own.

A task says how to get its data and how to build its child network; the
evaluator does the rest. The easiest way to a task of your own is
``keras_nos.OptimizerSearch(build_model, loss=...)``, which makes one from your
model and arrays. A task for the command line is a ``Task`` (or a function
that returns one) in a module of yours::

    # my_pkg/tasks.py
    from keras_nos.tasks import Task, Splits

    def load(data_path, seed):
        return Splits(x_train, y_train, x_val, y_val)

    def build():
        return keras.Sequential([...])          # uncompiled; any model

    my_task = Task("my-task", load_data=load, build_model=build, loss="sparse_categorical_crossentropy",
                   metrics=("accuracy",), score="val_accuracy", epochs=3)

and ``keras-nos search --task my_pkg.tasks:my_task`` (``evaluate`` and
``compare`` take it too). ``register_task(task)`` also makes it a name.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import inspect
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

from keras_nos import name_tables
from keras_nos.errors import KerasNosError
from keras_nos.tasks import datasets, models, numpy_stepper, scores

if TYPE_CHECKING:
    from keras_nos.tasks.scores import ModelScore, Score


@dataclasses.dataclass(frozen=True)
class Task:
    """A proxy task: data, child network and training length, or a function to minimise.

    A network task gives ``load_data`` and ``build_model``. ``build_model()`` returns a new, uncompiled
    ``keras.Model`` of any kind; the bundled tasks' builders take ``(input_shape, num_outputs)`` instead and
    fit the data. The reward:

    - with ``loss`` given (a user's model): ``score`` is ``"val_loss"`` (the default), ``"val_<metric>"`` for a
      metric in ``metrics``, a ``scores.Objective`` or a callable ``(y_true, y_pred) -> float``
      (``scores.ModelScore`` turns it into a reward in [0, 1]);
    - without: ``score`` is a name in ``keras_nos.tasks.scores.SCORES`` (``accuracy``, the default,
      ``log_loss``, or ``r2`` for regression, whose builder gets the width of the targets in place of the
      number of classes), which also fixes the loss.

    An objective task gives ``objective`` (a factory of ``(value_and_grad, start)`` as in
    ``keras_nos.tasks.numpy_stepper``) and runs ``epochs * steps_per_epoch`` steps; see
    ``keras_nos.tasks.objectives`` for its reward. Tasks pickle when their functions are module-level
    functions or ``functools.partial`` of them, so any executor can ship them to its workers.
    """

    name: str
    load_data: Optional[Callable] = None  # (data_path or None, seed) -> datasets.Splits
    build_model: Optional[Callable] = None  # () -> keras.Model, or (input_shape, num_outputs) -> keras.Model
    epochs: int = 1
    batch_size: int = 32
    description: str = ""
    steps_per_epoch: Optional[int] = None  # None: one pass over the training split
    objective: Optional[Callable] = None  # () -> (value_and_grad, start): minimise a function, no network
    score: Any = None  # see the class docstring; None: "val_loss" with a loss, else "accuracy"
    loss: Any = None  # a Keras loss (name or object) for a user's model; None: the score's
    metrics: tuple = ()  # Keras metrics compiled with a user's model
    # False where the batched evaluator trains slower than the rule-by-rule one without a GPU: on a CPU, XLA runs
    # a convolution inside the training's scan about 7x slower, and under vmap it becomes a grouped convolution,
    # about 7x slower again (benchmarks/conv_in_scan.py); evaluator="auto" then picks "keras" without a GPU
    batched_on_cpu: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise KerasNosError(f"A task needs a name, got {self.name!r}")
        if self.objective is None and (self.load_data is None or self.build_model is None):
            raise KerasNosError(f"Task {self.name!r} needs load_data and build_model, or an objective to minimise")
        for field in ("load_data", "build_model"):
            if getattr(self, field) is not None and not callable(getattr(self, field)):
                raise KerasNosError(f"Task {self.name!r}: {field} must be callable, got {getattr(self, field)!r}")
        if self.objective is not None and not self.steps_per_epoch:
            raise KerasNosError(f"Objective task {self.name!r} needs steps_per_epoch (steps between curve points)")
        object.__setattr__(self, "metrics", tuple(self.metrics or ()))
        self.make_score()

    def make_score(self) -> Union[Score, ModelScore]:
        """The ``Score`` or ``ModelScore`` that turns validation outputs into this task's reward."""
        if self.loss is None:
            return scores.get_score(self.score or "accuracy")
        return scores.ModelScore(self.loss, self.score or "val_loss", self.metrics)

    @property
    def builds_from_shape(self) -> bool:
        """Whether ``build_model`` takes ``(input_shape, num_outputs)`` (the bundled tasks) rather than nothing."""
        parameters = inspect.signature(self.build_model).parameters.values()
        return any(p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                   for p in parameters)

    @property
    def reward_label(self) -> str:
        """What a candidate's reward on this task measures, in words for a plot's axis."""
        if self.objective is not None:
            return "orders of magnitude taken off the objective, / 10"
        return self.make_score().label


TASKS: dict[str, Task] = {}


def register_task(task: Task, overwrite: bool = False) -> Task:
    """Add ``task`` to the registry so every command can use it by name."""
    return name_tables.register(TASKS, task, "task", overwrite)


def get_task(name: Union[str, Task]) -> Task:
    """The task ``name``: a ``Task`` itself, a registered name, or ``"package.module:attr"`` naming a ``Task``
    or a function that returns one. A ``KerasNosError`` names what is wrong and what is allowed."""
    if isinstance(name, str) and ":" in name and name not in TASKS:
        return _import_task(name)
    return name_tables.lookup(TASKS, name, "task", Task)


def _import_task(spec: str) -> Task:
    module_name, _, attribute = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise KerasNosError(f"Task {spec!r}: cannot import module {module_name!r} ({error}); a task is a registered "
                            f"name or package.module:attr") from None
    if not hasattr(module, attribute):
        raise KerasNosError(f"Task {spec!r}: module {module_name!r} has no attribute {attribute!r}")
    task = getattr(module, attribute)
    if not isinstance(task, Task) and callable(task):
        task = task()
    if not isinstance(task, Task):
        raise KerasNosError(f"Task {spec!r} is a {type(task).__name__}; it must be a keras_nos.tasks.Task or a "
                            f"function that returns one")
    return task


def _digits(data_path, seed):
    return datasets.load_digits(seed=seed)


def _cifar10(data_path, seed, train_limit=None, validation_size=5000, pool=1):
    return datasets.scaled_images(datasets.load_cifar10(data_path, seed=seed, train_limit=train_limit,
                                                        validation_size=validation_size, pool=pool))


def _digits_reconstruction(data_path, seed):
    return datasets.load_digits_reconstruction(seed=seed)


def _synthetic(data_path, seed):
    return datasets.make_synthetic_classification(n=512, seed=seed)


register_task(Task(
    name="digits-mlp",
    load_data=_digits,
    build_model=functools.partial(models.mlp, hidden=32),
    epochs=4, batch_size=32,
    description="scikit-learn digits (8x8, bundled), MLP with 32 hidden units, 4 epochs",
))
register_task(Task(
    name="digits-convnet",
    load_data=_digits,
    build_model=functools.partial(models.conv_block_net, filters=16),
    epochs=4, batch_size=32,
    description="scikit-learn digits (8x8, bundled), two 3x3 conv layers of 16 filters with BN, 4 epochs",
))
# The default search task: of the bundled tasks measured (benchmarks/noise_ceiling.py), the one whose reward
# ranks rules the same way from seed to seed (Spearman 0.94 over 35 rules; digits-convnet 0.53).
register_task(Task(
    name="digits-autoencoder",
    load_data=_digits_reconstruction,
    build_model=models.autoencoder,
    epochs=8, batch_size=32, score="r2",
    description="scikit-learn digits as 64-vectors (bundled), dense autoencoder 64-32-8-32-64, 8 epochs; reward: "
                "validation R^2 of the reconstruction",
))
register_task(Task(
    name="cifar10-convnet",
    batched_on_cpu=False,
    load_data=_cifar10,
    build_model=functools.partial(models.conv_block_net, filters=32),
    epochs=5, batch_size=100,
    description="the paper's proxy: CIFAR-10 45k/5k, two 3x3 conv layers of 32 filters with BN and ReLU, 5 epochs",
))
register_task(Task(
    name="cifar10-small",
    batched_on_cpu=False,
    load_data=functools.partial(_cifar10, train_limit=4000, validation_size=2000),
    build_model=functools.partial(models.conv_block_net, filters=16),
    epochs=2, batch_size=100,
    description="cheap CIFAR-10 proxy for CPU search: 4,000 training images, 16 filters, 2 epochs",
))
_POOLED = register_task(Task(
    # A candidate for the cheap proxy with a longer horizon (960 steps, not 80) at a quarter of the compute a
    # step: the full cifar10-convnet ranks optimizers differently from 100-step trainings (README, proxies).
    name="cifar10-pooled",
    batched_on_cpu=False,
    load_data=functools.partial(_cifar10, validation_size=2000, pool=2),
    build_model=functools.partial(models.conv_block_net, filters=16),
    epochs=2, batch_size=100,
    description="CIFAR-10 mean-pooled to 16x16, 48,000 training images, 16 filters, 2 epochs",
))
# cifar10-pooled at half the batch: twice the steps for about the same compute. Of the CPU proxies measured
# (benchmarks/proxy_fidelity.py), the one that ranks rules most like cifar10-convnet.
register_task(dataclasses.replace(
    _POOLED, name="cifar10-pooled-b50", batch_size=50,
    description="CIFAR-10 mean-pooled to 16x16, 48,000 training images, 16 filters, batch 50, 2 epochs",
))
register_task(Task(
    name="synthetic",
    load_data=_synthetic,
    build_model=functools.partial(models.mlp, hidden=16),
    epochs=3, batch_size=32,
    description="synthetic 4-class patterns made on the fly, for tests",
))
register_task(Task(
    name="rosenbrock",
    objective=numpy_stepper.rosenbrock,
    epochs=10, steps_per_epoch=100,
    description="the 2-D Rosenbrock function from (-1.5, 2), 1,000 steps in NumPy; reward: orders of magnitude "
                "taken off f, over 10",
))
