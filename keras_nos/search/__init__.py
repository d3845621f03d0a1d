"""The search for update rules: settings, space, strategies, loops, funnel, leaderboard.

``keras_nos.search.search(...)`` runs a search, as ``keras-nos search`` does.
"""

from keras_nos.search.config import SearchConfig
from keras_nos.search.leaderboard import format_leaderboard, read_leaderboard
from keras_nos.search.loop import search
from keras_nos.search.space import SPACES, SearchSpace
from keras_nos.search.strategies import STRATEGIES, make_strategy

__all__ = ["SPACES", "STRATEGIES", "SearchConfig", "SearchSpace", "format_leaderboard", "make_strategy",
           "read_leaderboard", "search"]
