"""``random``: every proposal uniform over the space, slot by slot; rewards are ignored."""

from keras_nos.search.strategies.base import Strategy


class RandomStrategy(Strategy):
    name = "random"
    defaults = {}

    def propose(self, n):
        return [self.space.sample(self.rng) for _ in range(int(n))]

    def observe(self, results):
        self._results(results)
