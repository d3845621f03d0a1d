"""The interface every search strategy implements: a small, Optuna-Sampler-like ask/tell.

Like Optuna's ``BaseSampler``, ``Strategy`` is an abstract base: a strategy
must implement ``propose`` and ``observe``. The rest of the project only calls
those, ``state`` and ``load_state``, and ``diagnostics`` where a strategy has
it; strategies work on token sequences of a ``SearchSpace`` and know nothing
of training.
"""

import abc
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from keras_nos.errors import KerasNosError

if TYPE_CHECKING:
    from keras_nos.search.space import SearchSpace


class Strategy(abc.ABC):
    """Proposes token sequences of ``space`` and learns from their rewards.

    ``options`` override the class's ``defaults``; an unknown option is a
    ``ValueError`` listing the allowed ones. For a fixed ``seed`` a strategy is
    deterministic: the same observations give the same proposals.
    """

    name = "base"
    defaults = {}

    def __init__(self, space: "SearchSpace", seed: int = 0, **options):
        unknown = sorted(set(options) - set(self.defaults))
        if unknown:
            allowed = ", ".join(sorted(self.defaults)) or "none"
            raise KerasNosError(f"Unknown option(s) {', '.join(unknown)} for strategy {self.name!r}; allowed: {allowed}")
        self.space = space
        self.seed = int(seed)
        self.options = {**self.defaults, **options}
        self.rng = np.random.default_rng(self.seed)

    @abc.abstractmethod
    def propose(self, n: int) -> list[list[str]]:
        """``n`` token sequences, each valid in ``self.space``."""

    @abc.abstractmethod
    def observe(self, results: Iterable[tuple[Sequence[str], float]]) -> None:
        """Learn from ``(tokens, reward)`` pairs, reward a float in [0, 1]; any order, partial batches."""

    def use_hurdles(self, names: Sequence[str], learning_rates: Sequence[float]) -> None:
        """The cheap hurdles (``keras_nos.tasks.hurdles``) the search runs before training a rule, and on which
        learning rates; a strategy that screens its proposals screens with these. Not part of ``state()``: the
        search tells its strategy again when it resumes."""

    def diagnostics(self) -> dict[str, float]:
        """The strategy's own numbers after its last observation (``{name: float}``), logged as step metrics."""
        return {}

    def state(self) -> dict:
        """Everything needed to resume, picklable: Python types and NumPy arrays."""
        return {"name": self.name, "seed": self.seed, "options": dict(self.options), "rng": self.rng.bit_generator.state}

    def load_state(self, state: dict) -> None:
        """Resume from ``state()`` of a strategy of the same kind and space."""
        if state.get("name") != self.name:
            raise KerasNosError(f"A state of strategy {state.get('name')!r} cannot be loaded into strategy {self.name!r}")
        self.seed = state["seed"]
        self.options = dict(state["options"])
        self.rng = np.random.default_rng()
        self.rng.bit_generator.state = state["rng"]

    # -- helpers shared by strategies ---------------------------------------------

    @staticmethod
    def _results(results: Iterable[tuple[Sequence[str], float]]) -> list[tuple[list[str], float]]:
        """[(tokens as a list, reward as a float)], checking rewards are numbers."""
        pairs = []
        for tokens, reward in results:
            reward = float(reward)
            if not np.isfinite(reward):
                raise KerasNosError(f"A reward must be a finite number in [0, 1]; got {reward} for {list(tokens)}")
            pairs.append((list(tokens), reward))
        return pairs

    def __repr__(self):
        return f"{type(self).__name__}(space={self.space!r}, seed={self.seed})"
