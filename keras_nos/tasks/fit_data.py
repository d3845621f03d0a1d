"""The data a child network trains on, in any form ``model.fit`` takes.

Inputs are an array, a list or dict of arrays (a multi-input model), or a
batched ``tf.data.Dataset`` of ``(inputs, targets)``. The fused trainer needs
a few things of any of them: how many examples, the first few for building
the model, the batches for validation, and the targets repeated for each of
its copies.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any, Optional

import keras
import numpy as np

from keras_nos.errors import KerasNosError


def is_dataset(x: Any) -> bool:
    """Whether ``x`` is a ``tf.data.Dataset`` (checked by type name: TensorFlow is not imported for arrays)."""
    return any(kind.__name__.endswith("DatasetV2") for kind in type(x).__mro__)


def num_examples(x: Any) -> Optional[int]:
    """The examples in inputs ``x`` (the length of its first array); None for a dataset."""
    if is_dataset(x):
        return None
    return len(keras.tree.flatten(x)[0])


def steps_per_epoch(x: Any, batch_size: int) -> Optional[int]:
    """Batches in one pass over ``x``; a dataset's own count, None when TensorFlow does not know it."""
    if is_dataset(x):
        count = int(x.cardinality())
        return count if count > 0 else None
    return math.ceil(num_examples(x) / batch_size)


def head(x: Any, y: Any = None, n: int = 2) -> tuple[Any, Any]:
    """The first ``n`` examples of (x, y); a dataset's first batch."""
    if is_dataset(x):
        inputs, targets = next(iter(x))
        return keras.tree.map_structure(lambda a: a[:n], inputs), targets[:n]
    return keras.tree.map_structure(lambda a: a[:n], x), y[:n]


def batches(x: Any, y: Any = None, size: int = 500) -> Iterator[tuple[Any, Any]]:
    """(inputs, targets) in chunks of ``size`` examples; a dataset's own batches."""
    if is_dataset(x):
        yield from x
        return
    for start in range(0, num_examples(x), size):
        yield keras.tree.map_structure(lambda a: a[start:start + size], x), y[start:start + size]


def for_copies(x: Any, y: Any, names: Sequence[str]) -> tuple[Any, Any]:
    """(inputs, targets) with the targets given to each of the outputs ``names``, as ``model.fit`` takes them."""
    if is_dataset(x):
        return x.map(lambda inputs, targets: (inputs, {name: targets for name in names})), None
    return x, {name: y for name in names}


def check_pair(x: Any, y: Any, what: str) -> None:
    """A ``KerasNosError`` when inputs ``x`` and targets ``y`` do not fit together."""
    if is_dataset(x):
        if y is not None:
            raise KerasNosError(f"{what}: a tf.data.Dataset yields (inputs, targets) itself; got y of type "
                                f"{type(y).__name__} too, pass y=None")
        return
    lengths = {len(a) for a in keras.tree.flatten(x)}
    if y is None:
        raise KerasNosError(f"{what}: targets y are missing; pass arrays x and y, or a tf.data.Dataset of (x, y)")
    if len(lengths) > 1:
        raise KerasNosError(f"{what}: the input arrays have different lengths {sorted(lengths)}; each needs one row "
                            f"an example")
    if len(y) not in lengths:
        raise KerasNosError(f"{what}: {len(y)} targets for {lengths.pop()} inputs; y needs one row an input example")


def as_array(y: Any) -> Optional[np.ndarray]:
    """Targets as a NumPy array (lists and tensors alike)."""
    return None if y is None else np.asarray(y)
