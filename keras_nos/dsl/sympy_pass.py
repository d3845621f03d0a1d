"""The sympy pass of the simplifier: the whole rule through sympy and back.

The rule is translated (``sign``, ``exp``, ``log|x|``, ``sqrt|x|`` as sympy
functions; ``clip``, ``drop`` and non-integer powers as opaque functions), and
sympy's automatic canonical form, ``powsimp``, ``factor_terms`` and ``cancel``
are read back into the language where they can be: ``g*m - m*g + v`` becomes
``v``, ``exp(g)*exp(m)/exp(g)`` becomes ``exp(m)``. sympy is optional.
"""

from __future__ import annotations

from keras_nos.dsl.rule import Binary, Const, Node, Operand, Unary, format_node, opposite, size
from keras_nos.dsl.semantics import decay_periods

_SYMPY_MAX_SIZE = 40  # larger rules skip sympy (its time grows fast)


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
            result = opposite(node) if result is None else Binary("sub", result, node)
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
        return opposite(result) if negative else result


def sympy_candidates(root: Node) -> list[Node]:
    """Trees read back from sympy forms of the rule (none when sympy is missing, the rule is big, or no form is
    expressible in the language), without repeats."""
    if size(root) > _SYMPY_MAX_SIZE:
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
    return nodes
