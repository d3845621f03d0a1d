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

import dataclasses

import numpy as np

from keras_nos.dsl.parser import parse_rule
from keras_nos.dsl.tokens import BINARY_TOKENS, DECAY_OPERAND_TOKENS, GROUP_SIZE, OPERAND_TOKENS, UNARY_TOKENS
from keras_nos.dsl.tokens import rule_to_tokens, tokens_to_rule
from keras_nos.errors import KerasNosError

BANK_OPERANDS = OPERAND_TOKENS + DECAY_OPERAND_TOKENS
UNARIES = UNARY_TOKENS
MAX_PROGRAM_GROUPS = 4  # the most groups of a search space (search.space.MAX_GROUPS)
BINARIES = BINARY_TOKENS
_FILLER_GROUP = ("g", "g", "identity", "identity", "left")


@dataclasses.dataclass(frozen=True)
class RuleCode:
    """Token indices of rules stacked along the first axis: ``operands`` (R, G, 2), ``unaries`` (R, G, 2),
    ``binaries`` (R, G) and ``last`` (R,), the group whose result is the update."""

    operands: np.ndarray
    unaries: np.ndarray
    binaries: np.ndarray
    last: np.ndarray

    @property
    def num_groups(self):
        return self.operands.shape[1]

    def take(self, rows):
        """The code of the rules at ``rows`` (an index array), in that order."""
        return RuleCode(*(np.asarray(part)[rows] for part in dataclasses.astuple(self)))


def groups_of(rule, max_groups):
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


def encode(groups_per_rule, num_groups):
    """The ``RuleCode`` of rules given as token groups (from ``groups_of``), padded to ``num_groups`` groups."""
    bank = {token: i for i, token in enumerate(BANK_OPERANDS + tuple(f"h{k}" for k in range(num_groups - 1)))}
    unaries, binaries = {t: i for i, t in enumerate(UNARIES)}, {t: i for i, t in enumerate(BINARIES)}
    size = len(groups_per_rule)
    code = RuleCode(np.zeros((size, num_groups, 2), np.int32), np.zeros((size, num_groups, 2), np.int32),
                    np.zeros((size, num_groups), np.int32), np.zeros(size, np.int32))
    for row, groups in enumerate(groups_per_rule):
        if len(groups) > num_groups:
            raise KerasNosError(f"A rule of {len(groups)} groups does not fit a program of {num_groups} groups")
        padded = list(groups) + [_FILLER_GROUP] * (num_groups - len(groups))
        for k, (op1, op2, un1, un2, binary) in enumerate(padded):
            code.operands[row, k] = bank[op1], bank[op2]
            code.unaries[row, k] = unaries[un1], unaries[un2]
            code.binaries[row, k] = binaries[binary]
        code.last[row] = len(groups) - 1
    return code
