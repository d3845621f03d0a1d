"""One way to get any optimizer the library knows from a short spec string.

Examples, the CLI and ``keras-nos compare`` accept the same specs: Keras'
baselines (sgd, momentum, adam, rmsprop, lion), PowerSign/AddSign and their
-ld/-cd/-rd sign decays, any name in ``keras_nos.named_rules``, or rule text.
"""

from __future__ import annotations

from typing import Any, Optional, Union

import keras

from keras_nos import named_rules
from keras_nos.dsl.parser import parse_rule
from keras_nos.dsl.rule import Rule
from keras_nos.errors import KerasNosError
from keras_nos.optimizers.rule_optimizer import RuleOptimizer
from keras_nos.optimizers.sign_optimizers import AddSign, PowerSign

_DECAY_SUFFIXES = {"ld": "linear", "cd": "cosine", "rd": "restart"}

KERAS_BASELINES = {
    "sgd": lambda lr: keras.optimizers.SGD(learning_rate=lr),
    "momentum": lambda lr: keras.optimizers.SGD(learning_rate=lr, momentum=0.9),
    "adam": lambda lr: keras.optimizers.Adam(learning_rate=lr),
    "rmsprop": lambda lr: keras.optimizers.RMSprop(learning_rate=lr),
    "lion": lambda lr: keras.optimizers.Lion(learning_rate=lr),
}


def optimizer_names() -> list[str]:
    """Every name ``make_optimizer`` accepts besides rule text."""
    signs = [f"{base}{suffix}" for base in ("powersign", "addsign") for suffix in ("", "-ld", "-cd", "-rd")]
    known = list(KERAS_BASELINES) + signs
    return known + [name for name in named_rules.names() if name not in known]


def make_optimizer(spec: Union[str, Rule], learning_rate: float = 0.01, decay_steps: Optional[int] = None,
                   **kwargs: Any) -> keras.optimizers.Optimizer:
    """A fresh optimizer for ``spec``; ``ValueError`` names the spec and what is allowed.

    ``decay_steps`` is needed by the -ld/-cd/-rd variants and decay operands;
    ``kwargs`` go to the optimizer's constructor.
    """
    name = spec.strip().lower() if isinstance(spec, str) else spec
    if name in KERAS_BASELINES:
        return KERAS_BASELINES[name](learning_rate)
    base, _, suffix = name.partition("-") if isinstance(name, str) else ("", "", "")
    if base in ("powersign", "addsign") and (suffix == "" or suffix in _DECAY_SUFFIXES):
        cls = PowerSign if base == "powersign" else AddSign
        if suffix and not decay_steps:
            raise KerasNosError(f"Optimizer {spec!r} uses a sign decay and needs decay_steps (the total training steps)")
        decay = _DECAY_SUFFIXES.get(suffix)
        return cls(learning_rate=learning_rate, sign_decay=decay, decay_steps=decay_steps if decay else None, **kwargs)
    text = named_rules.RULES.get(name, spec)
    try:
        rule = parse_rule(text)
    except ValueError as error:
        raise KerasNosError(
            f"Unknown optimizer {spec!r}: not one of {', '.join(optimizer_names())}, and not a rule ({error})"
        ) from None
    return RuleOptimizer(rule, learning_rate=learning_rate, decay_steps=decay_steps, **kwargs)
