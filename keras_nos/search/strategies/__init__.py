"""Search strategies: ``make_strategy(name, space, seed, screen=..., **options)``.

Every strategy is a ``Strategy`` (an abstract base): ``propose(n)``,
``observe(results)``, ``state()`` and ``load_state(state)``, with its options
as one frozen dataclass (``options_class``). The parts the learning
strategies are made of sit beside them: the pools of observed rules
(``pool.py``), the moves on token lists (``moves.py``, ``shrink.py``), the
proposal mixer (``mixer.py``) and the controller's policy (``policy.py``); and the warm start, the rules every strategy
proposes first (``warm_start.py``).
"""

from typing import TYPE_CHECKING, Any, Optional

from keras_nos.errors import KerasNosError
from keras_nos.search.strategies.base import Screen, Strategy
from keras_nos.search.strategies.evolution import EvolutionOptions, EvolutionStrategy
from keras_nos.search.strategies.options import StrategyOptions
from keras_nos.search.strategies.random_search import RandomStrategy
from keras_nos.search.strategies.rl import RLOptions, RLStrategy
from keras_nos.search.strategies.tpe import TPEOptions, TPEStrategy
from keras_nos.search.strategies.warm_start import WarmStart, warm_start_tokens

if TYPE_CHECKING:
    from keras_nos.search.space import SearchSpace

STRATEGIES = {
    RandomStrategy.name: RandomStrategy,
    EvolutionStrategy.name: EvolutionStrategy,
    TPEStrategy.name: TPEStrategy,
    RLStrategy.name: RLStrategy,
}


def strategy_options(name: str, settings: Optional[dict[str, Any]]) -> StrategyOptions:
    """The options of strategy ``name`` from flat ``{option: value}`` settings, checked (``KerasNosError``)."""
    if name not in STRATEGIES:
        raise KerasNosError(f"Unknown search strategy {name!r}; allowed: {', '.join(STRATEGIES)}")
    return STRATEGIES[name].options_class.from_settings(name, settings)


def make_strategy(name: str, space: "SearchSpace | str", seed: int = 0, *, screen: Optional[Screen] = None,
                  warm_start: WarmStart = None, **options: Any) -> Strategy:
    """The strategy ``name`` over ``space`` (a SearchSpace or a preset name such as 'paper'), with the
    search's ``screen``, its ``warm_start`` (None, ``"named"`` or rules: ``warm_start.py``) and ``options``
    given by name."""
    checked = strategy_options(name, options)
    if isinstance(space, str):
        from keras_nos.search.space import SearchSpace

        space = SearchSpace.preset(space)
    return STRATEGIES[name](space, seed=seed, options=checked, screen=screen,
                            warm_start=warm_start_tokens(space, warm_start))


__all__ = ["STRATEGIES", "EvolutionOptions", "EvolutionStrategy", "RLOptions", "RLStrategy", "RandomStrategy",
           "Screen", "Strategy", "StrategyOptions", "TPEOptions", "TPEStrategy", "make_strategy", "strategy_options",
           "warm_start_tokens"]
