"""The search for update rules: space, strategies, loop, MLflow tracking, leaderboard."""

from keras_nos.search.leaderboard import format_leaderboard, read_leaderboard
from keras_nos.search.loop import search
from keras_nos.search.space import SPACES, SearchSpace
from keras_nos.search.strategies import STRATEGIES, make_strategy

__all__ = ["SPACES", "STRATEGIES", "SearchSpace", "format_leaderboard", "make_strategy", "read_leaderboard", "search"]
