"""Stateless random draws keyed by (seed, step), for noise inside an optimizer step.

Keras' ``SeedGenerator`` keeps its state in a variable that a JAX train step does
not thread through the optimizer, so its draws would repeat. A seed made from the
step counter needs no state: draws differ every step, are reproducible, and
resume exactly after ``load_model`` because the step count is saved.
"""

from __future__ import annotations

import keras
from keras import ops

from keras_nos.optimizers.keras_internals import random_seed_dtype


# _FixedSeed and step_seed have no annotations: keras-nos export copies them into modules that import only keras.


class _FixedSeed(keras.random.SeedGenerator):
    """A seed source whose next seed is a given tensor; it holds no variable."""

    def __init__(self, seed_tensor):  # noqa: D107 - no state, so the base __init__ is skipped on purpose
        self._seed_tensor = seed_tensor

    def next(self, ordered=True):
        return self._seed_tensor


def step_seed(seed, step, stream=0):
    """A seed for ``keras.random`` functions, unique to (seed, stream, step)."""
    key = (int(seed) * 1000003 + int(stream)) % (2**31 - 1)
    pair = ops.stack([ops.convert_to_tensor(key, "int32"), ops.cast(step, "int32")])
    return _FixedSeed(ops.cast(pair, random_seed_dtype()))
