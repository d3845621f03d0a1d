"""Shorter equivalent rules: ``simplify(rule)``.

A search writes rules the way its token form builds them, e.g.
``sign(sign(m))*exp(0)*g`` or ``(g - 1e-4*w) + 1e-4*w``; a shipped optimizer
should read ``sign(m)*g`` and ``g``. Two engines propose shorter trees, and
this module runs them in turn until neither finds one:

* ``rewrites.py``, one node at a time: identities (``x*1``, ``1*x``, ``x+0``,
  ``x-0``, ``x/1``, ``x^1``, ``--x``, ``x-x``, ``x*0``, ``x/x``, ``0/x``),
  functions (``sign(sign(x))``, ``sign(exp(x))`` = 1, ``sign(c*x)``,
  ``sign(clip(x))``, ``sign(x^3)``, ``sign(adam)`` = sign(m), ``log(exp(x))``,
  ``clip(clip(x))``, ``exp(a)*exp(b)``), keep-left nodes, and sums and
  products with their constants gathered and opposite terms cancelled;
  constant subtrees fold to a constant when its text is no longer than theirs
  (``exp(0)`` -> ``1``, ``sqrt(4)`` -> ``2``, ``1/1`` -> ``1``; ``exp(1)`` stays);
* ``sympy_pass.py``, the whole rule through sympy (``sign``, ``exp``, ``log|x|``,
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

from __future__ import annotations

import functools
from typing import Union

from keras_nos.dsl.fingerprint import fingerprint
from keras_nos.dsl.parser import parse_rule
from keras_nos.dsl.rewrites import cost, rewrite
from keras_nos.dsl.rule import Rule, size
from keras_nos.dsl.sympy_pass import sympy_candidates

__all__ = ["simplify"]


def simplify(rule: Union[str, Rule]) -> Rule:
    """The shortest rule found that has the fingerprint of ``rule`` (text or ``Rule``); never longer.

    >>> str(simplify("sign(sign(g))*exp(0)*g"))
    'sign(g)*g'
    """
    rule = parse_rule(rule)
    return Rule(_simplify_root(rule.root))


@functools.lru_cache(maxsize=8192)
def _simplify_root(root):
    target = _fingerprint(root)

    def keeps_behaviour(node):
        return _fingerprint(node) == target

    best = root
    while True:  # until neither engine shortens the best tree: then simplify(simplify(r)) == simplify(r)
        found = rewrite(best, keeps_behaviour)
        for alternative in sorted(sympy_candidates(found), key=cost):  # sympy's form must have fewer nodes
            if size(alternative) < size(found) and keeps_behaviour(alternative):
                alternative = rewrite(alternative, keeps_behaviour)
                if cost(alternative) < cost(found):
                    found = alternative
        if not cost(found) < cost(best):
            return best
        best = found


@functools.lru_cache(maxsize=65536)
def _fingerprint(root):
    return fingerprint(Rule(root))
