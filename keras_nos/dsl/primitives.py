"""The functions of the update-rule language, written once for any array namespace.

Every function takes ``xp`` (``numpy`` for fingerprints, ``keras.ops`` inside an
optimizer) so the search's fingerprints and the compiled optimizer compute the
same thing. Each function is defined for every finite input; the choices that
make it so are stated in its docstring.
"""

from __future__ import annotations

import math
from typing import Any

DIVISION_DELTA = 1e-8
EXP_MAX_ARGUMENT = 80.0
LOG_MIN_ABS = 1e-30


def exp(xp: Any, x: Any) -> Any:
    """e^x with the argument capped at 80 so float32 never overflows to inf."""
    return xp.exp(xp.minimum(x, EXP_MAX_ARGUMENT))


def log(xp: Any, x: Any) -> Any:
    """log|x|; |x| is floored at 1e-30 so log(0) is a large negative number, not -inf."""
    return xp.log(xp.maximum(xp.abs(x), LOG_MIN_ABS))


def sqrt(xp: Any, x: Any) -> Any:
    """sqrt|x|, as in the paper."""
    return xp.sqrt(xp.abs(x))


def sign(xp: Any, x: Any) -> Any:
    return xp.sign(x)


def negative(xp: Any, x: Any) -> Any:
    return -x


def clip(xp: Any, x: Any, bound: Any) -> Any:
    """x clipped to [-bound, bound] (a plain number stays a number: keras.ops.clip rejects one)."""
    if isinstance(x, (int, float)):
        return max(-bound, min(bound, x))
    return xp.clip(x, -bound, bound)


def drop(xp: Any, x: Any, rate: Any, uniform: Any) -> Any:
    """Dropout on the update: each entry is zeroed with probability ``rate``, the
    rest scaled by 1/(1-rate). ``uniform`` is the step's single U(0,1) draw, shared
    by every drop in a rule so that equal rules stay equal (see fingerprint)."""
    return xp.where(uniform >= rate, x / (1.0 - rate), 0.0 * x)


def add(xp: Any, x: Any, y: Any) -> Any:
    return x + y


def subtract(xp: Any, x: Any, y: Any) -> Any:
    return x - y


def multiply(xp: Any, x: Any, y: Any) -> Any:
    return x * y


def divide(xp: Any, x: Any, y: Any) -> Any:
    """x / (y + delta) with delta = 1e-8 taking the sign of y, so the denominator
    is never zero; for y >= 0 (sqrt(v), exp(.)) it is exactly the paper's x/(y+delta)."""
    return x / (y + xp.where(y >= 0, DIVISION_DELTA, -DIVISION_DELTA))


def power(xp: Any, x: Any, y: Any) -> Any:
    """x^y. A whole-number exponent is the ordinary power (g^2 >= 0); any other
    exponent uses the odd extension sign(x)*|x|^y, which is finite for negative x
    where the plain power is NaN."""
    if isinstance(y, (int, float)):
        if float(y).is_integer():
            return xp.power(x, y)
        return xp.sign(x) * xp.power(xp.abs(x), y)
    # |x|^y as exp(y log|x|): XLA's pow on a CPU is a scalar library call per element, and two of them were 84%
    # of the batched evaluator's update (docs/results/evaluator-throughput.md); its exp and log are vectorised.
    magnitude = xp.exp(xp.where(xp.equal(y, 0.0), 0.0, y * xp.log(xp.abs(x))))  # 0^0 = 1, where log 0 = -inf
    whole = xp.equal(y, xp.round(y))
    negative = xp.logical_and(xp.less(x, 0.0), xp.equal(xp.abs(xp.mod(y, 2.0)), 1.0))  # (-2)^3 = -8, (-2)^2 = 4
    return xp.where(whole, xp.where(negative, -magnitude, magnitude), xp.sign(x) * magnitude)


def keep_left(xp: Any, x: Any, y: Any) -> Any:
    return x


UNARY = {"exp": exp, "log": log, "sqrt": sqrt, "sign": sign, "neg": negative}
BINARY = {
    "add": add,
    "sub": subtract,
    "mul": multiply,
    "div": divide,
    "pow": power,
    "left": keep_left,
}


def linear_decay(xp: Any, t: Any, total: Any) -> Any:
    """ld = 1 - t/T, held at 0 after T steps."""
    return 1.0 - xp.minimum(t, total) / total


def cosine_decay(xp: Any, t: Any, total: Any, periods: Any) -> Any:
    """cd_n = 0.5*(1 + cos(2*pi*n*t/T)), t held at T."""
    return 0.5 * (1.0 + xp.cos(2.0 * math.pi * periods * xp.minimum(t, total) / total))


def restart_decay(xp: Any, t: Any, total: Any, periods: Any) -> Any:
    """rd_n = 0.5*(1 + cos(pi*((n*t) mod T)/T)), t held at T."""
    phase = xp.mod(periods * xp.minimum(t, total), total)
    return 0.5 * (1.0 + xp.cos(math.pi * phase / total))
