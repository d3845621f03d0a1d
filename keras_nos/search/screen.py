"""The screen the search hands its strategy: the cheap hurdles it runs before training a rule, on its grid.

A strategy knows nothing of training (``strategies/base.py``); this is what it may know of it. ``passes``
answers whether the search would train a rule, ``score`` grades a rule in [0, 1] by the same hurdles
(``tasks.hurdles.hurdle_score``), for a policy to learn from before any reward. Both take milliseconds in
NumPy. A search without hurdles passes every rule and scores each 0.
"""

from collections.abc import Sequence

from keras_nos.dsl.rule import Rule
from keras_nos.errors import KerasNosError
from keras_nos.tasks.hurdles import DEFAULT_HURDLES, HURDLES, check_hurdles, hurdle_score
from keras_nos.tasks.lr_search import DEFAULT_LEARNING_RATES


class HurdleScreen:
    """The hurdles ``names`` (of ``tasks.hurdles.HURDLES``) on ``learning_rates``: a ``strategies.Screen``."""

    def __init__(self, names: Sequence[str] = DEFAULT_HURDLES,
                 learning_rates: Sequence[float] = DEFAULT_LEARNING_RATES) -> None:
        unknown = [name for name in names if name not in HURDLES]
        if unknown:
            raise KerasNosError(f"Unknown hurdle {unknown[0]!r}; allowed: {', '.join(HURDLES)}")
        self.names = tuple(names)
        self.learning_rates = tuple(float(rate) for rate in learning_rates)

    def passes(self, rule: Rule) -> bool:
        """Whether ``rule`` clears every hurdle; a rule that cannot run fails."""
        try:
            return not self.names or check_hurdles(rule, self.learning_rates, self.names) is None
        except Exception:  # noqa: BLE001 - any failure of a rule is a rule the search would not train
            return False

    def score(self, rule: Rule) -> float:
        """``hurdle_score`` of ``rule``; 0 for one that cannot even run."""
        try:
            return hurdle_score(rule, self.learning_rates, self.names)
        except Exception:  # noqa: BLE001 - any failure of a sampled rule is simply a useless rule
            return 0.0

    def __repr__(self) -> str:
        return f"HurdleScreen({self.names!r}, {self.learning_rates!r})"
