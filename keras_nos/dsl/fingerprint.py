"""Behavioural fingerprints: rules that compute the same update share one.

Following the program hashing of Lion's search, a rule is run on a fixed set of
random optimizer states (in float64 NumPy) and the rounded outputs are hashed,
so ``g*1`` and ``g``, or ``sign(g)*sign(m)`` and ``sign(m)*sign(g)``, collide and
the search trains each behaviour once. Noise and drop read fixed draws, the
same for every rule, so equal rules with randomness collide too.
"""

from __future__ import annotations

import hashlib
from typing import Union

import numpy as np

from keras_nos.dsl import semantics
from keras_nos.dsl.parser import parse_rule
from keras_nos.dsl.rule import Rule

_SIZE = 64
_DECAY_STEPS = 100.0
_STEPS = (0.0, 17.0, 63.0, 150.0)
_SIGNIFICANT_DIGITS = 6


def _states():
    rng = np.random.default_rng(20170917)
    states = []
    for step in _STEPS:
        scale = 10.0 ** rng.uniform(-4, 1, size=_SIZE)
        g = rng.normal(size=_SIZE) * scale
        m = 0.7 * g + 0.3 * rng.normal(size=_SIZE) * scale
        v = g**2 * rng.uniform(0.5, 2.0, size=_SIZE)
        y = g**3 * rng.uniform(0.5, 2.0, size=_SIZE)
        values = {"g": g, "m": m, "v": v, "y": y, "w": rng.normal(size=_SIZE)}
        for name in ("noise", "uniform"):  # drawn in this order: the hashes of stored searches depend on it
            values[name] = semantics.random_draw(name, lambda stddev: rng.normal(scale=stddev, size=_SIZE),
                                                 lambda: rng.uniform(size=_SIZE))
        states.append((values, np.float64(step)))
    return states


_STATES = _states()


def behaviour(rule: Union[str, Rule]) -> np.ndarray:
    """The rule's outputs on the fixed states, float64, shape (len(states), size)."""
    rule = parse_rule(rule)
    epsilon = semantics.DEFAULT_HYPERPARAMETERS["epsilon"]
    outputs = []
    with np.errstate(all="ignore"):
        for values, t in _STATES:  # derived operands and decays are kept in the state: every rule reads the same
            operand = semantics.step_operands(np, values, t, epsilon, _DECAY_STEPS)
            value = rule.evaluate(np, operand)
            outputs.append(np.broadcast_to(np.asarray(value, dtype=np.float64), (_SIZE,)))
    return np.stack(outputs)


def fingerprint(rule: Union[str, Rule]) -> str:
    """A 16-hex-digit hash of the rule's behaviour; NaN and inf hash as themselves."""
    values = behaviour(rule)
    rounded = np.array([float(f"{x:.{_SIGNIFICANT_DIGITS - 1}e}") if np.isfinite(x) else x for x in values.ravel()])
    rounded[rounded == 0.0] = 0.0  # -0.0 and 0.0 are one behaviour
    return hashlib.sha1(rounded.tobytes()).hexdigest()[:16]
