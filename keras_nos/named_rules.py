"""Update rules by name: the optimizers the paper reports, as ``Rule`` objects.

``PAPER_RULES`` holds the rules of the paper's Table 3 (found by the search on
the CIFAR-10 proxy), with PowerSign and AddSign and their decayed variants.
``\\hat m``-style bias correction is built into the operands m, v, y.
"""

from __future__ import annotations

from keras_nos.dsl.parser import parse_rule
from keras_nos.dsl.rule import Rule
from keras_nos.errors import KerasNosError

KNOWN_RULES = {
    # Hand-designed optimizers written in the language, for comparisons and seeding searches.
    "sgd": "g",
    "momentum": "m",
    "adam": "adam",
    "rmsprop": "rmsprop",
    "signsgd": "sign(g)",
    "signum": "sign(m)",
}

PAPER_RULES = {
    "powersign": "exp(sign(g)*sign(m))*g",
    "addsign": "(1 + sign(g)*sign(m))*g",
    "powersign-ld": "exp(ld*sign(g)*sign(m))*g",
    "powersign-cd": "exp(cd*sign(g)*sign(m))*g",
    "powersign-rd": "exp(rd*sign(g)*sign(m))*g",
    "addsign-ld": "(1 + ld*sign(g)*sign(m))*g",
    "addsign-cd": "(1 + cd*sign(g)*sign(m))*g",
    "addsign-rd": "(1 + rd*sign(g)*sign(m))*g",
    "nos-1": "(exp(sign(g)*sign(m)) + clip(g, 1e-4))*g",
    "nos-2": "clip(m, 1e-4)*exp(v)",
    "nos-3": "m*exp(v)",
    "nos-4": "drop(g, 0.3)*exp(sign(g)*sign(m))",
    "nos-5": "m*exp(g^2)",
    "nos-6": "drop(m, 0.1)/exp(g^2)",
    "nos-7": "drop(g, 0.1)*exp(sign(g)*sign(m))",
    "nos-8": "clip(rmsprop, 1e-5) + drop(m, 0.3)",
    "nos-9": "adam*exp(sign(g)*sign(m))",
    "nos-10": "adam*exp(m)",
    "nos-11": "g + drop(m, 0.3)",
    "nos-12": "drop(m, 0.1)*exp(g^3)",
    "nos-13": "g - clip(g^2, 1e-4)",
    "nos-14": "exp(g) - exp(m)",
    "nos-15": "drop(m, 0.3)*exp(1e-3*w)",
}

RULES = {**KNOWN_RULES, **PAPER_RULES}


def get_rule(name: str) -> Rule:
    """The ``Rule`` registered as ``name``; ``ValueError`` lists the names."""
    if name not in RULES:
        raise KerasNosError(f"Unknown rule name {name!r}; registered names: {', '.join(RULES)}")
    return parse_rule(RULES[name])


def names() -> list[str]:
    return list(RULES)
