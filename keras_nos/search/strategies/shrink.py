"""Shrunk variants of a rule: each drops one part of it, as genetic programming's shrink and hoist mutations do.

A good rule found by search is often a good core with a harmful extra: ``drop(adam, 0.1) + clip(...)``.
A random mutation has to hit the one slot that removes the extra, about one try in a hundred; the shrunk
variants of a rule are the handful of moves that do, so a search can try them all. (Unlike
``keras_nos.dsl.simplify``, which keeps a rule's behaviour, these change it.)

Per group ``[operand1, operand2, unary1, unary2, binary]``: a unary becomes ``identity``; the binary becomes
``left`` (keeping ``unary1(operand1)``); or the group keeps its right side alone. And a part can become the
whole rule (hoisting): an earlier group's result, or one side ``unary(operand)`` of a group. Only variants the
space can express and that are valid are returned.
"""

from typing import TYPE_CHECKING

from keras_nos.dsl.tokens import GROUP_SIZE
from keras_nos.search.strategies.moves import pad_tokens

if TYPE_CHECKING:
    from keras_nos.search.space import SearchSpace


def shrunk_variants(space: "SearchSpace", tokens: list[str]) -> list[list[str]]:
    """Valid token lists that each drop one part of ``tokens`` (in slot order, then the hoists; no duplicates)."""
    tokens = list(tokens)
    edits, hoisted_results, hoisted_sides = [], [], []
    for start in range(0, len(tokens), GROUP_SIZE):
        op1, op2, un1, un2, binary = tokens[start:start + GROUP_SIZE]
        groups = []
        if "identity" in space.unaries:
            groups += [[op1, op2, "identity", un2, binary], [op1, op2, un1, "identity", binary]]
        if "left" in space.binaries and binary != "left":
            groups += [[op1, op2, un1, un2, "left"], [op2, op2, un2, un2, "left"]]
        edits += [tokens[:start] + group + tokens[start + GROUP_SIZE:] for group in groups]
        if start + GROUP_SIZE < len(tokens):
            hoisted_results.append(pad_tokens(tokens[:start + GROUP_SIZE], space.num_groups))
        hoisted_sides += [pad_tokens([operand, operand, unary, "identity", "left"], space.num_groups)
                          for operand, unary in ((op1, un1), (op2, un2)) if operand not in space.results]
    can_hoist = "identity" in space.unaries and "left" in space.binaries
    unique = []
    for variant in edits + (hoisted_results + hoisted_sides if can_hoist else []):
        if variant != tokens and variant not in unique and space.is_valid(variant):
            unique.append(variant)
    return unique
