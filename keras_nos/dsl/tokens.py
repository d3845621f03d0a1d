"""The paper's token form: groups of five (operand 1, operand 2, unary 1, unary 2, binary).

Group k computes ``binary(unary1(operand1), unary2(operand2))`` and its result
joins the operand bank as ``h{k}`` for later groups; the last group is the rule.
Every token is readable text, so a token list is also what MLflow shows.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Union

from keras_nos.dsl.parser import parse_rule
from keras_nos.dsl.rule import Binary, Const, Node, Rule, Unary, format_node, negate
from keras_nos.errors import KerasNosError

# Each operand token's text is its meaning in the rule language.
OPERAND_TOKENS = (
    "g", "g^2", "g^3", "m", "v", "y", "sign(g)", "sign(m)", "1", "2", "noise",
    "1e-4*w", "1e-3*w", "1e-2*w", "1e-1*w", "adam", "rmsprop",
)
DECAY_OPERAND_TOKENS = ("ld", "cd", "rd")
UNARY_TOKENS = (
    "identity", "neg", "exp", "log", "sqrt", "clip(1e-5)", "clip(1e-4)", "clip(1e-3)",
    "drop(0.1)", "drop(0.3)", "drop(0.5)", "sign",
)
BINARY_TOKENS = ("add", "sub", "mul", "div", "pow", "left")
GROUP_SIZE = 5

_OPERAND_NODES = {token: parse_rule(token).root for token in OPERAND_TOKENS + DECAY_OPERAND_TOKENS}
_TOKEN_OF_OPERAND_TEXT = {format_node(node): token for token, node in _OPERAND_NODES.items()}


def _unary_parts(token):
    """'clip(1e-5)' -> ('clip', 1e-5); 'exp' -> ('exp', None)."""
    if "(" in token:
        name, param = token[:-1].split("(")
        return name, float(param)
    return token, None


def apply_unary(token: str, node: Node) -> Node:
    name, param = _unary_parts(token)
    if name == "identity":
        return node
    if name == "neg":
        return negate(node)
    return Unary(name, node, param)


def tokens_to_rule(tokens: Iterable[str]) -> Rule:
    """Build the Rule of a token list; ``ValueError`` names a bad token and its slot."""
    tokens = list(tokens)
    if not tokens or len(tokens) % GROUP_SIZE:
        raise KerasNosError(f"A token list has groups of {GROUP_SIZE} tokens; got {len(tokens)} tokens: {tokens}")
    bank = []
    for start in range(0, len(tokens), GROUP_SIZE):
        op1, op2, un1, un2, binary = tokens[start:start + GROUP_SIZE]
        left = apply_unary(_check(un1, UNARY_TOKENS, start + 2, "unary"), _operand(op1, bank, start))
        right = apply_unary(_check(un2, UNARY_TOKENS, start + 3, "unary"), _operand(op2, bank, start + 1))
        binary = _check(binary, BINARY_TOKENS, start + 4, "binary")
        bank.append(left if binary == "left" else Binary(binary, left, right))
    return Rule(bank[-1])


def _check(token, allowed, position, kind):
    if token not in allowed:
        raise KerasNosError(f"Unknown {kind} token {token!r} at position {position}; allowed: {', '.join(allowed)}")
    return token


def _operand(token, bank, position):
    if token in _OPERAND_NODES:
        return _OPERAND_NODES[token]
    if isinstance(token, str) and token.startswith("h") and token[1:].isdigit() and int(token[1:]) < len(bank):
        return bank[int(token[1:])]
    allowed = ", ".join(OPERAND_TOKENS + DECAY_OPERAND_TOKENS + tuple(f"h{k}" for k in range(len(bank))))
    raise KerasNosError(f"Unknown operand token {token!r} at position {position}; allowed here: {allowed}")


_TOKEN_OF_UNARY = {_unary_parts(token): token for token in UNARY_TOKENS}


def _unary_token_of(node):
    if isinstance(node, Unary):
        return _TOKEN_OF_UNARY.get((node.fn, node.param))
    return None


class _GroupWriter:
    """Lays a tree out as groups; a subtree the operand tokens cannot name becomes a group of its own."""

    def __init__(self):
        self.groups = []

    def operand(self, node):
        token = _TOKEN_OF_OPERAND_TEXT.get(format_node(node))
        if token is not None:
            return token
        return f"h{self.group(node)}"

    def split(self, node):
        """(operand token, unary token) whose composition is ``node``."""
        if format_node(node) in _TOKEN_OF_OPERAND_TEXT:
            return self.operand(node), "identity"
        if isinstance(node, Const) and format_node(Const(-node.value)) in _TOKEN_OF_OPERAND_TEXT:
            return self.operand(Const(-node.value)), "neg"
        unary = _unary_token_of(node)
        if unary is not None:
            return self.operand(node.arg), unary
        if isinstance(node, Const):
            raise KerasNosError(f"The constant {format_node(node)} has no token; token operands are: {', '.join(OPERAND_TOKENS)}")
        if not isinstance(node, Binary):  # an operand or a function with no token, e.g. w or clip(g, 2)
            raise KerasNosError(
                f"{format_node(node)!r} has no token; token operands are: {', '.join(OPERAND_TOKENS + DECAY_OPERAND_TOKENS)}"
                f"; unary tokens are: {', '.join(UNARY_TOKENS)}"
            )
        return f"h{self.group(node)}", "identity"

    def group(self, node):
        if isinstance(node, Binary) and node.fn != "left" and format_node(node) not in _TOKEN_OF_OPERAND_TEXT:
            op1, un1 = self.split(node.left)
            op2, un2 = self.split(node.right)
            self.groups.append([op1, op2, un1, un2, node.fn])
        else:
            op1, un1 = self.split(node)
            self.groups.append([op1, op1, un1, "identity", "left"])
        return len(self.groups) - 1


def rule_to_tokens(rule: Union[str, Rule]) -> list[str]:
    """The token list of a Rule; ``ValueError`` when a part has no token (a constant such as 3)."""
    writer = _GroupWriter()
    writer.group(rule.root if isinstance(rule, Rule) else parse_rule(rule).root)
    return [token for group in writer.groups for token in group]
