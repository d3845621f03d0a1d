"""Text -> Rule: a small recursive-descent parser for the rule language.

Grammar (usual precedence, ``^`` binds tightest and is right-associative)::

    expr   := term (('+' | '-') term)*
    term   := unary (('*' | '/') unary)*
    unary  := '-' unary | power
    power  := atom ('^' unary)?
    atom   := NUMBER | NAME | FUNC '(' expr [',' NUMBER] ')' | '(' expr ')'
"""

from __future__ import annotations

import re
from typing import Union

from keras_nos.dsl.rule import OPERAND_NAMES, Binary, Const, Operand, Rule, Unary, is_operand_name, negate
from keras_nos.errors import KerasNosError

FUNCTIONS = ("exp", "log", "sqrt", "sign")
PARAMETRIC_FUNCTIONS = ("clip", "drop")
_TOKEN = re.compile(r"\s*(?:(?P<number>\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_][A-Za-z_0-9.]*)|(?P<op>[-+*/^(),]))")
_ALLOWED_NAMES = ", ".join(OPERAND_NAMES + ("cd_N", "rd_N") + FUNCTIONS + tuple(f"{f}(x, c)" for f in PARAMETRIC_FUNCTIONS))


def _tokenize(text):
    tokens, position = [], 0
    stripped = text.rstrip()
    while position < len(stripped):
        match = _TOKEN.match(stripped, position)
        if not match:
            bad = stripped[position:].lstrip()[0]
            at = stripped.index(bad, position)
            raise KerasNosError(f"Unexpected character {bad!r} at position {at} in rule {text!r}; allowed: names ({_ALLOWED_NAMES}), numbers, + - * / ^ ( ) ,")
        kind = match.lastgroup
        tokens.append((kind, match.group(kind), match.start(kind)))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, text):
        if not text or not text.strip():
            raise KerasNosError(f"Empty rule {text!r}: got end of text at position 0; write an update such as 'exp(sign(g)*sign(m))*g'")
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0

    def _peek(self):
        return self.tokens[self.index] if self.index < len(self.tokens) else (None, None, len(self.text))

    def _take(self):
        token = self._peek()
        self.index += 1
        return token

    def _error(self, message, token):
        value, position = token[1], token[2]
        shown = "end of text" if value is None else repr(value)
        return KerasNosError(f"{message}: got {shown} at position {position} in rule {self.text!r}")

    def parse(self):
        node = self._expr()
        if self.index < len(self.tokens):
            token = self._peek()
            if token[1] == ")":
                raise self._error("Unbalanced parentheses, no '(' to close", token)
            raise self._error("Expected an operator (+ - * / ^) between terms", token)
        return Rule(node)

    def _expr(self):
        node = self._term()
        while self._peek()[1] in ("+", "-"):
            op = self._take()[1]
            node = Binary("add" if op == "+" else "sub", node, self._term())
        return node

    def _term(self):
        node = self._unary()
        while self._peek()[1] in ("*", "/"):
            op = self._take()[1]
            node = Binary("mul" if op == "*" else "div", node, self._unary())
        return node

    def _unary(self):
        if self._peek()[1] == "-":
            self._take()
            return negate(self._unary())
        return self._power()

    def _power(self):
        base = self._atom()
        if self._peek()[1] == "^":
            self._take()
            return Binary("pow", base, self._unary())
        return base

    def _atom(self):
        token = self._take()
        kind, value, _ = token
        if kind == "number":
            return Const(float(value))
        if value == "(":
            node = self._expr()
            if self._peek()[1] != ")":
                raise self._error("Unbalanced parentheses, expected ')'", self._peek())
            self._take()
            return node
        if kind == "name":
            if value in FUNCTIONS or value in PARAMETRIC_FUNCTIONS:
                return self._call(value, token)
            if is_operand_name(value):
                return Operand(value)
            raise self._error(f"Unknown name; allowed: {_ALLOWED_NAMES}", token)
        raise self._error("Expected a number, a name or '('", token)

    def _call(self, name, name_token):
        if self._peek()[1] != "(":
            raise self._error(f"Function {name!r} needs parentheses, as in {name}(g)", self._peek())
        self._take()
        arg = self._expr()
        if name in PARAMETRIC_FUNCTIONS:
            if self._peek()[1] != ",":
                raise self._error(f"{name}(x, c) takes 2 arguments", self._peek())
            self._take()
            token = self._take()
            if token[0] != "number":
                raise self._error(f"The second argument of {name} must be a number", token)
            param = float(token[1])
            if name == "drop" and not 0.0 <= param < 1.0:
                raise self._error("drop rate must be in [0, 1)", token)
            if name == "clip" and param <= 0:
                raise self._error("clip bound must be positive", token)
            node = Unary(name, arg, param)
            if self._peek()[1] == ",":
                raise self._error(f"{name}(x, c) takes 2 arguments", self._peek())
        else:
            if self._peek()[1] == ",":
                raise self._error(f"{name}(x) takes 1 argument", self._peek())
            node = Unary(name, arg)
        if self._peek()[1] != ")":
            raise self._error(f"Unbalanced parentheses in {name}(...), expected ')'", self._peek())
        self._take()
        return node


def parse_rule(text: Union[str, Rule]) -> Rule:
    """Parse rule text such as ``'exp(sign(g)*sign(m))*g'`` into a ``Rule``.

    A ``Rule`` passed in is returned as is. Raises ``ValueError`` naming the bad
    token, its position and what is allowed.
    """
    if isinstance(text, Rule):
        return text
    if not isinstance(text, str):
        raise KerasNosError(f"A rule must be text or a Rule, got {type(text).__name__}: {text!r}")
    return _Parser(text).parse()
