"""The search space: which tokens a strategy may put at each slot of the paper's token form.

A sequence is ``num_groups`` groups of five tokens ``[operand1, operand2,
unary1, unary2, binary]`` (see ``keras_nos.dsl.tokens``). Group ``k`` may read
the operand tokens of the space and the results ``h0 .. h{k-1}`` of earlier
groups; the last group is the rule.

No dead groups. Every group except the last must have its result read by a
later group through a *live* operand slot: operand 1 is always live, operand 2
is live unless the group's binary is ``left`` (which keeps only its left side).
In particular the last group reads ``h{num_groups-2}``, and a chain such as
``h0 -> h1 -> rule`` or a tree where the last group reads ``h0`` and ``h1`` are
both allowed. ``choices(position, prefix)`` masks every token that would make
this impossible to satisfy with the remaining slots, so a sequence built by
picking, slot after slot, any token that ``choices`` offers is always valid:

* an operand slot drops the operands that would leave more unread results
  than the remaining live slots can read (e.g. in two groups, when operand 1 of
  the last group is not ``h0``, operand 2 must be ``h0``);
* a binary slot drops ``left`` when operand 2 is the only reader of a result
  that needs it.

Without a prefix, ``choices(position)`` is every token that some valid
sequence has at that position.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any, Optional

import numpy as np

from keras_nos.dsl.tokens import (
    BINARY_TOKENS,
    DECAY_OPERAND_TOKENS,
    GROUP_SIZE,
    OPERAND_TOKENS,
    UNARY_TOKENS,
    tokens_to_rule,
)
from keras_nos.dsl.rule import Rule
from keras_nos.errors import KerasNosError

MIN_GROUPS = 1
MAX_GROUPS = 4
DEFAULT_NUM_GROUPS = 2

SPACES = {
    "paper": {
        "operands": OPERAND_TOKENS,
        "unaries": UNARY_TOKENS,
        "binaries": BINARY_TOKENS,
    },
    "paper-decay": {
        "operands": OPERAND_TOKENS + DECAY_OPERAND_TOKENS,
        "unaries": UNARY_TOKENS,
        "binaries": BINARY_TOKENS,
    },
    "small": {
        "operands": ("g", "m", "sign(g)", "sign(m)", "1", "adam"),
        "unaries": ("identity", "neg", "exp", "sign"),
        "binaries": ("add", "mul", "sub"),
    },
}

_SLOT_KINDS = ("operand", "operand", "unary", "unary", "binary")


def _result_index(token: object) -> Optional[int]:
    """k for a result token 'h{k}', else None."""
    if isinstance(token, str) and len(token) > 1 and token[0] == "h" and token[1:].isdigit():
        return int(token[1:])
    return None


def _checked_tokens(kind: str, tokens: Iterable[str], allowed: Sequence[str]) -> tuple[str, ...]:
    if isinstance(tokens, str):
        raise KerasNosError(f"{kind} must be a list of tokens, not the string {tokens!r}")
    tokens = tuple(tokens)
    if not tokens:
        raise KerasNosError(f"{kind} must name at least one token; allowed: {', '.join(allowed)}")
    for token in tokens:
        if token not in allowed:
            raise KerasNosError(f"Unknown {kind[:-1]} token {token!r}; allowed: {', '.join(allowed)}")
    if len(set(tokens)) != len(tokens):
        duplicates = sorted({t for t in tokens if tokens.count(t) > 1})
        raise KerasNosError(f"{kind} lists a token more than once: {', '.join(duplicates)}")
    return tokens


class SearchSpace:
    """Tokens allowed per slot, and how many groups of five a sequence has (1 to 4).

    ``SearchSpace.preset("paper")`` gives the paper's space; ``SPACES`` lists the presets.
    """

    def __init__(self, operands: Iterable[str], unaries: Iterable[str], binaries: Iterable[str],
                 num_groups: int = DEFAULT_NUM_GROUPS, name: str = "custom") -> None:
        if isinstance(num_groups, bool) or not isinstance(num_groups, (int, np.integer)) or not (
            MIN_GROUPS <= num_groups <= MAX_GROUPS
        ):
            raise KerasNosError(f"num_groups must be an integer from {MIN_GROUPS} to {MAX_GROUPS}; got {num_groups!r}")
        self.operands = _checked_tokens("operands", operands, OPERAND_TOKENS + DECAY_OPERAND_TOKENS)
        self.unaries = _checked_tokens("unaries", unaries, UNARY_TOKENS)
        self.binaries = _checked_tokens("binaries", binaries, BINARY_TOKENS)
        self.num_groups = int(num_groups)
        self.name = name
        self.results = tuple(f"h{k}" for k in range(self.num_groups - 1))
        vocabulary = []
        for token in self.operands + self.results + self.unaries + self.binaries:
            if token not in vocabulary:
                vocabulary.append(token)
        self.vocabulary = vocabulary
        self.token_index = {token: i for i, token in enumerate(vocabulary)}
        # Per-instance cache of the choices of a (position, state) key.
        self._choices_of_state = functools.lru_cache(maxsize=None)(self._choices_uncached)

    @classmethod
    def preset(cls, name: str, num_groups: Optional[int] = None) -> SearchSpace:
        """A named space from ``SPACES``; ``num_groups`` defaults to 2."""
        if name not in SPACES:
            raise KerasNosError(f"Unknown search space {name!r}; allowed: {', '.join(SPACES)}")
        return cls(**SPACES[name], num_groups=DEFAULT_NUM_GROUPS if num_groups is None else num_groups, name=name)

    # -- structure ----------------------------------------------------------------

    @property
    def sequence_length(self) -> int:
        return GROUP_SIZE * self.num_groups

    @property
    def uses_decay(self) -> bool:
        """Whether a decay operand (ld, cd, rd) can appear."""
        return any(token in DECAY_OPERAND_TOKENS for token in self.operands)

    def _check_position(self, position: int) -> None:
        if isinstance(position, bool) or not isinstance(position, (int, np.integer)) or not (
            0 <= position < self.sequence_length
        ):
            raise KerasNosError(f"position must be from 0 to {self.sequence_length - 1}; got {position!r}")

    def _base_choices(self, position):
        group, slot = divmod(position, GROUP_SIZE)
        kind = _SLOT_KINDS[slot]
        if kind == "operand":
            return self.operands + self.results[:group]
        if kind == "unary":
            return self.unaries
        return self.binaries

    # -- masking ------------------------------------------------------------------

    def _state(self, prefix):
        """(position, unread earlier results, operand-1 result, operand-2 result) after ``prefix``.

        Results are read by finished groups through live slots only; the
        current group's operands are kept apart because the binary slot decides
        whether operand 2 is live.
        """
        position = len(prefix)
        unread = set()
        for start in range(0, position - position % GROUP_SIZE, GROUP_SIZE):
            op1, op2, _, _, binary = prefix[start:start + GROUP_SIZE]
            unread.discard(_result_index(op1))
            if binary != "left":
                unread.discard(_result_index(op2))
            unread.add(start // GROUP_SIZE)
        start = position - position % GROUP_SIZE
        current = prefix[start:position]
        op1 = _result_index(current[0]) if len(current) > 0 else None
        op2 = _result_index(current[1]) if len(current) > 1 else None
        return position, frozenset(unread), op1, op2

    def _feasible(self, group, filled, unread, op1, op2, binary=None):
        """Whether every result can still be read once ``filled`` slots of ``group`` are chosen.

        ``unread``: results of finished groups that no live slot reads yet;
        ``op1``/``op2``: the result indices the current group's operands name
        (None for plain operands or unfilled slots); ``binary``: its binary once chosen.
        """
        can_keep_right = any(b != "left" for b in self.binaries)
        op2_live = binary != "left" if binary is not None else can_keep_right
        unread = set(unread)
        unread.discard(op1)
        if op2_live:
            unread.discard(op2)
        free = (filled < 1) + (filled < 2 and op2_live)  # live operand slots still open in this group
        count = max(0, len(unread) - free)
        if group < self.num_groups - 1:
            count += 1  # this group's own result must be read later
        per_group = 2 if can_keep_right else 1
        for later in range(group + 1, self.num_groups):
            count = max(0, count - per_group)
            if later < self.num_groups - 1:
                count += 1
        return count == 0

    def _choices_uncached(self, position, unread, op1, op2):
        group, slot = divmod(position, GROUP_SIZE)
        valid = []
        for token in self._base_choices(position):
            if slot == 0:
                ok = self._feasible(group, 1, unread, _result_index(token), None)
            elif slot == 1:
                ok = self._feasible(group, 2, unread, op1, _result_index(token))
            elif slot == 4:
                ok = self._feasible(group, 5, unread, op1, op2, binary=token)
            else:
                ok = True
            if ok:
                valid.append(token)
        return tuple(valid)

    def choices(self, position: int, prefix: Optional[Sequence[str]] = None) -> list[str]:
        """The tokens valid at ``position`` after the tokens ``prefix`` (positions 0 .. position-1).

        Without ``prefix``: every token that some valid sequence has at ``position``.
        """
        self._check_position(position)
        if prefix is None:
            return list(self._base_choices(position))
        prefix = list(prefix)
        if len(prefix) != position:
            raise KerasNosError(f"prefix must hold the {position} tokens before position {position}; got {len(prefix)}")
        return list(self._choices_of_state(*self._state(prefix)))

    def mask(self, position: int, prefix: Sequence[str]) -> np.ndarray:
        """Boolean array over ``vocabulary``: True where ``choices(position, prefix)`` allows the token."""
        mask = np.zeros(len(self.vocabulary), dtype=bool)
        for token in self.choices(position, prefix):
            mask[self.token_index[token]] = True
        return mask

    # -- sequences ----------------------------------------------------------------

    def sample(self, rng: np.random.Generator) -> list[str]:
        """A valid token list, each slot uniform over its valid choices; ``rng`` is a NumPy Generator."""
        tokens = []
        for position in range(self.sequence_length):
            options = self.choices(position, tokens)
            tokens.append(options[int(rng.integers(len(options)))])
        return tokens

    def validate(self, tokens: Iterable[str]) -> list[str]:
        """Raise ``ValueError`` naming the first bad token and its position; return the tokens as a list."""
        if isinstance(tokens, str):
            raise KerasNosError(f"A token sequence is a list of tokens, not the string {tokens!r}")
        tokens = list(tokens)
        if len(tokens) != self.sequence_length:
            raise KerasNosError(
                f"A sequence of this space has {self.sequence_length} tokens ({self.num_groups} groups of "
                f"{GROUP_SIZE}); got {len(tokens)}: {tokens}"
            )
        for position, token in enumerate(tokens):
            allowed = self.choices(position, tokens[:position])
            if token not in allowed:
                raise KerasNosError(
                    f"Token {token!r} is not allowed at position {position} (group {position // GROUP_SIZE}, "
                    f"{_SLOT_KINDS[position % GROUP_SIZE]} slot) after {tokens[:position]}; allowed: {', '.join(allowed)}"
                )
        return tokens

    def is_valid(self, tokens: Iterable[str]) -> bool:
        try:
            self.validate(tokens)
        except ValueError:
            return False
        return True

    def to_rule(self, tokens: Iterable[str]) -> Rule:
        """The Rule of a valid token list."""
        return tokens_to_rule(self.validate(tokens))

    def describe(self) -> dict[str, Any]:
        """Flat dict of strings and ints, for logging as run parameters."""
        return {
            "space": self.name,
            "space_num_groups": self.num_groups,
            "space_sequence_length": self.sequence_length,
            "space_operands": ",".join(self.operands),
            "space_unaries": ",".join(self.unaries),
            "space_binaries": ",".join(self.binaries),
            "space_uses_decay": self.uses_decay,
        }

    # -- value semantics ------------------------------------------------------------

    def _key(self) -> tuple[Any, ...]:
        return (self.operands, self.unaries, self.binaries, self.num_groups)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SearchSpace) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        if self.name in SPACES and SearchSpace.preset(self.name, self.num_groups) == self:
            return f"SearchSpace.preset({self.name!r}, num_groups={self.num_groups})"
        return (
            f"SearchSpace(operands={list(self.operands)}, unaries={list(self.unaries)}, "
            f"binaries={list(self.binaries)}, num_groups={self.num_groups})"
        )

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_choices_of_state", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._choices_of_state = functools.lru_cache(maxsize=None)(self._choices_uncached)
