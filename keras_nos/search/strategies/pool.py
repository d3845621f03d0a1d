"""The pools of observed rules that strategies draw parents from, each with its own checkpoint state.

``ElitePool`` keeps the best distinct rules by reward (rl replays them and varies them); ``AgingPopulation``
keeps the latest rules observed, whatever their reward (regularized evolution's population, where the oldest
member leaves, not the worst). Both hold ``(tokens, reward)`` members.
"""

from typing import TYPE_CHECKING, Any

import numpy as np

from keras_nos.dsl.fingerprint import fingerprint

if TYPE_CHECKING:
    from keras_nos.search.space import SearchSpace


def behaviour(space: "SearchSpace", tokens: list[str]) -> str:
    """The fingerprint of the rule ``tokens`` write: two token lists with the same one train the same."""
    return fingerprint(space.to_rule(tokens))


class ElitePool:
    """The ``size`` best rules observed with a positive reward, one per behaviour (fingerprint).

    A behaviour seen again keeps its better reward; when a new one joins a full pool the worst member leaves.
    Members keep the order in which their behaviour first joined.
    """

    def __init__(self, space: "SearchSpace", size: int) -> None:
        self.space, self.size = space, size
        self._members: dict[str, tuple[list[str], float]] = {}  # behaviour -> (tokens, reward)

    def offer(self, tokens: list[str], reward: float) -> None:
        """Keep ``tokens`` if its reward is positive and among the ``size`` best."""
        if self.size == 0 or reward <= 0:
            return
        key = behaviour(self.space, tokens)
        if key in self._members and self._members[key][1] >= reward:
            return
        self._members[key] = (list(tokens), float(reward))
        if len(self._members) > self.size:
            del self._members[min(self._members, key=lambda k: self._members[k][1])]

    def members(self) -> list[tuple[list[str], float]]:
        """``[(tokens, reward)]`` in the order their behaviours joined."""
        return list(self._members.values())

    def best_first(self) -> list[tuple[list[str], float]]:
        """``[(tokens, reward)]`` best first (the earlier joined first on ties)."""
        return sorted(self._members.values(), key=lambda member: -member[1])

    def __len__(self) -> int:
        return len(self._members)

    def state(self) -> list[tuple[str, list[str], float]]:
        return [(key, list(tokens), reward) for key, (tokens, reward) in self._members.items()]

    def load_state(self, state: list[tuple[str, list[str], float]]) -> None:
        self._members = {key: (list(tokens), float(reward)) for key, tokens, reward in state}


class AgingPopulation:
    """The last ``size`` rules observed, oldest first (aging, as in Real et al., 2019)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.members: list[tuple[list[str], float]] = []

    def add(self, tokens: list[str], reward: float) -> None:
        """Let ``tokens`` join; the oldest member leaves a full population."""
        self.members.append((list(tokens), float(reward)))
        if len(self.members) > self.size:
            self.members.pop(0)

    def tournament(self, rng: np.random.Generator, entrants: int) -> list[str]:
        """Tokens of the best of ``entrants`` random members (the earliest drawn on ties)."""
        k = min(entrants, len(self.members))
        drawn = rng.choice(len(self.members), size=k, replace=False)
        best = max(drawn, key=lambda i: self.members[i][1])
        return self.members[best][0]

    def __len__(self) -> int:
        return len(self.members)

    def state(self) -> list[tuple[list[str], float]]:
        return [(list(tokens), reward) for tokens, reward in self.members]

    def load_state(self, state: list[tuple[list[str], Any]]) -> None:
        self.members = [(list(tokens), float(reward)) for tokens, reward in state]
