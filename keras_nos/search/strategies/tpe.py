"""``tpe``: Optuna's TPE sampler over the token slots.

Every slot with more than one valid choice is a categorical parameter, asked
define-by-run in order with ``trial.suggest_categorical`` over the valid
choices only. A slot's valid choices depend on earlier slots, and Optuna needs
one choice set per parameter name, so the name is the position when every
token of the slot is valid (``p07``) and the position plus the choice set when
the masking narrowed it (``p09[add,mul,sub]``). A slot with one valid choice
is filled without a parameter.

The strategy keeps the history of observed ``(tokens, reward)`` pairs and,
for each ``propose``, rebuilds an in-memory study
(``optuna.create_study(direction="maximize")``) from it with
``study.add_trial(optuna.trial.create_trial(...))`` and asks it ``n`` times,
with a ``TPESampler`` seeded from ``seed`` and the number of sequences proposed
so far. Proposals therefore depend only on the seed and the history: results
may arrive in any order, and ``state()`` is just the history and counters.

A warm start (``Strategy(warm_start=...)``) is what Optuna's ``study.enqueue_trial`` gives a study: those
parameters are tried first, then they are trials of the history that every later study is rebuilt from.
"""

import dataclasses
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import optuna

from keras_nos.search.strategies.base import Strategy
from keras_nos.search.strategies.options import StrategyOptions, option


@dataclasses.dataclass(frozen=True, kw_only=True)
class TPEOptions(StrategyOptions):
    """The ``optuna.samplers.TPESampler`` arguments of the same names."""

    n_startup_trials: int = option(10, least=0)
    n_ei_candidates: int = option(24, least=1)
    multivariate: bool = option(False)
    constant_liar: bool = option(True)


class TPEStrategy(Strategy):
    name = "tpe"
    options_class = TPEOptions
    options: TPEOptions

    def _start_fresh(self) -> None:
        self.history = []  # [(tokens, reward)] in the order observed
        self.num_proposed = 0

    # -- parameters of a sequence ---------------------------------------------------

    def _param(self, position, choices):
        """(name, distribution) of a slot with more than one valid choice."""
        if list(choices) == self.space.choices(position):
            name = f"p{position:02d}"
        else:
            name = f"p{position:02d}[{','.join(choices)}]"
        return name, optuna.distributions.CategoricalDistribution(list(choices))

    def _params_of(self, tokens):
        params, distributions = {}, {}
        for position, token in enumerate(tokens):
            choices = self.space.choices(position, tokens[:position])
            if len(choices) > 1:
                name, distribution = self._param(position, choices)
                params[name] = token
                distributions[name] = distribution
        return params, distributions

    def _study(self):
        sampler = optuna.samplers.TPESampler(
            seed=int(np.random.SeedSequence([self.seed, self.num_proposed]).generate_state(1)[0]),
            n_startup_trials=self.options.n_startup_trials,
            n_ei_candidates=self.options.n_ei_candidates,
            multivariate=self.options.multivariate,
            constant_liar=self.options.constant_liar,
        )
        study = optuna.create_study(direction="maximize", sampler=sampler)
        for tokens, reward in self.history:
            params, distributions = self._params_of(tokens)
            study.add_trial(optuna.trial.create_trial(params=params, distributions=distributions, value=reward))
        return study

    # -- strategy ---------------------------------------------------------------------

    def _propose(self, n: int) -> list[list[str]]:
        if int(n) <= 0:
            return []
        verbosity = optuna.logging.get_verbosity()
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                study = self._study()
                proposals = []
                for _ in range(int(n)):
                    trial = study.ask()
                    tokens = []
                    for position in range(self.space.sequence_length):
                        choices = self.space.choices(position, tokens)
                        if len(choices) == 1:
                            tokens.append(choices[0])
                        else:
                            name, _ = self._param(position, choices)
                            tokens.append(trial.suggest_categorical(name, choices))
                    proposals.append(tokens)
        finally:
            optuna.logging.set_verbosity(verbosity)
        self.num_proposed += len(proposals)
        return proposals

    def observe(self, results: Iterable[tuple[Sequence[str], float]]) -> None:
        for tokens, reward in self._results(results):
            self.space.validate(tokens)
            self.history.append((tokens, reward))

    def state(self) -> dict[str, Any]:
        return {**super().state(), "history": [(list(t), r) for t, r in self.history], "num_proposed": self.num_proposed}

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        self.history = [(list(t), float(r)) for t, r in state["history"]]
        self.num_proposed = state["num_proposed"]
