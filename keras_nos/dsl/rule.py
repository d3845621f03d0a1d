"""The expression tree of an update rule, and its canonical text.

A ``Rule`` is the currency of the whole library: strategies propose it, the
evaluator trains with it, MLflow logs ``str(rule)``, ``RuleOptimizer`` compiles
it. Nodes are frozen dataclasses, so rules compare and hash structurally.
"""

import dataclasses

from keras_nos.dsl import primitives
from keras_nos.dsl.semantics import DECAY_NAMES, SLOTS_OF_OPERAND, decay_periods

OPERAND_NAMES = tuple(SLOTS_OF_OPERAND) + DECAY_NAMES


def is_operand_name(name):
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
    arg: object
    param: float = None


@dataclasses.dataclass(frozen=True)
class Binary:
    fn: str
    left: object
    right: object


INFIX = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "^"}
_PRECEDENCE = {"add": 1, "sub": 1, "mul": 2, "div": 2, "neg": 3, "pow": 4}
_ATOM = 5


def negate(node):
    """-node, folding a constant so that ``-1`` is one literal however it was made."""
    if isinstance(node, Const):
        return Const(-node.value)
    return Unary("neg", node)


def _precedence(node):
    if isinstance(node, Const) and node.value < 0:
        return _PRECEDENCE["neg"]
    if isinstance(node, Unary) and node.fn == "neg":
        return _PRECEDENCE["neg"]
    if isinstance(node, Binary):
        return _PRECEDENCE[node.fn]
    return _ATOM


def format_number(value):
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


def _wrap(node, minimum):
    text = format_node(node)
    return f"({text})" if _precedence(node) < minimum else text


def format_node(node):
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


def walk(node):
    """Every node of the tree, parents before children."""
    yield node
    if isinstance(node, Unary):
        yield from walk(node.arg)
    elif isinstance(node, Binary):
        yield from walk(node.left)
        yield from walk(node.right)


def evaluate_node(node, xp, operand):
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


def apply_unary(node, xp, x, operand):
    """The function of the Unary ``node`` applied to its argument's value ``x`` (the exporter calls it too)."""
    if node.fn == "drop":
        return primitives.drop(xp, x, node.param, operand("uniform"))
    if node.fn == "clip":
        return primitives.clip(xp, x, node.param)
    return primitives.UNARY[node.fn](xp, x)


class Rule:
    """An update rule: the step is ``w <- w - lr * rule``.

    Build one with ``keras_nos.parse_rule(text)`` or ``Rule.from_tokens(tokens)``.
    """

    def __init__(self, root):
        self.root = root

    def __str__(self):
        return format_node(self.root)

    def __repr__(self):
        return f"Rule({str(self)!r})"

    def __eq__(self, other):
        return isinstance(other, Rule) and self.root == other.root

    def __hash__(self):
        return hash(self.root)

    def operand_names(self):
        """The operand names the rule reads, sorted."""
        return sorted({n.name for n in walk(self.root) if isinstance(n, Operand)})

    def slots(self):
        """Optimizer slots the rule needs, from {'m', 'v', 'y'}: only what it reads."""
        needed = set()
        for name in self.operand_names():
            needed.update(SLOTS_OF_OPERAND.get(name, ()))
        return tuple(s for s in ("m", "v", "y") if s in needed)

    def uses_decay(self):
        return any(decay_periods(name) for name in self.operand_names())

    def size(self):
        """Number of nodes: the length used to compare rules when simplifying."""
        return sum(1 for _ in walk(self.root))

    def evaluate(self, xp, operand):
        return evaluate_node(self.root, xp, operand)

    def fingerprint(self):
        from keras_nos.dsl.fingerprint import fingerprint

        return fingerprint(self)

    def to_tokens(self):
        from keras_nos.dsl.tokens import rule_to_tokens

        return rule_to_tokens(self)

    def simplify(self):
        """The shortest equivalent rule found: same fingerprint, never more nodes (see ``keras_nos.dsl.simplify``)."""
        from keras_nos.dsl.simplify import simplify

        return simplify(self)

    def to_latex(self):
        """LaTeX math text, e.g. ``e^{\\operatorname{sign}(g)\\cdot\\operatorname{sign}(\\hat{m})}\\cdot g``."""
        from keras_nos.dsl.pretty import to_latex

        return to_latex(self)

    def to_unicode(self):
        """One-line Unicode text, e.g. ``e^(sign(g)·sign(m))·g``."""
        from keras_nos.dsl.pretty import to_unicode

        return to_unicode(self)

    @classmethod
    def from_tokens(cls, tokens):
        from keras_nos.dsl.tokens import tokens_to_rule

        return tokens_to_rule(tokens)
