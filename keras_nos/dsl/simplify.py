"""Shorter equivalent rules: ``simplify(rule)`` and ``Rule.simplify()``.

A search writes rules the way its token form builds them, e.g.
``sign(sign(m))*exp(0)*g`` or ``(g - 1e-4*w) + 1e-4*w``; a shipped optimizer
should read ``sign(m)*g`` and ``g``. Two sources propose shorter trees:

* rewrites of one node at a time: identities (``x*1``, ``1*x``, ``x+0``,
  ``x-0``, ``x/1``, ``x^1``, ``--x``, ``x-x``, ``x*0``, ``x/x``, ``0/x``),
  functions (``sign(sign(x))``, ``sign(exp(x))`` = 1, ``sign(c*x)``,
  ``sign(clip(x))``, ``sign(x^3)``, ``sign(adam)`` = sign(m), ``log(exp(x))``,
  ``clip(clip(x))``, ``exp(a)*exp(b)``), keep-left nodes, and sums and
  products with their constants gathered and opposite terms cancelled;
  constant subtrees fold to a constant when its text is no longer than theirs
  (``exp(0)`` -> ``1``, ``sqrt(4)`` -> ``2``, ``1/1`` -> ``1``; ``exp(1)`` stays);
* sympy, on a translation of the whole rule (``sign``, ``exp``, ``log|x|``,
  ``sqrt|x|`` as sympy functions; ``clip``, ``drop`` and non-integer powers as
  opaque functions): its automatic canonical form, ``powsimp``,
  ``factor_terms`` and ``cancel``, each read back into the language when it
  can be (e.g. ``g*m - m*g + v`` -> ``v``, ``exp(g)*exp(m)/exp(g)`` -> ``exp(m)``).

Every proposal is kept only when the rule's fingerprint
(:func:`keras_nos.dsl.fingerprint.fingerprint`) is unchanged and its size
(``Rule.size()``, then the length of its text) goes down. So ``x/1`` (which is
``x/(1+1e-8)``), ``x*0`` (NaN for an infinite ``x``) and ``log(exp(x))``
(``exp`` is capped) are only taken where they behave the same on the
fingerprint's states. The result never has more nodes than the input.

Near-identities are not proposed, though the fingerprint (random states
without zeros, outputs to 6 significant digits) cannot tell them apart:
``sign(x)^y`` is 1, not ``sign(x)``, where ``y`` is exactly 0, and a search's
``sign(m)^clip(-g*sign(w), 1e-4)`` trains differently from ``sign(m)`` because
gradients of exactly 0 occur. The funnel and ``keras-nos export`` use the
simplified rule, so it must compute what the search evaluated.
"""

import functools
import math

import numpy as np

from keras_nos.dsl.fingerprint import behaviour, fingerprint
from keras_nos.dsl.parser import parse_rule
from keras_nos.dsl.rule import Binary, Const, Operand, Rule, Unary, format_node, walk
from keras_nos.dsl.semantics import decay_periods

__all__ = ["simplify"]

_CONSTANT_TOLERANCE = 1e-7  # a folded constant may differ this much (relative): 1/1 is 1/(1+1e-8)
_SYMPY_MAX_SIZE = 40  # larger rules skip sympy (its time grows fast)


def simplify(rule):
    """The shortest rule found that has the fingerprint of ``rule`` (text or ``Rule``); never longer.

    >>> str(simplify("sign(sign(g))*exp(0)*g"))
    'sign(g)*g'
    """
    rule = parse_rule(rule)
    return Rule(_simplify_root(rule.root))


@functools.lru_cache(maxsize=8192)
def _simplify_root(root):
    target = _fingerprint(root)
    best = root
    while True:  # until neither source shortens the best tree: then simplify(simplify(r)) == simplify(r)
        found = _rewrite(best, target)
        for alternative in _sympy_candidates(found):  # sympy's form must have fewer nodes, not just shorter text
            if _size(alternative) < _size(found) and _fingerprint(alternative) == target:
                alternative = _rewrite(alternative, target)
                if _cost(alternative) < _cost(found):
                    found = alternative
        if not _cost(found) < _cost(best):
            return best
        best = found


@functools.lru_cache(maxsize=65536)
def _fingerprint(root):
    return fingerprint(Rule(root))


def _cost(node):
    return _size(node), len(format_node(node))


def _size(node):
    return sum(1 for _ in walk(node))


# --- the rewrite loop --------------------------------------------------------------------------------------------


def _children(node):
    if isinstance(node, Unary):
        return (node.arg,)
    if isinstance(node, Binary):
        return (node.left, node.right)
    return ()


