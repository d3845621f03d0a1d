"""The update of one variable under any rule given as data, in JAX: every candidate computed, one picked.

Inside ``jax.vmap`` each copy's rule is a few integers (``rule_code.RuleCode``); a Python branch on them is
impossible, so every operand of the bank, every unary and every binary is computed and ``lax.select_n``
keeps the one the copy's code names. Identity, negation, clip and drop are one case with per-copy parameters,
and add and sub another, so the program stays small. A value that is NaN or inf in a branch the code does not pick never
reaches the update (a select, not a weighted sum). The operands, running averages, random draws and
functions are those of ``keras_nos.dsl.semantics`` and ``primitives``, as ``RuleOptimizer`` computes them,
so a copy updates exactly as ``RuleOptimizer`` would with the rule written out, ``noise`` and ``drop``
included: their draws are the same numbers on every backend (``optimizers.random_draws``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from keras_nos.dsl import primitives, semantics
from keras_nos.dsl.parser import parse_rule
from keras_nos.dsl.rule import evaluate_node
from keras_nos.optimizers.random_draws import operand_draw
from keras_nos.tasks.batched.rule_code import BANK_OPERANDS, BINARY_FUNCTIONS, SCALED, UNARY_FUNCTIONS, RuleCode

_BANK_NODES = tuple(parse_rule(token).root for token in BANK_OPERANDS)
AVERAGE_SLOTS = tuple(semantics.AVERAGES)  # every copy keeps m, v and y: which one its rule reads is data


def _shaped(value, like):
    return jnp.broadcast_to(value, like.shape).astype(like.dtype)


def _apply_unary(code, group, side, x, operand):
    """The unary of ``code`` at (group, side) applied to ``x``."""
    scaled = primitives.clip(jnp, code.unary_sign[group, side] * x, code.unary_bound[group, side])
    scaled = primitives.drop(jnp, scaled, code.unary_rate[group, side], operand("uniform"))
    cases = {SCALED: scaled, **{name: primitives.UNARY[name](jnp, x) for name in UNARY_FUNCTIONS[1:]}}
    return lax.select_n(code.unary_function[group, side], *[_shaped(cases[name], x) for name in UNARY_FUNCTIONS])


def _apply_binary(code, group, x, y):
    cases = {"add": primitives.add(jnp, x, code.binary_sign[group] * y),
             **{name: primitives.BINARY[name](jnp, x, y) for name in BINARY_FUNCTIONS[1:]}}
    return lax.select_n(code.binary_function[group], *[_shaped(cases[name], x) for name in BINARY_FUNCTIONS])


def rule_update(code: RuleCode, operand: Callable[[str], jax.Array], like: jax.Array) -> jax.Array:
    """The update of one copy's rule for weights shaped ``like``: group after group, each result joining
    the operands of later groups. ``code`` holds one rule's rows of a ``RuleCode``; ``operand(name)`` is
    ``semantics.step_operands``' reader of this step's operands."""
    bank = [_shaped(evaluate_node(node, jnp, operand), like) for node in _BANK_NODES]
    results: list[jax.Array] = []
    for group in range(code.operands.shape[0]):
        available = bank + results
        left = _apply_unary(code, group, 0, lax.select_n(code.operands[group, 0], *available), operand)
        right = _apply_unary(code, group, 1, lax.select_n(code.operands[group, 1], *available), operand)
        results.append(_apply_binary(code, group, left, right))
    return lax.select_n(code.last, *results) if len(results) > 1 else results[0]


def step_draws(seed: int, step: Any, weights: Sequence[jax.Array]) -> list[dict[str, jax.Array]]:
    """Every random operand of zero-based ``step`` for each variable shaped as ``weights`` (only their shapes
    are read). ``program`` draws them a step ahead into the scan's carry: computed there once for all copies,
    where XLA would otherwise recompute them inside every copy's fused update."""
    return [{name: operand_draw(name, like.shape, seed, step, index, like.dtype) for name in semantics.RANDOM_OPERANDS}
            for index, like in enumerate(weights)]


def rule_step(code: RuleCode, learning_rate: jax.Array, weights: Sequence[jax.Array], gradients: Sequence[jax.Array],
              slots: Mapping[str, Sequence[jax.Array]], step: Any, settings: Mapping[str, Any],
              draws: Sequence[Mapping[str, jax.Array]]) -> tuple[list[jax.Array], dict[str, list[jax.Array]]]:
    """(new weights, new slots) after one step ``w <- w - learning_rate * rule`` at zero-based ``step``.

    ``slots`` maps 'm', 'v', 'y' to a list of averages, one per weight; ``settings`` holds the decay rates and
    epsilon (``semantics.DEFAULT_HYPERPARAMETERS``) and ``decay_steps``; ``draws`` are ``step_draws`` of ``step``.
    """
    new_weights: list[jax.Array] = []
    new_slots: dict[str, list[jax.Array]] = {slot: [] for slot in AVERAGE_SLOTS}
    t = jnp.asarray(step, jnp.float32)
    for index, (w, g) in enumerate(zip(weights, gradients)):
        g = g.astype(w.dtype)
        values = {"g": g, "w": w, **draws[index]}
        for slot in AVERAGE_SLOTS:
            beta = settings[semantics.AVERAGES[slot].beta]
            new = semantics.updated_average(jnp, slot, slots[slot][index], g, beta)
            new_slots[slot].append(new)
            values[slot] = semantics.bias_corrected(new, jnp.asarray(beta, w.dtype), t)
        operand = semantics.step_operands(jnp, values, t, settings["epsilon"], settings["decay_steps"])
        new_weights.append(w - learning_rate.astype(w.dtype) * rule_update(code, operand, w))
    return new_weights, new_slots
