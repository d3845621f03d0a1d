"""Moves on token lists that strategies share: ``mutate`` (evolution's operator, and rl's children of its
elites) and ``pad_tokens`` (a short rule made as long as the space's). The other move, dropping one part of a
rule, is ``shrink.py``.

Mutation resamples 1 to ``max_mutations`` random positions that have more than one valid choice, each to a
different valid token; later tokens that the change made invalid (a result that is no longer read, say) are
resampled too, so a child is always valid.
"""

from typing import TYPE_CHECKING

import numpy as np

from keras_nos.dsl.tokens import GROUP_SIZE

if TYPE_CHECKING:
    from keras_nos.search.space import SearchSpace


def pad_tokens(tokens: list[str], num_groups: int) -> list[str]:
    """Extend a token list to ``num_groups`` groups with groups that pass the last result through."""
    tokens = list(tokens)
    while len(tokens) < num_groups * GROUP_SIZE:
        last = f"h{len(tokens) // GROUP_SIZE - 1}"
        tokens += [last, last, "identity", "identity", "left"]
    return tokens


def mutate(space: "SearchSpace", parent: list[str], rng: np.random.Generator, max_mutations: int) -> list[str]:
    """A valid child of ``parent`` that differs from it in 1 to ``max_mutations`` slots.

    Only slots with another valid choice can change, so the child always differs from its parent; later
    tokens that the change made invalid (a result that is no longer read, say) are resampled too.
    """
    child = list(parent)
    free = [p for p in range(space.sequence_length) if len(space.choices(p, child[:p])) > 1]
    count = min(int(rng.integers(1, max_mutations + 1)), len(free))
    positions = sorted(int(p) for p in rng.choice(free, size=count, replace=False))
    for position in positions:
        options = [t for t in space.choices(position, child[:position]) if t != child[position]]
        if options:
            child[position] = options[int(rng.integers(len(options)))]
    for position in range(space.sequence_length):
        options = space.choices(position, child[:position])
        if child[position] not in options:
            child[position] = options[int(rng.integers(len(options)))]
    return child