def _with_child(node, index, child):
    if isinstance(node, Unary):
        return Unary(node.fn, child, node.param)
    if index == 0:
        return Binary(node.fn, child, node.right)
    return Binary(node.fn, node.left, child)


def _postorder(node, path=()):
    for index, child in enumerate(_children(node)):
        yield from _postorder(child, path + (index,))
    yield path, node


def _replace(root, path, new):
    if not path:
        return new
    return _with_child(root, path[0], _replace(_children(root)[path[0]], path[1:], new))


def _rewrite(root, target):
    """Apply node rewrites, innermost first, while one shortens the rule and keeps its fingerprint."""
    changed = True
    while changed:
        changed = False
        cost = _cost(root)
        for path, node in _postorder(root):
            for candidate in _proposals(node):
                new_root = _replace(root, path, candidate)
                if _cost(new_root) < cost and _fingerprint(new_root) == target:
                    root, changed = new_root, True
                    break
            if changed:
                break
    return root


# --- node rewrites -----------------------------------------------------------------------------------------------


def _is_const(node, value=None):
    return isinstance(node, Const) and (value is None or node.value == value)


def _neg(node):
    if isinstance(node, Const):
        return Const(0.0 - node.value)
    if isinstance(node, Unary) and node.fn == "neg":
        return node.arg
    return Unary("neg", node)


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
            yield _neg(Unary("sign", x.arg))
        if isinstance(x, Operand) and x.name in ("adam", "rmsprop"):
            yield Unary("sign", Operand("m" if x.name == "adam" else "g"))
        if isinstance(x, Binary) and x.fn in ("mul", "div"):
            for constant, other in ((x.left, x.right), (x.right, x.left)):
                if _is_const(constant) and constant.value != 0 and (x.fn == "mul" or constant is x.right):
                    inner = Unary("sign", other)
                    yield inner if constant.value > 0 else _neg(inner)
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
            yield _neg(Unary("clip", x.arg, node.param))


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
                yield _neg(x)
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
            yield _neg(a)
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
        opposite = next((i for i, (p, t) in enumerate(kept) if t == term and p != positive), None)
        if opposite is None:
            kept.append((positive, term))
        else:
            kept.pop(opposite)
    kept.sort(key=lambda item: not item[0])  # positive terms first: g - m rather than -m + g
    if constant:
        kept.append((constant > 0, Const(abs(constant))))
    if not kept:
        yield Const(0.0)
        return
    positive, result = kept[0]
    if not positive:
        result = _neg(result)
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
    yield _neg(result) if constant == -1.0 else result


# --- sympy -------------------------------------------------------------------------------------------------------


class _Untranslatable(Exception):
    pass


