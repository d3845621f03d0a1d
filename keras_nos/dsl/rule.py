"""The expression tree of an update rule, and its canonical text.

A ``Rule`` is the currency of the whole library: strategies propose it, the
evaluator trains with it, MLflow logs ``str(rule)``, ``RuleOptimizer`` compiles
it. Nodes are frozen dataclasses, so rules compare and hash structurally.

This module is the data only. What is done with a rule (parse, fingerprint,
tokens, simplify, pretty forms) lives in its own module, which imports this
one; nothing here imports them back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any, Optional, Union

from keras_nos.dsl import primitives
from keras_nos.dsl.semantics import DECAY_NAMES, SLOTS_OF_OPERAND, decay_periods

OPERAND_NAMES = tuple(SLOTS_OF_OPERAND) + DECAY_NAMES


def is_operand_name(name: str) -> bool:
    return name in SLOTS_OF_OPERAND or decay_periods(name) is not None


@dataclasses.dataclass(frozen=True)
class Operand:
    name: str


@dataclasses.dataclass(frozen=True)
class Const:
    value: float


@dataclasses.dataclass(frozen=True)
class Unary:
    fn: str
    arg: Node
    param: Optional[float] = None


@dataclasses.dataclass(frozen=True)
class Binary:
    fn: str
    left: Node
    right: Node


# A node of the tree; a leaf is an Operand or a Const.
Node = Union[Operand, Const, Unary, Binary]


INFIX = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "^"}
_PRECEDENCE = {"add": 1, "sub": 1, "mul": 2, "div": 2, "neg": 3, "pow": 4}
_ATOM = 5


def negate(node: Node) -> Node:
    """-node, folding a constant so that ``-1`` is one literal however it was made."""
    if isinstance(node, Const):
        return Const(-node.value)
    return Unary("neg", node)


def opposite(node: Node) -> Node:
    """-node with ``-(-x)`` cancelled to ``x`` and a constant folded (the simplifier's negation; the parser keeps ``--g``)."""
    if isinstance(node, Const):
        return Const(0.0 - node.value)
    if isinstance(node, Unary) and node.fn == "neg":
        return node.arg
    return Unary("neg", node)


def _precedence(node: Node) -> int:
    if isinstance(node, Const) and node.value < 0:
        return _PRECEDENCE["neg"]
    if isinstance(node, Unary) and node.fn == "neg":
        return _PRECEDENCE["neg"]
    if isinstance(node, Binary):
        return _PRECEDENCE[node.fn]
    return _ATOM


def format_number(value: float) -> str:
    """Shortest text that reads back to the same float: 2, 0.5, 1e-8."""
    value = float(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    plain = repr(value)
    for digits in range(17):
        mantissa, exponent = f"{value:.{digits}e}".split("e")
        scientific = f"{mantissa}e{int(exponent)}"
        if float(scientific) == value:
            return scientific if len(scientific) < len(plain) else plain
    return plain


def _wrap(node: Node, minimum: int) -> str:
    text = format_node(node)
    return f"({text})" if _precedence(node) < minimum else text


def format_node(node: Node) -> str:
    """Canonical text with the fewest parentheses that parse back to the same tree."""
    if isinstance(node, Operand):
        return node.name
    if isinstance(node, Const):
        return format_number(node.value)
    if isinstance(node, Unary):
        if node.fn == "neg":
            return "-" + _wrap(node.arg, _PRECEDENCE["neg"])
        if node.param is not None:
            return f"{node.fn}({format_node(node.arg)}, {format_number(node.param)})"
        return f"{node.fn}({format_node(node.arg)})"
    if node.fn == "left":
        return format_node(node.left)
    level = _PRECEDENCE[node.fn]
    if node.fn == "pow":  # right-associative: a^b^c is a^(b^c); the base is an atom
        return f"{_wrap(node.left, _ATOM)}^{_wrap(node.right, _PRECEDENCE['neg'])}"
    symbol = f" {INFIX[node.fn]} " if level == 1 else INFIX[node.fn]
    return f"{_wrap(node.left, level)}{symbol}{_wrap(node.right, level + 1)}"


def children(node: Node) -> tuple[Node, ...]:
    """The direct subtrees of ``node``, left to right."""
    if isinstance(node, Unary):
        return (node.arg,)
    if isinstance(node, Binary):
        return (node.left, node.right)
    return ()


def walk(node: Node) -> Iterator[Node]:
    """Every node of the tree, parents before children."""
    yield node
    for child in children(node):
        yield from walk(child)


def size(node: Node) -> int:
    """Number of nodes under ``node``: the length used to compare trees when simplifying."""
    return sum(1 for _ in walk(node))


def evaluate_node(node: Node, xp: Any, operand: Callable[[str], Any]) -> Any:
    """Value of ``node`` with array namespace ``xp``; ``operand(name)`` gives leaves,
    ``operand('uniform')`` the step's U(0,1) draw used by drop."""
    if isinstance(node, Operand):
        return operand(node.name)
    if isinstance(node, Const):
        return node.value
    if isinstance(node, Unary):
        return apply_unary(node, xp, evaluate_node(node.arg, xp, operand), operand)
    left = evaluate_node(node.left, xp, operand)
    if node.fn == "left":
        return left
    return primitives.BINARY[node.fn](xp, left, evaluate_node(node.right, xp, operand))


def apply_unary(node: Unary, xp: Any, x: Any, operand: Callable[[str], Any]) -> Any:
    """The function of the Unary ``node`` applied to its argument's value ``x`` (the exporter calls it too)."""
    if node.fn == "drop":
        return primitives.drop(xp, x, node.param, operand("uniform"))
    if node.fn == "clip":
        return primitives.clip(xp, x, node.param)
    return primitives.UNARY[node.fn](xp, x)


class Rule:
    """An update rule: the step is ``w <- w - lr * rule``.

    Build one with ``keras_nos.dsl.parse_rule(text)`` or ``keras_nos.dsl.tokens_to_rule(tokens)``. What is done
    with a rule lives beside it in ``keras_nos.dsl``, as functions that take one: ``fingerprint``,
    ``rule_to_tokens``, ``simplify``, ``to_latex``, ``to_unicode``.
    """

    def __init__(self, root: Node) -> None:
        self.root = root

    def __str__(self) -> str:
        return format_node(self.root)

    def __repr__(self) -> str:
        return f"Rule({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Rule) and self.root == other.root

    def __hash__(self) -> int:
        return hash(self.root)

    def operand_names(self) -> list[str]:
        """The operand names the rule reads, sorted."""
        return sorted({n.name for n in walk(self.root) if isinstance(n, Operand)})

    def slots(self) -> tuple[str, ...]:
        """Optimizer slots the rule needs, from {'m', 'v', 'y'}: only what it reads."""
        needed = set()
        for name in self.operand_names():
            needed.update(SLOTS_OF_OPERAND.get(name, ()))
        return tuple(s for s in ("m", "v", "y") if s in needed)

    def uses_decay(self) -> bool:
        return any(decay_periods(name) for name in self.operand_names())

    def size(self) -> int:
        """Number of nodes: the length used to compare rules when simplifying."""
        return size(self.root)

    def evaluate(self, xp: Any, operand: Callable[[str], Any]) -> Any:
        return evaluate_node(self.root, xp, operand)
