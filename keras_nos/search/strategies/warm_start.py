"""Warm start: the rules a search evaluates before anything its strategy proposes, as token sequences of its space.

A warm start is ``"named"`` (every optimizer of ``keras_nos.named_rules`` that the space can express, in that
table's order) or a list of rules: rule texts, ``Rule``s, or names from ``named_rules`` (``"adam"``,
``"powersign"``). A listed rule that the space cannot express is an error naming the rule and the space; under
``"named"`` such a rule is left out. Rules of one behaviour (fingerprint) are kept once, the first.
"""

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Optional, Union

from keras_nos import named_rules
from keras_nos.dsl.fingerprint import fingerprint
from keras_nos.dsl.tokens import GROUP_SIZE, rule_to_tokens
from keras_nos.errors import KerasNosError
from keras_nos.search.strategies.moves import pad_tokens

if TYPE_CHECKING:
    from keras_nos.dsl.rule import Rule
    from keras_nos.search.space import SearchSpace

NAMED = "named"
WarmStart = Union[None, str, Sequence[Union[str, "Rule"]]]


def parse_warm_start(value: Any) -> Optional[Union[str, tuple[str, ...]]]:
    """``value`` in the form a search stores: None, ``"named"``, or a tuple of rule texts and names. Text other
    than ``"named"`` is a comma-separated list (``--warm-start RULE,RULE``; commas inside parentheses belong to
    the rule, as in ``drop(g, 0.3)``)."""
    if value is None or value == NAMED:
        return value
    if not isinstance(value, (str, list, tuple)):
        raise KerasNosError(f"warm_start must be 'named' or a list of rules, got {value!r}")
    rules = tuple(str(rule).strip() for rule in (_split_top_level(value) if isinstance(value, str) else value))
    if not rules or not all(rules):
        raise KerasNosError(f"warm_start must be 'named' or rules separated by commas, got {value!r}")
    return rules


def _split_top_level(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for position, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(text[start:position])
            start = position + 1
    return parts + [text[start:]]


def warm_start_tokens(space: "SearchSpace", value: WarmStart) -> list[list[str]]:
    """The token sequences of warm start ``value`` in ``space``, in order, one per behaviour."""
    value = parse_warm_start(value)
    if value is None:
        return []
    if value == NAMED:
        expressed = (_expressed(space, text) for text in named_rules.RULES.values())
        sequences = [tokens for tokens in expressed if tokens is not None]
    else:
        sequences = [rule_tokens(space, named_rules.RULES.get(rule, rule)) for rule in value]
    kept, behaviours = [], set()
    for tokens in sequences:
        key = fingerprint(space.to_rule(tokens))
        if key not in behaviours:
            behaviours.add(key)
            kept.append(tokens)
    return kept


def rule_tokens(space: "SearchSpace", rule: "str | Rule") -> list[str]:
    """The tokens of ``rule`` in ``space``, padded to its groups; an error naming the rule, the space and why
    when the space cannot express it."""
    tokens = _expressed(space, rule)
    if tokens is not None:
        return tokens
    where = f"warm-start rule {str(rule)!r} cannot be expressed in the {space.name!r} space"
    try:
        written = rule_to_tokens(rule)
    except ValueError as error:
        raise KerasNosError(f"{where}: {str(error).splitlines()[0]}") from None
    if len(written) > space.sequence_length:
        raise KerasNosError(f"{where}: it needs {len(written) // GROUP_SIZE} groups, the space has "
                            f"{space.num_groups} (--groups)")
    lacking = set(written) - set(space.vocabulary)
    if _writes_left_as_mul(space):
        lacking.discard("left")
    if lacking:
        raise KerasNosError(f"{where}: it has no {', '.join(sorted(lacking))}")
    raise KerasNosError(f"{where}: its token form {written} is not a sequence of the space")


def _expressed(space, rule):
    """The tokens of ``rule`` in ``space``, or None. A group that passes its operand through (binary ``left``)
    is written as the operand times 1 in a space without ``left`` but with ``mul`` and ``1``."""
    try:
        tokens = rule_to_tokens(rule)
    except ValueError:
        return None
    if len(tokens) > space.sequence_length:
        return None
    tokens = pad_tokens(tokens, space.num_groups)
    if _writes_left_as_mul(space):
        for start in range(0, len(tokens), GROUP_SIZE):
            if tokens[start + 3:start + 5] == ["identity", "left"]:
                tokens[start + 1], tokens[start + 4] = "1", "mul"
    return tokens if space.is_valid(tokens) else None


def _writes_left_as_mul(space):
    return "left" not in space.vocabulary and {"mul", "1"} <= set(space.vocabulary)
