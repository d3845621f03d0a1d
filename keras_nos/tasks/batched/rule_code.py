"""Rules as data: the paper's token form as integer arrays that one compiled program interprets.

A rule of ``k`` groups becomes, per group, two operand indices into the operand
bank (the bank's fixed operands, then the results ``h0 .. h{G-2}``), two unary
indices and one binary index, plus the index of its last group. The tables are
fixed, not a space's, so one compiled program serves every space and every
rule with up to ``G`` groups; a rule of fewer groups fills the rest with groups
whose results nothing reads.

Not expressible here, so left to the current evaluator: a rule that has no
token form (a constant such as 3, ``w`` alone, ``clip(g, 2)``) and one of more
than ``G`` groups. Random operands (``noise``, ``drop``) are drawn as
``RuleOptimizer`` draws them (``interpreter.py``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Optional, Union

import numpy as np

from keras_nos.dsl.parser import parse_rule
from keras_nos.dsl.tokens import BINARY_TOKENS, DECAY_OPERAND_TOKENS, GROUP_SIZE, OPERAND_TOKENS, UNARY_TOKENS
from keras_nos.dsl.tokens import rule_to_tokens, tokens_to_rule
from keras_nos.errors import KerasNosError

if TYPE_CHECKING:
    from keras_nos.dsl.rule import Rule

BANK_OPERANDS = OPERAND_TOKENS + DECAY_OPERAND_TOKENS
UNARIES = UNARY_TOKENS
MAX_PROGRAM_GROUPS = 4  # the most groups of a search space (search.space.MAX_GROUPS)

# Each unary token as (function, sign, clip bound, drop rate). identity, neg, clip(b) and drop(r) are one
# function, drop(sign * clip(x, bound), rate), whose other parameters leave x as it is (sign 1, bound inf,
# rate 0): the interpreter computes one case for all seven, not seven cases.
SCALED = "scaled"
UNARY_PARTS = {token: (SCALED, 1.0, np.inf, 0.0) for token in UNARIES}
UNARY_PARTS.update({"neg": (SCALED, -1.0, np.inf, 0.0), "exp": ("exp", 1.0, np.inf, 0.0),
                    "log": ("log", 1.0, np.inf, 0.0), "sqrt": ("sqrt", 1.0, np.inf, 0.0),
                    "sign": ("sign", 1.0, np.inf, 0.0)})
UNARY_PARTS.update({t: (SCALED, 1.0, float(t[5:-1]), 0.0) for t in UNARIES if t.startswith("clip(")})
UNARY_PARTS.update({t: (SCALED, 1.0, np.inf, float(t[5:-1])) for t in UNARIES if t.startswith("drop(")})
UNARY_FUNCTIONS = (SCALED, "exp", "log", "sqrt", "sign")
# Each binary token as (function, sign of the right side): sub is x + (-y), exactly x - y in floating point.
BINARY_PARTS = {"add": ("add", 1.0), "sub": ("add", -1.0), "mul": ("mul", 1.0), "div": ("div", 1.0),
                "pow": ("pow", 1.0), "left": ("left", 1.0)}
BINARY_FUNCTIONS = ("add", "mul", "div", "pow", "left")
BINARIES = BINARY_TOKENS
_FILLER_GROUP = ("g", "g", "identity", "identity", "left")


@dataclasses.dataclass(frozen=True)
class RuleCode:
    """Rules stacked along the first axis: ``operands`` (R, G, 2), indices into the operand bank; each unary
    as ``unary_function`` (R, G, 2), an index into ``UNARY_FUNCTIONS``, and its ``unary_sign``,
    ``unary_bound`` and ``unary_rate``; each binary as ``binary_function`` (R, G) and ``binary_sign``; and
    ``last`` (R,), the group whose result is the update."""

    operands: np.ndarray
    unary_function: np.ndarray
    unary_sign: np.ndarray
    unary_bound: np.ndarray
    unary_rate: np.ndarray
    binary_function: np.ndarray
    binary_sign: np.ndarray
    last: np.ndarray

    @property
    def num_groups(self) -> int:
        return self.operands.shape[1]

    def take(self, rows: Union[np.ndarray, Sequence[int]]) -> RuleCode:
        """The code of the rules at ``rows`` (an index array), in that order."""
        return RuleCode(*(np.asarray(part)[rows] for part in dataclasses.astuple(self)))


def groups_of(rule: Union[str, Rule], max_groups: int) -> Optional[list[list[str]]]:
    """The token groups of ``rule`` (text or ``Rule``), or None when this interpreter cannot run it."""
    rule = parse_rule(rule)
    try:
        tokens = rule_to_tokens(rule)
    except KerasNosError:
        return None
    if len(tokens) > GROUP_SIZE * max_groups:
        return None
    if tokens_to_rule(tokens) != rule:  # the token form must be the very same tree, or the update would differ
        return None
    return [tokens[start:start + GROUP_SIZE] for start in range(0, len(tokens), GROUP_SIZE)]


def encode(groups_per_rule: Sequence[Sequence[Sequence[str]]], num_groups: int) -> RuleCode:
    """The ``RuleCode`` of rules given as token groups (from ``groups_of``), padded to ``num_groups`` groups."""
    bank = {token: i for i, token in enumerate(BANK_OPERANDS + tuple(f"h{k}" for k in range(num_groups - 1)))}
    size = len(groups_per_rule)
    pairs, singles = (size, num_groups, 2), (size, num_groups)
    code = RuleCode(np.zeros(pairs, np.int32), np.zeros(pairs, np.int32), np.ones(pairs, np.float32),
                    np.full(pairs, np.inf, np.float32), np.zeros(pairs, np.float32), np.zeros(singles, np.int32),
                    np.ones(singles, np.float32), np.zeros(size, np.int32))
    for row, groups in enumerate(groups_per_rule):
        if len(groups) > num_groups:
            raise KerasNosError(f"A rule of {len(groups)} groups does not fit a program of {num_groups} groups")
        padded = list(groups) + [_FILLER_GROUP] * (num_groups - len(groups))
        for k, (op1, op2, un1, un2, binary) in enumerate(padded):
            code.operands[row, k] = bank[op1], bank[op2]
            for side, unary in enumerate((un1, un2)):
                function, sign, bound, rate = UNARY_PARTS[unary]
                code.unary_function[row, k, side] = UNARY_FUNCTIONS.index(function)
                code.unary_sign[row, k, side], code.unary_bound[row, k, side] = sign, bound
                code.unary_rate[row, k, side] = rate
            function, sign = BINARY_PARTS[binary]
            code.binary_function[row, k], code.binary_sign[row, k] = BINARY_FUNCTIONS.index(function), sign
        code.last[row] = len(groups) - 1
    return code
