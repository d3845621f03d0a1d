"""Search strategies: ``make_strategy(name, space, seed, **options)``.

Every strategy is a ``Strategy`` (an abstract base): ``propose(n)``,
``observe(results)``, ``state()`` and ``load_state(state)``.
"""

from typing import TYPE_CHECKING

from keras_nos.errors import KerasNosError
from keras_nos.search.strategies.base import Strategy
from keras_nos.search.strategies.evolution import EvolutionStrategy
from keras_nos.search.strategies.random_search import RandomStrategy
from keras_nos.search.strategies.rl import RLStrategy
from keras_nos.search.strategies.tpe import TPEStrategy

if TYPE_CHECKING:
    from keras_nos.search.space import SearchSpace

STRATEGIES = {
    RandomStrategy.name: RandomStrategy,
    EvolutionStrategy.name: EvolutionStrategy,
    TPEStrategy.name: TPEStrategy,
    RLStrategy.name: RLStrategy,
}


def make_strategy(name: str, space: "SearchSpace | str", seed: int = 0, **options) -> Strategy:
    """The strategy ``name`` over ``space`` (a SearchSpace or a preset name such as 'paper')."""
    if name not in STRATEGIES:
        raise KerasNosError(f"Unknown search strategy {name!r}; allowed: {', '.join(STRATEGIES)}")
    if isinstance(space, str):
        from keras_nos.search.space import SearchSpace

        space = SearchSpace.preset(space)
    return STRATEGIES[name](space, seed=seed, **options)


__all__ = ["STRATEGIES", "EvolutionStrategy", "RLStrategy", "RandomStrategy", "Strategy", "TPEStrategy", "make_strategy"]
