"""``random``: every proposal (after the warm start, if any) uniform over the space, slot by slot; rewards are ignored."""

from collections.abc import Iterable, Sequence

from keras_nos.search.strategies.base import Strategy


class RandomStrategy(Strategy):
    name = "random"

    def _propose(self, n: int) -> list[list[str]]:
        return [self.space.sample(self.rng) for _ in range(int(n))]

    def observe(self, results: Iterable[tuple[Sequence[str], float]]) -> None:
        self._results(results)
