"""Named optimizer classes for discovered rules: ``optimizer_class("MySign", rule)``.

``RuleOptimizer(rule)`` saves its rule in its config; a named class fixes the
rule instead, so it reads and saves like any Keras optimizer::

    MySign = keras_nos.optimizer_class("MySign", "exp(sign(g)*sign(m))*g", defaults={"learning_rate": 0.1})
    model.compile(optimizer=MySign())
    model.save("model.keras")
    keras.models.load_model("model.keras")  # finds "keras_nos>MySign" once the class has been made again

For a module that does not need keras_nos at all, see ``keras-nos export``.
"""

from __future__ import annotations

import inspect
import keyword
import re
import sys
from collections.abc import Mapping
from typing import Any, Optional, Union

import keras

from keras_nos.dsl.parser import parse_rule
from keras_nos.dsl.pretty import to_latex, to_unicode
from keras_nos.dsl.rule import Rule
from keras_nos.errors import KerasNosError
from keras_nos.optimizers.rule_optimizer import RuleOptimizer

PACKAGE = "keras_nos"

BASE_ARGUMENTS = (
    "weight_decay", "clipnorm", "clipvalue", "global_clipnorm", "use_ema", "ema_momentum", "ema_overwrite_frequency",
    "loss_scale_factor", "gradient_accumulation_steps",
)
# Arguments of RuleOptimizer besides the rule, Keras' own and name, with their defaults: read from its signature.
CONSTRUCTOR_DEFAULTS = {
    key: parameter.default
    for key, parameter in inspect.signature(RuleOptimizer.__init__).parameters.items()
    if parameter.default is not inspect.Parameter.empty and key not in BASE_ARGUMENTS + ("name",)
}


def check_class_name(name: str) -> str:
    """Raise ValueError unless ``name`` can name a Python class."""
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise KerasNosError(f"Optimizer class name {name!r} is not a Python identifier (letters, digits and _, not "
                         "starting with a digit, not a keyword); use a name such as 'MySign'")
    return name


