"""``evolution``: regularized evolution (Real et al., 2019), as in Lion's search.

A population of the last ``population_size`` observed sequences (``pool.AgingPopulation``). Each child is a
mutation (``moves.mutate``) of the best of ``tournament_size`` members drawn at random; every observation
joins the population and the oldest member leaves it (aging, not the worst). Until ``population_size``
sequences have been proposed, proposals are the ``seed_rules`` (known optimizers, in order) and then uniform
samples.
"""

import dataclasses
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from keras_nos.dsl.tokens import rule_to_tokens
from keras_nos.search.strategies.base import Strategy
from keras_nos.search.strategies.moves import mutate, pad_tokens
from keras_nos.search.strategies.options import StrategyOptions, option
from keras_nos.search.strategies.pool import AgingPopulation

if TYPE_CHECKING:
    from keras_nos.dsl.rule import Rule
    from keras_nos.search.space import SearchSpace


@dataclasses.dataclass(frozen=True, kw_only=True)
class EvolutionOptions(StrategyOptions):
    """population_size: members kept; tournament_size: members drawn to pick a parent; max_mutations: slots a
    child changes at most; seed_rules: rule texts (or Rules) proposed first."""

    population_size: int = option(20, least=1)
    tournament_size: int = option(5, least=1)
    max_mutations: int = option(2, least=1)
    seed_rules: tuple[str, ...] = option(())


def seed_tokens(space: "SearchSpace", rules: "Iterable[str | Rule]") -> list[list[str]]:
    """Token lists of ``rules`` (texts or Rules) that ``space`` can express, padded to its group count.

    A rule the space cannot express (an operand it lacks, too many groups, a
    padding group whose ``left`` binary or ``identity`` unary it lacks) is skipped.
    """
    expressed = []
    for rule in rules:
        try:
            tokens = rule_to_tokens(rule)
        except ValueError:
            continue
        if len(tokens) > space.sequence_length:
            continue
        tokens = pad_tokens(tokens, space.num_groups)
        if space.is_valid(tokens):
            expressed.append(tokens)
    return expressed


class EvolutionStrategy(Strategy):
    name = "evolution"
    options_class = EvolutionOptions
    options: EvolutionOptions

    def _start_fresh(self) -> None:
        self.seeds = seed_tokens(self.space, self.options.seed_rules)
        self.population = AgingPopulation(self.options.population_size)
        self.num_proposed = 0

    def propose(self, n: int) -> list[list[str]]:
        proposals = []
        for _ in range(int(n)):
            size = self.options.population_size
            if self.num_proposed < len(self.seeds) and self.num_proposed < size:
                child = list(self.seeds[self.num_proposed])
            elif self.num_proposed < size or not self.population:
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
