"""The rewrite engine of the simplifier: shorter trees for one node at a time.

Identities (``x*1``, ``x+0``, ``--x``, ``x-x``, ``x/x`` ...), functions of
functions (``sign(sign(x))``, ``sign(exp(x))`` = 1, ``log(exp(x))``,
``clip(clip(x))``, ``exp(a)*exp(b)``), keep-left nodes, sums and products with
their constants gathered and opposite terms cancelled, and constant subtrees
folded to a constant whose text is no longer than theirs. Each proposal may be
only nearly equal (``x/1`` is ``x/(1+1e-8)``); ``rewrite`` takes one only when
the caller says it keeps the rule's behaviour.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from keras_nos.dsl.fingerprint import behaviour
from keras_nos.dsl.rule import Binary, Const, Node, Operand, Rule, Unary, children, format_node, opposite, size, walk

_CONSTANT_TOLERANCE = 1e-7  # a folded constant may differ this much (relative): 1/1 is 1/(1+1e-8)


def cost(node: Node) -> tuple[int, int]:
    """What simplifying lowers: the number of nodes, then the length of the text."""
    return size(node), len(format_node(node))


def _with_child(node, index, child):
    if isinstance(node, Unary):
        return Unary(node.fn, child, node.param)
    if index == 0:
        return Binary(node.fn, child, node.right)
    return Binary(node.fn, node.left, child)


def _postorder(node, path=()):
    for index, child in enumerate(children(node)):
        yield from _postorder(child, path + (index,))
    yield path, node


def _replace(root, path, new):
    if not path:
        return new
    return _with_child(root, path[0], _replace(children(root)[path[0]], path[1:], new))


def rewrite(root: Node, keeps_behaviour: Callable[[Node], bool]) -> Node:
    """Apply node rewrites, innermost first, while one lowers the ``cost`` and ``keeps_behaviour(new_root)``."""
    changed = True
    while changed:
        changed = False
        cost_now = cost(root)
        for path, node in _postorder(root):
            for candidate in _proposals(node):
                new_root = _replace(root, path, candidate)
                if cost(new_root) < cost_now and keeps_behaviour(new_root):
                    root, changed = new_root, True
                    break
            if changed:
                break
    return root


def _is_const(node, value=None):
    return isinstance(node, Const) and (value is None or node.value == value)


def _has_operand(node):
    return any(isinstance(n, Operand) for n in walk(node))


def _nice_constants(value, limit):
    """Constants within the tolerance of ``value`` whose text has at most ``limit`` characters, shortest first."""
    value = float(value)
    if not math.isfinite(value):
        return []
    if abs(value) < 1e-300:
        return [0.0]
    found = {}
    for digits in range(1, 18):
        near = float(f"{value:.{digits - 1}e}")
        if abs(near - value) <= _CONSTANT_TOLERANCE * abs(value):
            found.setdefault(near, None)
    found.setdefault(value, None)
    texts = sorted((len(_const_text(c)), c) for c in found)
    return [c for length, c in texts if length <= limit]


def _const_text(value):
    return format_node(Const(value))


def _fold(node):
    """Constants for a subtree without operands (drop included: its draw must not matter)."""
    if isinstance(node, Const) or _has_operand(node):
        return []
    values = behaviour(Rule(node)).ravel()
    if not np.all(values == values[0]):
        return []
    return [Const(c) for c in _nice_constants(values[0], len(format_node(node)))]


def _proposals(node):
    """Shorter trees that compute (nearly) what ``node`` computes; each is checked by the caller."""
    yield from _fold(node)
    if isinstance(node, Unary):
        yield from _unary_proposals(node)
    elif isinstance(node, Binary):
        yield from _binary_proposals(node)


def _unary_proposals(node):
    fn, x = node.fn, node.arg
    if fn == "neg":
        if isinstance(x, Unary) and x.fn == "neg":
            yield x.arg
        if isinstance(x, Const):
            yield Const(0.0 - x.value)
        if isinstance(x, Binary) and x.fn == "sub":
            yield Binary("sub", x.right, x.left)
        if isinstance(x, Binary) and x.fn in ("mul", "div") and _is_const(x.left):
            yield Binary(x.fn, Const(0.0 - x.left.value), x.right)
    elif fn == "sign":
        if isinstance(x, Unary) and x.fn in ("sign", "clip"):
            yield Unary("sign", x.arg) if x.fn == "clip" else x
        if isinstance(x, Unary) and x.fn == "exp":
            yield Const(1.0)
        if isinstance(x, Unary) and x.fn == "neg":
            yield opposite(Unary("sign", x.arg))
        if isinstance(x, Operand) and x.name in ("adam", "rmsprop"):
            yield Unary("sign", Operand("m" if x.name == "adam" else "g"))
        if isinstance(x, Binary) and x.fn in ("mul", "div"):
            for constant, other in ((x.left, x.right), (x.right, x.left)):
                if _is_const(constant) and constant.value != 0 and (x.fn == "mul" or constant is x.right):
                    inner = Unary("sign", other)
                    yield inner if constant.value > 0 else opposite(inner)
        if isinstance(x, Binary) and x.fn == "pow" and _is_const(x.right):
            exponent = x.right.value
            if float(exponent).is_integer() and int(exponent) % 2 == 1:
                yield Unary("sign", x.left)
    elif fn == "log":
        if isinstance(x, Unary) and x.fn == "exp":
            yield x.arg
    elif fn == "clip":
        if isinstance(x, Unary) and x.fn == "clip":
            yield Unary("clip", x.arg, min(x.param, node.param))
        if isinstance(x, Unary) and x.fn == "sign" and node.param >= 1.0:
            yield x
        if isinstance(x, Unary) and x.fn == "neg":
            yield opposite(Unary("clip", x.arg, node.param))


def _binary_proposals(node):
    fn, a, b = node.fn, node.left, node.right
    if fn == "left":
        yield a
        return
    if fn in ("add", "sub"):
        yield from _sum_proposals(node)
    elif fn == "mul":
        for x, y in ((a, b), (b, a)):
            if _is_const(y, 1.0):
                yield x
            if _is_const(y, 0.0):
                yield Const(0.0)
            if _is_const(y, -1.0):
                yield opposite(x)
            if isinstance(y, Binary) and y.fn == "div" and _is_const(y.left, 1.0):
                yield Binary("div", x, y.right)
        if isinstance(a, Unary) and a.fn == "neg" and isinstance(b, Unary) and b.fn == "neg":
            yield Binary("mul", a.arg, b.arg)
        if isinstance(a, Unary) and a.fn == "exp" and isinstance(b, Unary) and b.fn == "exp":
            yield Unary("exp", Binary("add", a.arg, b.arg))
        if a == b:
            yield Binary("pow", a, Const(2.0))
        yield from _product_proposals(node)
    elif fn == "div":
        if _is_const(b, 1.0):
            yield a
        if _is_const(b, -1.0):
            yield opposite(a)
        if a == b:
            yield Const(1.0)
        if _is_const(a, 0.0):
            yield Const(0.0)
        if isinstance(a, Unary) and a.fn == "exp" and isinstance(b, Unary) and b.fn == "exp":
            yield Unary("exp", Binary("sub", a.arg, b.arg))
        if isinstance(a, Unary) and a.fn == "neg" and isinstance(b, Unary) and b.fn == "neg":
            yield Binary("div", a.arg, b.arg)
    elif fn == "pow":
        if _is_const(b, 1.0):
            yield a
        if _is_const(b, 0.0) or _is_const(a, 1.0):
            yield Const(1.0)
        if isinstance(a, Unary) and a.fn == "sign" and _is_const(b):
            if float(b.value).is_integer() and int(b.value) % 2 == 1:
                yield a


def _terms(node, positive=True):
    """A sum as a list of (positive, term)."""
    if isinstance(node, Binary) and node.fn in ("add", "sub"):
        return _terms(node.left, positive) + _terms(node.right, positive == (node.fn == "add"))
    if isinstance(node, Unary) and node.fn == "neg":
        return _terms(node.arg, not positive)
    if isinstance(node, Const) and node.value < 0:
        return [(not positive, Const(0.0 - node.value))]
    if isinstance(node, Binary) and node.fn in ("mul", "div") and _is_const(node.left) and node.left.value < 0:
        return [(not positive, Binary(node.fn, Const(0.0 - node.left.value), node.right))]
    return [(positive, node)]


def _sum_proposals(node):
    """The sum rebuilt with its constants added up and opposite equal terms cancelled."""
    terms = _terms(node)
    constant = sum(t.value if p else -t.value for p, t in terms if isinstance(t, Const))
    others = [(p, t) for p, t in terms if not isinstance(t, Const)]
    kept = []
    for positive, term in others:
        cancelled = next((i for i, (p, t) in enumerate(kept) if t == term and p != positive), None)
        if cancelled is None:
            kept.append((positive, term))
        else:
            kept.pop(cancelled)
    kept.sort(key=lambda item: not item[0])  # positive terms first: g - m rather than -m + g
    if constant:
        kept.append((constant > 0, Const(abs(constant))))
    if not kept:
        yield Const(0.0)
        return
    positive, result = kept[0]
    if not positive:
        result = opposite(result)
    for positive, term in kept[1:]:
        result = Binary("add" if positive else "sub", result, term)
    yield result
    a, b = node.left, node.right
    if node.fn == "add" and a == b:
        yield Binary("mul", Const(2.0), a)


def _factors(node):
    if isinstance(node, Binary) and node.fn == "mul":
        return _factors(node.left) + _factors(node.right)
    return [node]


def _product_proposals(node):
    """The product rebuilt with its constants (and signs) multiplied into one leading constant."""
    factors = _factors(node)
    constant, others = 1.0, []
    for factor in factors:
        while isinstance(factor, Unary) and factor.fn == "neg":
            constant, factor = -constant, factor.arg
        if isinstance(factor, Const):
            constant *= factor.value
        else:
            others.append(factor)
    if not others:
        return
    result = others[0] if constant in (1.0, -1.0) else Binary("mul", Const(constant), others[0])
    for factor in others[1:]:
        result = Binary("mul", result, factor)
    yield opposite(result) if constant == -1.0 else result