def snake_case(name: str) -> str:
    """'MySign' -> 'my_sign' (the default optimizer name and module name)."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def optimizer_class(name: str, rule: Union[str, Rule], defaults: Optional[Mapping[str, Any]] = None,
                    doc: Optional[str] = None) -> type[RuleOptimizer]:
    """A Keras optimizer class named ``name`` whose update is ``rule``.

    The class subclasses ``RuleOptimizer`` with the rule fixed: its constructor
    takes ``learning_rate`` and the other ``RuleOptimizer`` arguments (beta_1,
    beta_2, beta_3, epsilon, decay_steps, seed, and Keras' weight_decay,
    clipnorm, ...), with the values of ``defaults`` as defaults. It is
    registered with Keras as ``"keras_nos>{name}"``, and its ``get_config``
    leaves the rule out, so ``model.save`` / ``keras.models.load_model``
    round-trip it by name (in a process that has made the class).

    Args:
        name: class name, a Python identifier such as ``"MySign"``.
        rule: rule text or ``Rule``.
        defaults: dict of constructor defaults, e.g. ``{"learning_rate": 0.1}``.
        doc: extra text for the class docstring (e.g. where the rule was found).

    Raises:
        ValueError: ``name`` is not an identifier or names a keras_nos class,
            ``rule`` does not parse, or ``defaults`` has an unknown key.
    """
    check_class_name(name)
    rule = parse_rule(rule)
    existing = keras.saving.get_registered_object(f"{PACKAGE}>{name}")
    if existing is not None and not getattr(existing, "_keras_nos_named", False):
        raise KerasNosError(f"Optimizer class name {name!r} is taken by keras_nos' own {existing.__module__}.{name}; "
                         "choose another name")
    defaults = dict(defaults or {})
    unknown = sorted(set(defaults) - set(CONSTRUCTOR_DEFAULTS) - set(BASE_ARGUMENTS) - {"name"})
    if unknown:
        raise KerasNosError(f"Unknown default(s) {', '.join(map(repr, unknown))} for optimizer class {name!r}; "
                         f"allowed: {', '.join(tuple(CONSTRUCTOR_DEFAULTS) + BASE_ARGUMENTS + ('name',))}")
    values = {**CONSTRUCTOR_DEFAULTS, **{k: v for k, v in defaults.items() if k in CONSTRUCTOR_DEFAULTS}}
    extra_defaults = {k: v for k, v in defaults.items() if k not in CONSTRUCTOR_DEFAULTS}
    extra_defaults.setdefault("name", snake_case(name))

    def __init__(self, learning_rate=values["learning_rate"], beta_1=values["beta_1"], beta_2=values["beta_2"],
                 beta_3=values["beta_3"], epsilon=values["epsilon"], decay_steps=values["decay_steps"],
                 seed=values["seed"], **kwargs: Any) -> None:
        for key, value in extra_defaults.items():
            if kwargs.get(key) is None:
                kwargs[key] = value
        RuleOptimizer.__init__(self, rule, learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2, beta_3=beta_3,
                               epsilon=epsilon, decay_steps=decay_steps, seed=seed, **kwargs)

    def get_config(self: RuleOptimizer) -> dict[str, Any]:
        config = RuleOptimizer.get_config(self)
        config.pop("rule", None)
        return config

    @classmethod
    def from_config(cls: type[RuleOptimizer], config: Mapping[str, Any],
                    custom_objects: Optional[Mapping[str, Any]] = None) -> RuleOptimizer:
        config = dict(config)
        stored = config.pop("rule", None)
        if stored is not None and parse_rule(stored) != cls.fixed_rule:
            raise KerasNosError(f"{cls.__name__} computes {cls.fixed_rule}, but the saved config has the rule {stored!r}")
        return RuleOptimizer.from_config.__func__(cls, config, custom_objects=custom_objects)

    __init__.__qualname__ = f"{name}.__init__"
    get_config.__qualname__ = f"{name}.get_config"
    from_config.__func__.__qualname__ = f"{name}.from_config"
    namespace = {
        "__init__": __init__,
        "get_config": get_config,
        "from_config": from_config,
        "__doc__": _docstring(name, rule, values, doc),
        "__module__": _caller_module(),
        "fixed_rule": rule,
        "_keras_nos_named": True,
    }
    cls = type(name, (RuleOptimizer,), namespace)
    return keras.saving.register_keras_serializable(package=PACKAGE)(cls)


def _caller_module() -> str:
    """The module that called ``optimizer_class`` (as namedtuple does), so the class reports where it was made."""
    try:
        frame = sys._getframe(2)
    except ValueError:
        return __name__
    return frame.f_globals.get("__name__", __name__)


def _docstring(name: str, rule: Rule, values: Mapping[str, Any], doc: Optional[str]) -> str:
    arguments = ", ".join(f"{key}={value!r}" for key, value in values.items())
    lines = [
        f"{name}: the update rule ``{rule}`` as a Keras optimizer.",
        "",
        f"    w <- w - learning_rate * ({to_unicode(rule)})",
        "",
        f"LaTeX: ``{to_latex(rule)}``",
        "",
    ]
    if doc:
        lines += [doc.strip(), ""]
    lines += [
        f"Defaults: {arguments}.",
        "",
        "Operands: g (gradient); m, v, y (bias-corrected running averages of g, g^2, g^3 with beta_1, beta_2,",
        "beta_3); w (weights); noise (N(0, 0.01)); adam = m/(sqrt(v)+epsilon); rmsprop = g/(sqrt(v)+epsilon);",
        "ld, cd, rd (decays over decay_steps).",
        "",
        "Made by ``keras_nos.optimizer_class``; a subclass of ``keras_nos.RuleOptimizer`` registered as",
        f"``{PACKAGE}>{name}``.",
    ]
    return "\n".join(lines)
