"""Pretty forms of a rule for papers and terminals: LaTeX and Unicode.

``to_latex`` writes ``e^{\\operatorname{sign}(g)\\cdot\\operatorname{sign}(\\hat{m})}\\cdot g``
for PowerSign; ``to_unicode`` writes ``e^(sign(g)·sign(m))·g``. Both keep the
tree's grouping: parentheses appear exactly where the canonical text has them
(or where the notation needs them, e.g. around the base of a power). They are
for reading only; ``str(rule)`` is the text that parses back.
"""

from __future__ import annotations

from typing import Union

from keras_nos.dsl.parser import parse_rule
from keras_nos.dsl.rule import Const, Operand, Rule, Unary, format_number
from keras_nos.dsl.semantics import decay_periods

_LEVEL = {"add": 1, "sub": 1, "mul": 2, "div": 2, "neg": 3, "pow": 4}
_ATOM = 5
_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


def _root(rule):
    return parse_rule(rule).root


# --- Unicode -----------------------------------------------------------------------------------------------------


def _unicode(node):
    """(text, level): the level says how tightly the text binds (see ``_LEVEL``)."""
    if isinstance(node, Operand):
        return node.name, _ATOM
    if isinstance(node, Const):
        text = format_number(node.value)
        return (text.replace("-", "−", 1), _LEVEL["neg"]) if node.value < 0 else (text, _ATOM)
    if isinstance(node, Unary):
        if node.fn == "neg":
            return "−" + _unicode_wrap(node.arg, _LEVEL["neg"]), _LEVEL["neg"]
        if node.fn == "exp":
            return "e^" + _unicode_wrap(node.arg, _ATOM), _LEVEL["pow"]
        if node.fn == "sqrt":
            return "√" + _unicode_wrap(node.arg, _ATOM), _LEVEL["pow"]
        if node.param is not None:
            return f"{node.fn}({_unicode(node.arg)[0]}, {format_number(node.param)})", _ATOM
        return f"{node.fn}({_unicode(node.arg)[0]})", _ATOM
    if node.fn == "left":
        return _unicode(node.left)
    if node.fn == "pow":
        base = _unicode_wrap(node.left, _ATOM)
        exponent = node.right
        if isinstance(exponent, Const) and float(exponent.value).is_integer() and abs(exponent.value) < 1e6:
            return base + str(int(exponent.value)).translate(_SUPERSCRIPT), _LEVEL["pow"]
        return f"{base}^{_unicode_wrap(exponent, _ATOM)}", _LEVEL["pow"]
    level = _LEVEL[node.fn]
    symbol = {"add": " + ", "sub": " − ", "mul": "·", "div": "/"}[node.fn]
    return f"{_unicode_wrap(node.left, level)}{symbol}{_unicode_wrap(node.right, level + 1)}", level


def _unicode_wrap(node, minimum):
    text, level = _unicode(node)
    return f"({text})" if level < minimum else text


def to_unicode(rule: Union[str, Rule]) -> str:
    """One-line Unicode form: ``e^(sign(g)·sign(m))·g``, ``(1 + sign(g)·sign(m))·g``, ``g − clip(g², 1e-4)``."""
    return _unicode(_root(rule))[0]


# --- LaTeX -------------------------------------------------------------------------------------------------------

_LATEX_OPERANDS = {
    "g": "g",
    "w": "w",
    "m": r"\hat{m}",
    "v": r"\hat{v}",
    "y": r"\hat{y}",
    "noise": r"\epsilon",
    "adam": r"\mathrm{Adam}",
    "rmsprop": r"\mathrm{RMSProp}",
}
_LATEX_FUNCTIONS = {"sign": r"\operatorname{sign}", "log": r"\log", "clip": r"\operatorname{clip}",
                    "drop": r"\operatorname{drop}"}


def _latex_number(value):
    """2, 0.5, 10^{-4}, 2.5\\times 10^{-5}, -1."""
    text = format_number(abs(value))
    if "e" in text:
        mantissa, exponent = text.split("e")
        power = f"10^{{{int(exponent)}}}"
        text = power if mantissa == "1" else f"{mantissa}\\times {power}"
    return ("-" + text) if value < 0 else text


def _latex_operand(name):
    if name in _LATEX_OPERANDS:
        return _LATEX_OPERANDS[name]
    kind, periods = decay_periods(name)
    if name in ("ld", "cd", "rd"):
        return rf"\mathrm{{{kind}}}"
    return rf"\mathrm{{{kind}}}_{{{format_number(periods)}}}"


def _parens(text):
    return rf"\left({text}\right)" if r"\frac" in text else f"({text})"


def _latex(node):
    if isinstance(node, Operand):
        return _latex_operand(node.name), _ATOM
    if isinstance(node, Const):
        text = _latex_number(node.value)
        if node.value < 0:
            return text, _LEVEL["neg"]
        return text, _LEVEL["mul"] if r"\times" in text else _ATOM
    if isinstance(node, Unary):
        if node.fn == "neg":
            return "-" + _latex_wrap(node.arg, _LEVEL["neg"]), _LEVEL["neg"]
        if node.fn == "exp":
            return f"e^{{{_latex(node.arg)[0]}}}", _LEVEL["pow"]
        if node.fn == "sqrt":
            return rf"\sqrt{{{_latex(node.arg)[0]}}}", _ATOM
        inner = _latex(node.arg)[0]
        if node.param is not None:
            inner = f"{inner}, {_latex_number(node.param)}"
        return _LATEX_FUNCTIONS[node.fn] + _parens(inner), _ATOM
    if node.fn == "left":
        return _latex(node.left)
    if node.fn == "pow":
        return f"{_latex_wrap(node.left, _ATOM)}^{{{_latex(node.right)[0]}}}", _LEVEL["pow"]
    if node.fn == "div":
        return rf"\frac{{{_latex(node.left)[0]}}}{{{_latex(node.right)[0]}}}", _LEVEL["pow"]
    level = _LEVEL[node.fn]
    right = _latex_wrap(node.right, level + 1)
    symbol = {"add": " + ", "sub": " - ", "mul": r"\cdot" + (" " if right[0].isalpha() else "")}[node.fn]
    return f"{_latex_wrap(node.left, level)}{symbol}{right}", level


def _latex_wrap(node, minimum):
    text, level = _latex(node)
    return _parens(text) if level < minimum else text


def to_latex(rule: Union[str, Rule]) -> str:
    """LaTeX math (without ``$``), e.g. ``e^{\\operatorname{sign}(g)\\cdot\\operatorname{sign}(\\hat{m})}\\cdot g``.

    m, v, y are written with hats (they are bias-corrected), division as ``\\frac``,
    and ``noise`` as ``\\epsilon``.
    """
    return _latex(_root(rule))[0]
