"""The proxy tasks by name, and how users add their own.

A task says how to get its data and how to build its child network; the
evaluator does the rest. Register a task of your own with::

    from keras_nos.tasks import Task, register_task
    register_task(Task(
        name="my-task",
        load_data=lambda data_path, seed: my_splits(),        # -> datasets.Splits
        build_model=lambda input_shape, num_classes, name: my_model(name=name),
        epochs=3, batch_size=64,
        description="what it is"))

and ``keras-nos search --task my-task`` (from Python) trains on it.
"""

import dataclasses
import functools
from typing import Callable, Optional

from keras_nos import name_tables
from keras_nos.tasks import datasets, models, numpy_stepper, scores


@dataclasses.dataclass(frozen=True)
class Task:
    """A proxy task: data, child network and training length, or a function to minimise.

    A network task gives ``load_data`` and ``build_model``; its reward is the
    best learning rate's final validation ``score`` (``keras_nos.tasks.scores``:
    ``accuracy``, ``log_loss``, or ``r2`` for regression, whose ``build_model``
    gets the width of the targets in place of the number of classes). An objective task gives ``objective`` (a factory of
    ``(value_and_grad, start)`` as in ``keras_nos.tasks.numpy_stepper``) and runs
    ``epochs * steps_per_epoch`` steps; see ``keras_nos.tasks.objectives`` for its reward.
    """

    name: str
    load_data: Optional[Callable] = None  # (data_path or None, seed) -> datasets.Splits
    build_model: Optional[Callable] = None  # (input_shape, num_classes, name) -> keras.Model with logits out
    epochs: int = 1
    batch_size: int = 32
    description: str = ""
    steps_per_epoch: Optional[int] = None  # None: one pass over the training split
    objective: Optional[Callable] = None  # () -> (value_and_grad, start): minimise a function, no network
    score: str = "accuracy"  # a name in keras_nos.tasks.scores.SCORES

    def __post_init__(self):
        if self.objective is None and (self.load_data is None or self.build_model is None):
            raise ValueError(f"Task {self.name!r} needs load_data and build_model, or an objective to minimise")
        if self.objective is not None and not self.steps_per_epoch:
            raise ValueError(f"Objective task {self.name!r} needs steps_per_epoch (steps between curve points)")
        scores.get_score(self.score)

    @property
    def reward_label(self):
        """What a candidate's reward on this task measures, in words for a plot's axis."""
        if self.objective is not None:
            return "orders of magnitude taken off the objective, / 10"
        return scores.get_score(self.score).label


TASKS = {}


def register_task(task, overwrite=False):
    """Add ``task`` to the registry so every command can use it by name."""
    return name_tables.register(TASKS, task, "task", overwrite)


def get_task(name):
    """The task registered as ``name``; ``ValueError`` lists the names."""
    return name_tables.lookup(TASKS, name, "task", Task)


def _digits(data_path, seed):
    return datasets.load_digits(seed=seed)


def _cifar10(data_path, seed, train_limit=None, validation_size=5000, pool=1):
    return datasets.load_cifar10(data_path, seed=seed, train_limit=train_limit, validation_size=validation_size,
                                 pool=pool)


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
    load_data=lambda data_path, seed: datasets.load_digits_reconstruction(seed=seed),
    build_model=models.autoencoder,
    epochs=8, batch_size=32, score="r2",
    description="scikit-learn digits as 64-vectors (bundled), dense autoencoder 64-32-8-32-64, 8 epochs; reward: "
                "validation R^2 of the reconstruction",
))
register_task(Task(
    name="cifar10-convnet",
    load_data=_cifar10,
    build_model=functools.partial(models.conv_block_net, filters=32),
    epochs=5, batch_size=100,
    description="the paper's proxy: CIFAR-10 45k/5k, two 3x3 conv layers of 32 filters with BN and ReLU, 5 epochs",
))
register_task(Task(
    name="cifar10-small",
    load_data=functools.partial(_cifar10, train_limit=4000, validation_size=2000),
    build_model=functools.partial(models.conv_block_net, filters=16),
    epochs=2, batch_size=100,
    description="cheap CIFAR-10 proxy for CPU search: 4,000 training images, 16 filters, 2 epochs",
))
_POOLED = register_task(Task(
    # A candidate for the cheap proxy with a longer horizon (960 steps, not 80) at a quarter of the compute a
    # step: the full cifar10-convnet ranks optimizers differently from 100-step trainings (README, proxies).
    name="cifar10-pooled",
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