class _SympyTranslation:
    """Rule tree <-> sympy expression, with clip, drop and non-integer powers as opaque functions."""

    def __init__(self):
        import sympy

        self.sympy = sympy
        self.symbols = {}
        self.functions = {}  # sympy function name -> (fn, param)

    def symbol(self, name):
        if name not in self.symbols:
            nonnegative = name == "v" or decay_periods(name) is not None
            self.symbols[name] = self.sympy.Symbol(name, real=True, nonnegative=nonnegative or None)
        return self.symbols[name]

    def function(self, fn, param):
        # One name per (fn, param) in every translation, so sympy's caches never see one name with two meanings.
        name = fn if param is None else f"{fn}_{format_node(Const(param))}".replace("-", "m").replace(".", "p")
        self.functions[name] = (fn, param)
        return self.sympy.Function(name, real=True)

    def to_sympy(self, node):
        sp = self.sympy
        if isinstance(node, Operand):
            return self.symbol(node.name)
        if isinstance(node, Const):
            if float(node.value).is_integer():
                return sp.Integer(int(node.value))
            return sp.Rational(format_node(Const(node.value)).lstrip("-")) * (-1 if node.value < 0 else 1)
        if isinstance(node, Unary):
            x = self.to_sympy(node.arg)
            if node.fn == "neg":
                return -x
            if node.fn == "exp":
                return sp.exp(x)
            if node.fn == "log":
                return sp.log(sp.Abs(x))
            if node.fn == "sqrt":
                return sp.sqrt(sp.Abs(x))
            if node.fn == "sign":
                return sp.sign(x)
            return self.function(node.fn, node.param)(x)
        left = self.to_sympy(node.left)
        if node.fn == "left":
            return left
        if node.fn == "pow":
            if isinstance(node.right, Const) and float(node.right.value).is_integer():
                return left ** int(node.right.value)
            return self.function("pow", None)(left, self.to_sympy(node.right))
        right = self.to_sympy(node.right)
        return {"add": left + right, "sub": left - right, "mul": left * right, "div": left / right}[node.fn]

    def from_sympy(self, e):
        sp = self.sympy
        if e.is_Symbol:
            return Operand(e.name)
        if e is sp.E:
            return Unary("exp", Const(1.0))
        if e.is_Number:
            if not e.is_real or not e.is_finite:
                raise _Untranslatable(e)
            return Const(float(e))
        if e.is_Add:
            return self._sum(e)
        if e.is_Mul or (e.is_Pow and e.exp.is_number and e.exp.is_negative):
            return self._product(e)
        if e.is_Pow:
            return self._power(e.base, e.exp)
        if isinstance(e, sp.exp):
            return Unary("exp", self.from_sympy(e.args[0]))
        if isinstance(e, sp.log):
            (arg,) = e.args
            if isinstance(arg, sp.Abs):
                return Unary("log", self.from_sympy(arg.args[0]))
            if arg.is_nonnegative:
                return Unary("log", self.from_sympy(arg))
            raise _Untranslatable(e)
        if isinstance(e, sp.sign):
            return Unary("sign", self.from_sympy(e.args[0]))
        name = type(e).__name__
        if name in self.functions:
            fn, param = self.functions[name]
            if fn == "pow":
                return Binary("pow", self.from_sympy(e.args[0]), self.from_sympy(e.args[1]))
            return Unary(fn, self.from_sympy(e.args[0]), param)
        raise _Untranslatable(e)

    def _power(self, base, exponent):
        sp = self.sympy
        if exponent == sp.Rational(1, 2):
            if isinstance(base, sp.Abs):
                return Unary("sqrt", self.from_sympy(base.args[0]))
            if base.is_nonnegative:
                return Unary("sqrt", self.from_sympy(base))
            raise _Untranslatable(base)
        if exponent.is_Integer and exponent > 1:
            return Binary("pow", self.from_sympy(base), Const(float(exponent)))
        raise _Untranslatable(exponent)

    def _sum(self, e):
        positive, negative = [], []
        for term in e.as_ordered_terms():
            coefficient, _ = term.as_coeff_Mul()
            (negative if coefficient.is_negative else positive).append(term)
        constants = [t for t in positive + negative if t.is_Number]
        positive = [t for t in positive if not t.is_Number]
        negative = [t for t in negative if not t.is_Number]
        result = None
        for term in positive:
            node = self.from_sympy(term)
            result = node if result is None else Binary("add", result, node)
        for term in negative:
            node = self.from_sympy(-term)
            result = _neg(node) if result is None else Binary("sub", result, node)
        for term in constants:
            node = self.from_sympy(abs(term))
            if result is None:
                result = self.from_sympy(term)
            else:
                result = Binary("add" if term > 0 else "sub", result, node)
        return result

    def _product(self, e):
        sp = self.sympy
        coefficient, factors = e.as_coeff_mul()
        numerator, denominator = [], []
        for factor in factors:
            if factor.is_Pow and factor.exp.is_number and factor.exp.is_negative:
                denominator.append(factor.base ** (-factor.exp))
            else:
                numerator.append(factor)
        negative = coefficient.is_negative
        coefficient = abs(coefficient)
        if coefficient.is_Rational and coefficient.q != 1 and not numerator:
            numerator.insert(0, sp.Integer(coefficient.p))
            denominator.insert(0, sp.Integer(coefficient.q))
        elif coefficient != 1:
            numerator.insert(0, coefficient)
        top = None
        for factor in numerator:
            node = self.from_sympy(factor)
            top = node if top is None else Binary("mul", top, node)
        top = Const(1.0) if top is None else top
        bottom = None
        for factor in denominator:
            node = self.from_sympy(factor)
            bottom = node if bottom is None else Binary("mul", bottom, node)
        result = top if bottom is None else Binary("div", top, bottom)
        return _neg(result) if negative else result


def _sympy_candidates(root):
    """Trees read back from sympy forms of the rule (none when sympy is missing, the rule is big, or no form is
    expressible in the language)."""
    if _size(root) > _SYMPY_MAX_SIZE:
        return []
    try:
        import sympy
    except ImportError:  # sympy is optional: the node rewrites work without it
        return []
    translation = _SympyTranslation()
    try:
        expression = translation.to_sympy(root)
        # sympy.simplify found nothing more on the paper space's rules, at 50x the time of these.
        forms = [expression, sympy.powsimp(expression), sympy.factor_terms(expression), sympy.cancel(expression)]
    except Exception:  # sympy failing on an odd expression just means no proposal
        return []
    nodes = []
    for form in forms:
        try:
            node = translation.from_sympy(form)
        except (_Untranslatable, TypeError, ValueError, OverflowError):
            continue
        if node not in nodes:
            nodes.append(node)
    return sorted(nodes, key=_cost)
