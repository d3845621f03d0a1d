"""Random draws for noise inside an optimizer step: the same numbers on every Keras backend, with no state.

Each element's draw is a counter-based hash of (seed, stream, step, element index) in ``keras.ops``
integer arithmetic, not a backend's own generator (TensorFlow's Philox and JAX's threefry give other
numbers for one seed). So ``RuleOptimizer`` on TensorFlow, the same rule on JAX and the batched
evaluator's interpreter draw alike, and a rule with ``noise`` or ``drop`` scores the same under either
evaluator. Keyed by the step counter, draws differ every step, are reproducible, and resume exactly
after ``load_model`` because the step count is saved; no variable is threaded through a train step.
"""

from __future__ import annotations

from typing import Any

from keras import ops

from keras_nos.dsl import semantics

# _mix32, uniform_draw and normal_draw have no annotations: keras-nos export copies them into modules that
# import only keras.


def _mix32(x):
    """A 32-bit integer hash (Wellons' lowbias32): every bit of the result depends on every bit of ``x``."""
    x = ops.bitwise_xor(x, ops.right_shift(x, 16))
    x = ops.multiply(x, ops.convert_to_tensor(0x7FEB352D, "uint32"))
    x = ops.bitwise_xor(x, ops.right_shift(x, 15))
    x = ops.multiply(x, ops.convert_to_tensor(0x846CA68B, "uint32"))
    return ops.bitwise_xor(x, ops.right_shift(x, 16))


def uniform_draw(shape, seed, step, stream=0, dtype="float32"):
    """Draws uniform in [0, 1), one per element of ``shape`` (a tuple of ints), keyed by (seed, stream, step)."""
    size = 1
    for dimension in shape:
        size *= int(dimension)
    key = (int(seed) * 1000003 + int(stream)) % (2**31 - 1)
    key = _mix32(ops.bitwise_xor(_mix32(ops.convert_to_tensor(key, "uint32")), ops.cast(step, "uint32")))
    counter = ops.cast(ops.arange(size), "uint32")
    bits = _mix32(ops.add(_mix32(ops.bitwise_xor(counter, key)), key))
    fraction = ops.multiply(ops.cast(ops.right_shift(bits, 8), "float32"), 1.0 / 16777216.0)  # 24 bits: exact
    return ops.cast(ops.reshape(fraction, shape), dtype)


def normal_draw(shape, seed, step, stream=0, stddev=1.0, dtype="float32"):
    """Draws from N(0, ``stddev``^2), one per element of ``shape``, keyed as ``uniform_draw``: Box-Muller on the
    two halves of one uniform draw of twice the size."""
    first, second = ops.unstack(uniform_draw((2, *shape), seed, step, stream), axis=0)
    radius = ops.sqrt(-2.0 * ops.log(1.0 - first))
    return ops.cast(stddev * radius * ops.cos(2.0 * 3.141592653589793 * second), dtype)


def operand_draw(name: str, shape: tuple[int, ...], seed: int, step: Any, index: int, dtype: Any = "float32") -> Any:
    """The random operand ``name`` (``semantics.RANDOM_OPERANDS``) of the variable at ``index``, shaped ``shape``,
    at ``step``: what ``RuleOptimizer`` and the batched evaluator's interpreter both draw."""
    stream = semantics.random_stream(name, index)
    return semantics.random_draw(
        name,
        lambda stddev: normal_draw(shape, seed, step, stream, stddev=stddev, dtype=dtype),
        lambda: uniform_draw(shape, seed, step, stream, dtype=dtype),
    )
