"""An array namespace whose arrays are Python source text: how ``keras-nos export`` writes code.

The exporter runs the language's own functions (``dsl.semantics``, ``dsl.primitives``)
with ``xp=SOURCE_OPS``: ``SOURCE_OPS.exp(x)`` gives ``Source("ops.exp(x)")`` and
arithmetic on a ``Source`` writes the operator, with parentheses wherever Python's
precedence needs them to keep the library's order of operations. Python numbers
stay numbers, so constants fold exactly as they do inside ``RuleOptimizer``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Union

# A value in generated source: an expression, or a Python number written as a literal.
Value = Union["Source", float]

_COMPARISON, _SUM, _PRODUCT, _NEGATION, _POWER, _ATOM = range(6)


def literal(value: Value) -> str:
    """Python source of a number or ``Source``; negative numbers in parentheses so they can stand as operands."""
    if isinstance(value, Source):
        return value.text
    if isinstance(value, (bool, int)):
        return f"({value})" if value < 0 else str(value)
    value = float(value)
    if not math.isfinite(value):
        return f"float({str(value)!r})"
    text = repr(value)
    return f"({text})" if text.startswith("-") else text


def _operand(value: Value, minimum: int) -> str:
    """``value`` as an operand of an operator whose operands need precedence ``minimum`` or more."""
    if isinstance(value, Source) and value.precedence < minimum:
        return f"({value.text})"
    return literal(value)


def _infix(symbol: str, level: int, left: Value, right: Value) -> Source:
    """``left symbol right``, left-associative: a right operand of the same level keeps its parentheses."""
    return Source(f"{_operand(left, level)} {symbol} {_operand(right, level + 1)}", level)


def _infix_methods(symbol: str, level: int) -> tuple[Callable[[Source, Value], Source], Callable[[Source, Value], Source]]:
    """The operator's method and its reflected twin (a number on the left)."""

    def method(self: Source, other: Value) -> Source:
        return _infix(symbol, level, self, other)

    def reflected(self: Source, other: Value) -> Source:
        return _infix(symbol, level, other, self)

    return method, reflected


class Source:
    """A Python expression standing for an array; operators on it write source."""

    def __init__(self, text: str, precedence: int = _ATOM) -> None:
        self.text = text
        self.precedence = precedence

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Source({self.text!r})"

    __add__, __radd__ = _infix_methods("+", _SUM)
    __sub__, __rsub__ = _infix_methods("-", _SUM)
    __mul__, __rmul__ = _infix_methods("*", _PRODUCT)
    __truediv__, __rtruediv__ = _infix_methods("/", _PRODUCT)

    def __pow__(self, other: Value) -> Source:  # right-associative, and tighter than a unary minus on its left
        return Source(f"{_operand(self, _ATOM)} ** {_operand(other, _POWER)}", _POWER)

    def __neg__(self) -> Source:
        return Source(f"-{_operand(self, _NEGATION)}", _NEGATION)

    def __ge__(self, other: Value) -> Source:
        return Source(f"{_operand(self, _SUM)} >= {_operand(other, _SUM)}", _COMPARISON)


class _SourceOps:
    """``SOURCE_OPS.name(*args)`` writes the call ``ops.name(args)`` for any ``keras.ops`` function."""

    def __getattr__(self, name: str) -> Callable[..., Source]:
        if name.startswith("_"):
            raise AttributeError(name)

        def call(*arguments: Value) -> Source:
            return Source(f"ops.{name}({', '.join(literal(argument) for argument in arguments)})")

        return call


SOURCE_OPS = _SourceOps()
