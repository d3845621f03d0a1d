"""A strategy's options: a frozen dataclass of typed, keyword-only fields, each checked when it is made.

As a Keras optimizer takes its hyperparameters by name, a strategy takes its options as one such dataclass
(``RLStrategy(space, options=RLOptions(elite_size=5))``). ``from_settings`` reads them from the flat
``{name: value}`` that ``--strategy-option KEY=VALUE`` and a parent run's stored settings give. A bad option
is one ``KerasNosError`` line naming it, its value and what is allowed.
"""

import dataclasses
import math
import typing
from collections.abc import Mapping
from typing import Any, Optional

from keras_nos.errors import KerasNosError


def option(default: Any, *, least: Optional[float] = None, most: Optional[float] = None,
           below: Optional[float] = None) -> Any:
    """A field whose value must keep ``least <= value <= most`` and ``value < below`` (each where given)."""
    return dataclasses.field(default=default, metadata={"least": least, "most": most, "below": below})


@dataclasses.dataclass(frozen=True, kw_only=True)
class StrategyOptions:
    """No options: the base of every strategy's options. Subclasses add fields made with ``option``."""

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for field in dataclasses.fields(self):
            value = _typed(field.name, hints[field.name], getattr(self, field.name), _bounds_text(field.metadata))
            _check_bounds(field.name, value, field.metadata)
            object.__setattr__(self, field.name, value)

    @classmethod
    def from_settings(cls, strategy: str, settings: Optional[Mapping[str, Any]]) -> "StrategyOptions":
        """The options of strategy ``strategy`` from ``{name: value}``; the ones left out keep their defaults."""
        settings = dict(settings or {})
        allowed = sorted(field.name for field in dataclasses.fields(cls))
        unknown = sorted(set(settings) - set(allowed))
        if unknown:
            raise KerasNosError(f"Unknown option(s) {', '.join(unknown)} for strategy {strategy!r}; "
                                f"allowed: {', '.join(allowed) or 'none'}")
        return cls(**settings)

    def settings(self) -> dict[str, Any]:
        """``{name: value}`` of every option, as ``from_settings`` reads it back."""
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}


def _typed(name, kind, value, bounds):
    """``value`` as an option of type ``kind`` (bool, int, float or tuple[str, ...]); a KerasNosError if it is not."""
    if kind is bool:
        ok, what = isinstance(value, bool), "true or false"
    elif kind is int:
        ok, what = isinstance(value, int) and not isinstance(value, bool), "a whole number"
    elif kind is float:  # a whole number is a number: --strategy-option learning_rate=0 reads as the JSON int 0
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        what, value = "a number", float(value) if ok else value
    else:  # tuple[str, ...]: rule texts, or anything whose str() is one (a Rule)
        ok, what = isinstance(value, (list, tuple)), "a list of rule texts"
        value = tuple(str(item) for item in value) if ok else value
    if not ok:
        raise KerasNosError(f"Strategy option {name} must be {what}{bounds}; got {value!r}")
    return value


def _bounds_text(metadata):
    least, most, below = metadata.get("least"), metadata.get("most"), metadata.get("below")
    if least is not None and (most is not None or below is not None):
        return f" in [{least}, {most}]" if most is not None else f" in [{least}, {below})"
    return f" >= {least}" if least is not None else ""


def _check_bounds(name, value, metadata):
    least, most, below = metadata.get("least"), metadata.get("most"), metadata.get("below")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    if (least is not None and value < least) or (most is not None and value > most) or (
            below is not None and value >= below):
        what = "a whole number" if isinstance(value, int) else "a number"
        raise KerasNosError(f"Strategy option {name} must be {what}{_bounds_text(metadata)}; got {value!r}")
