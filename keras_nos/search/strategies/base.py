"""The interface every search strategy implements: a small, Optuna-Sampler-like ask/tell.

Like Optuna's ``BaseSampler``, ``Strategy`` is an abstract base: a strategy
must implement ``propose`` and ``observe``. The rest of the project only calls
those, ``state`` and ``load_state``, and ``diagnostics`` where a strategy has
it; strategies work on token sequences of a ``SearchSpace`` and know nothing
of training. What they may know of it, a cheap check of a rule, the search
hands them as a ``Screen``.
"""

import abc
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Optional, Protocol

import numpy as np

from keras_nos.errors import KerasNosError
from keras_nos.search.strategies.options import StrategyOptions

if TYPE_CHECKING:
    from keras_nos.dsl.rule import Rule
    from keras_nos.search.space import SearchSpace


class Screen(Protocol):
    """The search's cheap check of a rule, milliseconds in NumPy, for a strategy that screens its proposals.

    The search builds it from the hurdles it runs before training (``keras_nos.search.screen.HurdleScreen``),
    so a strategy spends no budget on what the search would refuse, and imports nothing of training.
    """

    def passes(self, rule: "Rule") -> bool:
        """Whether the search would train ``rule``: False when it fails a hurdle or cannot run at all."""

    def score(self, rule: "Rule") -> float:
        """A graded cheap signal in [0, 1] (the share of the hurdles cleared), to learn from before any reward."""


class Strategy(abc.ABC):
    """Proposes token sequences of ``space`` and learns from their rewards.

    ``options`` is the strategy's ``options_class`` (its defaults when left out); ``screen`` is the search's
    cheap check, for a strategy that screens its proposals (None: nothing is screened). ``warm_start`` holds
    token sequences of ``space`` (``warm_start.warm_start_tokens``) that ``propose`` hands out first, in
    order, before anything of the strategy's own (``_propose``); the strategy learns from their rewards
    through ``observe``, as from any other. For a fixed ``seed`` a strategy is deterministic: the same
    observations give the same proposals.
    """

    name: ClassVar[str] = "base"
    options_class: ClassVar[type[StrategyOptions]] = StrategyOptions

    def __init__(self, space: "SearchSpace", seed: int = 0, *, options: Optional[StrategyOptions] = None,
                 screen: Optional[Screen] = None, warm_start: Sequence[Sequence[str]] = ()) -> None:
        options = self.options_class() if options is None else options
        if type(options) is not self.options_class:
            raise KerasNosError(f"Strategy {self.name!r} takes {self.options_class.__name__}; "
                                f"got {type(options).__name__}")
        self.space = space
        self.seed = int(seed)
        self.options = options
        self.screen = screen
        self.warm_start = [space.validate(tokens) for tokens in warm_start]
        self.warm_proposed = 0  # how many of ``warm_start`` were handed out: a resume does not propose them again
        self.rng = np.random.default_rng(self.seed)
        self._start_fresh()

    def _start_fresh(self) -> None:
        """Make the strategy's own state, as before any proposal, from ``self.options``: the constructor calls
        it, and ``load_state`` when the state's options differ, before the subclass loads its state."""

    def propose(self, n: int) -> list[list[str]]:
        """``n`` token sequences, each valid in ``self.space``: the warm start not yet proposed first, then the
        strategy's own (``_propose``)."""
        n = int(n)
        first = [list(tokens) for tokens in self.warm_start[self.warm_proposed:self.warm_proposed + max(n, 0)]]
        self.warm_proposed += len(first)
        return first + (self._propose(n - len(first)) if n > len(first) else [])

    @abc.abstractmethod
    def _propose(self, n: int) -> list[list[str]]:
        """``n`` (> 0) token sequences of the strategy's own, each valid in ``self.space``."""

    @abc.abstractmethod
    def observe(self, results: Iterable[tuple[Sequence[str], float]]) -> None:
        """Learn from ``(tokens, reward)`` pairs, reward a float in [0, 1]; any order, partial batches."""

    def diagnostics(self) -> dict[str, float]:
        """The strategy's own numbers after its last observation (``{name: float}``), logged as step metrics."""
        return {}

    def state(self) -> dict[str, Any]:
        """Everything needed to resume, picklable: Python types and NumPy arrays. The screen is not part of it:
        the search hands it again when it resumes."""
        return {"name": self.name, "seed": self.seed, "options": self.options.settings(),
                "rng": self.rng.bit_generator.state, "warm_start": [list(tokens) for tokens in self.warm_start],
                "warm_proposed": self.warm_proposed}

    def load_state(self, state: dict[str, Any]) -> None:
        """Resume from ``state()`` of a strategy of the same kind and space. The generator keeps its identity
        (its state is set in place), so the parts that draw from it need not be told."""
        if state.get("name") != self.name:
            raise KerasNosError(f"A state of strategy {state.get('name')!r} cannot be loaded into strategy {self.name!r}")
        missing = sorted({"seed", "options", "rng", "warm_start", "warm_proposed"} - state.keys())
        if missing:
            raise KerasNosError(f"This {self.name} checkpoint comes from an earlier keras_nos version (it lacks "
                                f"{', '.join(missing)}); it cannot be resumed: start a new search")
        options = self.options
        self.seed = state["seed"]
        self.options = self.options_class.from_settings(self.name, state["options"])
        self.rng.bit_generator.state = state["rng"]
        self.warm_start = [list(tokens) for tokens in state["warm_start"]]
        self.warm_proposed = state["warm_proposed"]
        if self.options != options:
            self._start_fresh()

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

    def __repr__(self) -> str:
        return f"{type(self).__name__}(space={self.space!r}, seed={self.seed})"
