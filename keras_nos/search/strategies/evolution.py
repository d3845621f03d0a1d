"""``evolution``: regularized evolution (Real et al., 2019), as in Lion's search.

A population of the last ``population_size`` observed sequences (``pool.AgingPopulation``). Each child is a
mutation (``moves.mutate``) of the best of ``tournament_size`` members drawn at random; every observation
joins the population and the oldest member leaves it (aging, not the worst). The population starts from the
search's warm start (``Strategy(warm_start=...)``: known optimizers, proposed first, as Lion's search started
from AdamW), filled up to ``population_size`` proposals with uniform samples.
"""

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

from keras_nos.search.strategies.base import Strategy
from keras_nos.search.strategies.moves import mutate
from keras_nos.search.strategies.options import StrategyOptions, option
from keras_nos.search.strategies.pool import AgingPopulation


@dataclasses.dataclass(frozen=True, kw_only=True)
class EvolutionOptions(StrategyOptions):
    """population_size: members kept; tournament_size: members drawn to pick a parent; max_mutations: slots a
    child changes at most."""

    population_size: int = option(20, least=1)
    tournament_size: int = option(5, least=1)
    max_mutations: int = option(2, least=1)


class EvolutionStrategy(Strategy):
    name = "evolution"
    options_class = EvolutionOptions
    options: EvolutionOptions

    def _start_fresh(self) -> None:
        self.population = AgingPopulation(self.options.population_size)
        self.num_proposed = 0

    def _propose(self, n: int) -> list[list[str]]:
        proposals = []
        for _ in range(int(n)):
            if self.warm_proposed + self.num_proposed < self.options.population_size or not self.population:
                child = self.space.sample(self.rng)
            else:
                child = self.mutate(self.population.tournament(self.rng, self.options.tournament_size))
            self.num_proposed += 1
            proposals.append(child)
        return proposals

    def mutate(self, parent: list[str]) -> list[str]:
        """A child of ``parent`` (``moves.mutate``, up to ``max_mutations`` slots)."""
        return mutate(self.space, parent, self.rng, self.options.max_mutations)

    def observe(self, results: Iterable[tuple[Sequence[str], float]]) -> None:
        for tokens, reward in self._results(results):
            self.population.add(tokens, reward)

    def state(self) -> dict[str, Any]:
        return {**super().state(), "population": self.population.state(), "num_proposed": self.num_proposed}

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        self.population.load_state(state["population"])
        self.num_proposed = state["num_proposed"]
