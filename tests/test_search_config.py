"""The settings of a search as config dataclasses: flat names in and out, checked once, no training."""

import json

import pytest

from keras_nos.search import SearchConfig, search
from keras_nos.search.config import DEFAULTS, BudgetConfig, TaskConfig


def test_flat_settings_round_trip_through_the_groups_as_json_reads_them_back():
    config = SearchConfig.from_settings({"task": "synthetic", "budget": 7, "learning_rates": [0.01, 0.1],
                                         "strategy_options": {"pretrain_samples": 20}, "funnel_suite": "none"})
    assert (config.task.name, config.budget.candidates, config.task.learning_rates) == ("synthetic", 7, (0.01, 0.1))
    assert config.strategy.options == {"pretrain_samples": 20} and config.funnel.suite_names() is None
    stored = json.loads(json.dumps(config.settings()))  # what a parent run's tag holds
    assert SearchConfig.from_settings(stored) == config and set(stored) == set(DEFAULTS)


def test_each_group_checks_its_settings_when_it_is_made():
    with pytest.raises(ValueError, match="budget must be a whole number of candidates >= 1, got 0"):
        BudgetConfig(candidates=0)
    with pytest.raises(ValueError, match="reward_seeds must be a whole number >= 1"):
        TaskConfig(name="synthetic", reward_seeds=0)
    with pytest.raises(TypeError, match="unexpected settings: bogus"):
        SearchConfig.from_settings({"bogus": 1})


def test_search_takes_a_config_with_keywords_over_it():
    config = SearchConfig(task=TaskConfig(name="synthetic"), budget=BudgetConfig(candidates=3))
    with pytest.raises(ValueError, match="got 0"):  # the keyword wins, and is checked before anything runs
        search(config, budget=0)
