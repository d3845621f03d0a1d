"""A user's own task, outside the package, for ``--task own_task:ATTR`` (the tests put this folder on the path).

Its model is functional with two inputs and its data are made here, as a
user's would be: nothing from keras_nos' bundled tasks.
"""

import keras
import numpy as np

from keras_nos.tasks import Splits, Task


def _two_input_data(data_path, seed, rows=160, labels=None):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(rows, 6)).astype("float32"), rng.normal(size=(rows, 3)).astype("float32")
    y = ((a[:, 0] + b[:, 0]) > 0).astype("int64")
    cut = rows * 3 // 4
    y_train = y[:cut] if labels is None else y[:labels]
    return Splits([a[:cut], b[:cut]], y_train, [a[cut:], b[cut:]], y[cut:])


def _short_labels(data_path, seed):
    return _two_input_data(data_path, seed, labels=50)


def _two_input_model(classes=2):
    first, second = keras.Input((6,)), keras.Input((3,))
    hidden = keras.layers.Dense(8, activation="relu")(keras.layers.Concatenate()([first, second]))
    return keras.Model([first, second], keras.layers.Dense(classes)(hidden))


def _one_unit_model():
    return _two_input_model(classes=1)


def _no_model():
    return None


class BrokenLayer(keras.layers.Layer):
    """Fails in training only: the checks before a search pass, every candidate's training raises."""

    def call(self, x, training=None):
        if training:
            raise RuntimeError("BrokenLayer cannot train")
        return x


def _broken_model():
    first, second = keras.Input((6,)), keras.Input((3,))
    hidden = BrokenLayer()(keras.layers.Concatenate()([first, second]))
    return keras.Model([first, second], keras.layers.Dense(2)(hidden))


LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def make_task(name="own-two-inputs", build_model=_two_input_model, load_data=_two_input_data, **options):
    """The good task: a function returning a ``Task``, as ``--task own_task:make_task`` takes it."""
    return Task(name, load_data=load_data, build_model=build_model, loss=LOSS, metrics=("accuracy",),
                score=options.pop("score", "val_accuracy"), epochs=options.pop("epochs", 1), batch_size=32, **options)


task = make_task()  # a Task itself works too
short_labels = make_task(load_data=_short_labels)
wrong_width = make_task(build_model=_one_unit_model)
no_model = make_task(build_model=_no_model)
broken = make_task(build_model=_broken_model)


def unknown_objective():
    return make_task(score="val_bogus")


def not_callable():
    return make_task(build_model="not a function")
