"""A batch of proposals mixed from a policy's samples and the children of the best rules so far.

A share ``mutation_share`` of each batch are children of an ``ElitePool``: first the untried shrunk variants
of the elites, best elite first (``shrink.py``), then mutations (``moves.mutate``, 1 to ``max_mutations``
slots) of elites drawn with the probability the policy gives them, as in the RNN-seeded genetic programming
of Mundhenk et al. (NeurIPS 2021). The rest are the policy's own samples. Every proposal is new: one whose
behaviour (fingerprint) was proposed before is mutated, up to ``novelty_tries`` times. With a screen, a
proposal it refuses is drawn again, up to ``screen_tries`` times; the last draw is kept whatever it does.
"""

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Optional

import numpy as np

from keras_nos.search.strategies.base import Screen
from keras_nos.search.strategies.moves import mutate
from keras_nos.search.strategies.options import StrategyOptions, option
from keras_nos.search.strategies.pool import ElitePool, behaviour
from keras_nos.search.strategies.shrink import shrunk_variants

if TYPE_CHECKING:
    from keras_nos.search.space import SearchSpace


@dataclasses.dataclass(frozen=True, kw_only=True)
class MixerOptions(StrategyOptions):
    """How a ``ProposalMixer`` mixes a batch: see the module's docstring."""

    mutation_share: float = option(0.5, least=0, most=1)
    max_mutations: int = option(2, least=1)
    shrink: bool = option(True)
    novelty_tries: int = option(10, least=0)
    screen_tries: int = option(10, least=0)


class ProposalMixer:
    """Mixes ``sample(k)`` (k sequences of the policy) with children of ``elites``, parents drawn by
    ``preference(parents)`` (the policy's log-probability of each); draws from ``rng`` and screens with
    ``screen`` (None: nothing is screened). Its state is every behaviour proposed and the count screened out."""

    def __init__(self, space: "SearchSpace", rng: np.random.Generator, elites: ElitePool, options: MixerOptions, *,
                 sample: Callable[[int], list[list[str]]], preference: Callable[[list[list[str]]], np.ndarray],
                 screen: Optional[Screen] = None) -> None:
        self.space, self.rng, self.elites, self.options = space, rng, elites, options
        self.sample, self.preference, self.screen = sample, preference, screen
        self.seen: set[str] = set()  # behaviours of every draw, screened-out ones too: they are known to fail
        self.screened_out = 0  # draws made again because the screen refused them

    def propose(self, n: int) -> list[list[str]]:
        """``n`` new sequences: the policy's samples first, then the children of the elites."""
        children = round(self.options.mutation_share * n) if len(self.elites) else 0
        return self._fill(n - children, self.sample) + self._fill(children, self._children)

    def _children(self, count):
        shrunk = self._untried_shrunk_variants(count) if self.options.shrink else []
        return shrunk + self._mutations_of_elites(count - len(shrunk))

    def _mutations_of_elites(self, count):
        """``count`` mutations of elites, each parent drawn with the probability the policy gives it among them:
        the policy chooses which of the best rules so far to vary."""
        if count == 0:
            return []
        parents = [tokens for tokens, _ in self.elites.members()]
        preference = self.preference(parents)
        weights = np.exp(preference - preference.max())
        drawn = self.rng.choice(len(parents), size=count, p=weights / weights.sum())
        return [mutate(self.space, parents[i], self.rng, self.options.max_mutations) for i in drawn]

    def _untried_shrunk_variants(self, count):
        """Up to ``count`` shrunk variants of the elites, best elite first, whose behaviour is new."""
        chosen = []
        for tokens, _ in self.elites.best_first():
            for variant in shrunk_variants(self.space, tokens):
                if len(chosen) == count:
                    return chosen
                if behaviour(self.space, variant) not in self.seen:
                    chosen.append(variant)
        return chosen

    def _novel(self, tokens):
        """``tokens``, mutated up to ``novelty_tries`` times until its behaviour is new; and its behaviour."""
        key = behaviour(self.space, tokens)
        for _ in range(self.options.novelty_tries):
            if key not in self.seen:
                break
            tokens = mutate(self.space, tokens, self.rng, self.options.max_mutations)
            key = behaviour(self.space, tokens)
        return tokens, key

    def _fill(self, count, draw):
        """``count`` novel proposals from ``draw(k)``, each the screen refuses drawn again up to ``screen_tries``
        times (the last draw is kept whatever it does)."""
        accepted = []
        for attempt in range(self.options.screen_tries + 1):
            if len(accepted) == count:
                break
            for tokens in draw(count - len(accepted)):
                tokens, key = self._novel(tokens)
                self.seen.add(key)
                if attempt == self.options.screen_tries or self._passes(tokens):
                    accepted.append(tokens)
                else:
                    self.screened_out += 1
        return accepted

    def _passes(self, tokens):
        return self.screen is None or self.screen.passes(self.space.to_rule(tokens))

    def state(self) -> dict[str, Any]:
        return {"seen": sorted(self.seen), "screened_out": self.screened_out}

    def load_state(self, state: dict[str, Any]) -> None:
        self.seen, self.screened_out = set(state["seen"]), state["screened_out"]
