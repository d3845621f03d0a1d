"""What each operand of the update-rule language means, written once for any array namespace.

``RuleOptimizer`` calls these functions with ``xp=keras.ops``, the NumPy stepper and
the fingerprint with ``xp=numpy``, and ``keras-nos export`` runs them on source text
(``keras_nos.source_ops``) to write its modules. Changing an operand here changes
it in all four; ``primitives`` holds the functions the rules apply to operands.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any, Optional

from keras_nos.dsl import primitives

# Decay rates of the running averages and the epsilon of adam and rmsprop: RuleOptimizer's defaults.
DEFAULT_HYPERPARAMETERS = {"beta_1": 0.9, "beta_2": 0.999, "beta_3": 0.999, "epsilon": 1e-8}
NOISE_STDDEV = 0.1  # noise is N(0, 0.01): variance 0.01


@dataclasses.dataclass(frozen=True)
class RunningAverage:
    """An optimizer slot: the running average of g**power, decay rate ``beta``, bias-corrected as in Adam."""

    power: int
    beta: str  # the name of the hyperparameter holding its decay rate

    @property
    def text(self) -> str:
        """What it averages, for docstrings: g, g^2, g^3."""
        return "g" if self.power == 1 else f"g^{self.power}"

    def target(self, xp: Any, g: Any) -> Any:
        """This step's g**power, as the optimizer has always computed it (g^3 as g * g^2)."""
        if self.power == 1:
            return g
        squared = xp.square(g)
        return squared if self.power == 2 else g * squared


AVERAGES = {"m": RunningAverage(1, "beta_1"), "v": RunningAverage(2, "beta_2"), "y": RunningAverage(3, "beta_3")}


def updated_average(xp: Any, slot: str, average: Any, g: Any, beta: float) -> Any:
    """The slot's average after this step's gradient; ``beta`` is the decay rate as given (a Python float)."""
    return average + (AVERAGES[slot].target(xp, g) - average) * (1.0 - beta)


def bias_corrected(average: Any, beta: Any, t: Any) -> Any:
    """average / (1 - beta^(t+1)) at zero-based step ``t``; ``beta`` in the array type of ``t`` (or both floats)."""
    return average / (1.0 - beta ** (t + 1.0))


def adam(xp: Any, operand: Callable[[str], Any], epsilon: float) -> Any:
    return operand("m") / (xp.sqrt(operand("v")) + epsilon)


def rmsprop(xp: Any, operand: Callable[[str], Any], epsilon: float) -> Any:
    return operand("g") / (xp.sqrt(operand("v")) + epsilon)


# Operands built from other operands: name -> (function of (xp, operand, epsilon), the slots it reads).
DERIVED = {"adam": (adam, ("m", "v")), "rmsprop": (rmsprop, ("v",))}

# Every operand a rule may name (decays aside) and the slots it needs.
SLOTS_OF_OPERAND = {
    "g": (),
    "w": (),
    "noise": (),
    **{slot: (slot,) for slot in AVERAGES},
    **{name: slots for name, (_, slots) in DERIVED.items()},
}

# Random draws, one per entry and step: noise is an operand, uniform the draw that drop() reads.
RANDOM_OPERANDS = ("uniform", "noise")


def random_stream(name: str, index: int) -> int:
    """The stream of variable ``index``'s draws of ``name``, so each variable and operand draws its own."""
    return 2 * index + RANDOM_OPERANDS.index(name)


def random_draw(name: str, normal: Callable[[float], Any], uniform: Callable[[], Any]) -> Any:
    """Draw ``name`` with the caller's source: ``normal(stddev)`` and ``uniform()`` give one array."""
    return normal(NOISE_STDDEV) if name == "noise" else uniform()


DECAY_NAMES = ("ld", "cd", "rd")
DEFAULT_DECAY_PERIODS = {"ld": None, "cd": 0.5, "rd": 1.0}
_DECAY_PATTERN = re.compile(r"^(cd|rd)_(\d+(?:\.\d+)?)$")


def decay_periods(name: str) -> Optional[tuple[str, Optional[float]]]:
    """(kind, n) of a decay operand name: ``ld``, ``cd``, ``rd``, ``cd_2``, ``rd_10``; None otherwise."""
    if name in DECAY_NAMES:
        return name, DEFAULT_DECAY_PERIODS[name]
    match = _DECAY_PATTERN.match(name)
    if match:
        return match.group(1), float(match.group(2))
    return None


def decay_value(xp: Any, name: str, t: Any, total: float) -> Any:
    """Value of the decay operand ``name`` (ld, cd, rd, cd_N, rd_N) at step ``t`` of ``total``."""
    kind, periods = decay_periods(name)
    if kind == "ld":
        return primitives.linear_decay(xp, t, total)
    if kind == "cd":
        return primitives.cosine_decay(xp, t, total, periods)
    return primitives.restart_decay(xp, t, total, periods)


def step_operands(xp: Any, values: dict[str, Any], t: Any, epsilon: float, decay_steps: float,
                  draw: Optional[Callable[[str], Any]] = None) -> Callable[[str], Any]:
    """``operand(name)`` for one step of a rule: known values first, the rest computed once, when first read.

    ``values`` (a dict, filled in as operands are read) holds g, w and the
    bias-corrected averages, and for the fingerprint fixed draws; ``draw(name)``
    gives a random operand; decays are read at step ``t`` of ``decay_steps``.
    """

    def operand(name: str) -> Any:
        if name not in values:
            if name in DERIVED:
                values[name] = DERIVED[name][0](xp, operand, epsilon)
            elif name in RANDOM_OPERANDS:
                values[name] = draw(name)
            else:
                values[name] = decay_value(xp, name, t, float(decay_steps))
        return values[name]

    return operand
