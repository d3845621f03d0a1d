"""Sparse gradients made dense before an update rule sees them."""

from __future__ import annotations

import keras


# No annotations: keras-nos export copies this function into modules that import only keras.
def dense_gradient(gradient):
    """``gradient`` as a dense tensor of its variable's shape.

    On TensorFlow an ``Embedding`` (or any gather) has a ``tf.IndexedSlices``
    gradient: some rows, possibly repeated. An update rule is an elementwise
    function of g and of averages that decay on every row, and a row that
    appears twice must count once with its gradients summed; densifying does
    both. Without it ``g * ops.square(g)`` raised and AddSign's sign(g) saw the
    repeated rows separately. Other backends hand optimizers dense gradients.
    """
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        if isinstance(gradient, tf.IndexedSlices):
            return tf.convert_to_tensor(gradient)
    return gradient
