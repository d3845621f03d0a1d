"""The search for update rules: settings, space, strategies, loops, funnel, leaderboard.

``keras_nos.search(...)`` runs a search: this package is callable, so the
Python API reads like the command (``keras-nos search``) while
``keras_nos.search.SearchSpace`` and friends stay where they are.
"""

import sys
import types

from keras_nos.search.config import SearchConfig
from keras_nos.search.leaderboard import format_leaderboard, read_leaderboard
from keras_nos.search.loop import search
from keras_nos.search.space import SPACES, SearchSpace
from keras_nos.search.strategies import STRATEGIES, make_strategy

__all__ = ["SPACES", "STRATEGIES", "SearchConfig", "SearchSpace", "format_leaderboard", "make_strategy",
           "read_leaderboard", "search"]


class _CallablePackage(types.ModuleType):
    def __call__(self, *args, **kwargs):
        return search(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
