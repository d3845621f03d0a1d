"""The settings of a search as config dataclasses: flat names in and out, checked once, no training."""

import json

import numpy as np

import pytest

from keras_nos.search import SearchConfig, search
from keras_nos.search.config import DEFAULTS, BudgetConfig, TaskConfig
from keras_nos.tasks.registry import get_task


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


def _config(**settings):
    return SearchConfig.from_settings(dict(settings, funnel_suite="none"))


def test_auto_keeps_a_cifar_convnet_rule_by_rule_without_a_gpu_and_batches_it_with_one(monkeypatch):
    from keras_nos.tasks.batched import eligibility

    images = np.zeros((4, 16, 16, 3), "float32")
    monkeypatch.setattr(eligibility, "gpu_present", lambda: False)
    assert _config(task="cifar10-pooled-b50", budget=500).with_evaluator(images).task.evaluator == "keras"
    assert _config(task="cifar10-convnet", budget=500).with_evaluator(images).task.evaluator == "keras"
    assert _config(task="digits-mlp", budget=500).with_evaluator(images[:, 0, 0]).task.evaluator == "batched"
    asked = _config(task="cifar10-pooled-b50", budget=500, evaluator="batched").with_evaluator(images)
    assert asked.task.evaluator == "batched"  # asked for, it is used
    monkeypatch.setattr(eligibility, "gpu_present", lambda: True)
    assert _config(task="cifar10-pooled-b50", budget=500).with_evaluator(images).task.evaluator == "batched"


def test_auto_picks_the_batched_evaluator_for_a_network_task_on_arrays_from_a_budget_of_50():
    digits = np.zeros((4, 64), "float32")
    assert _config(task="digits-mlp", budget=50).with_evaluator(digits).task.evaluator == "batched"
    assert _config(task="digits-mlp", budget=49).with_evaluator(digits).task.evaluator == "keras"
    assert _config(task="rosenbrock", budget=500).with_evaluator(None).task.evaluator == "keras"
    assert _config(task="digits-mlp", budget=500, reward_seeds=2).with_evaluator(digits).task.evaluator == "keras"
    assert _config(task="digits-mlp", budget=500).with_evaluator([digits, digits]).task.evaluator == "keras"
    own = get_task("digits-mlp")  # the same task given as a Task object: a user's own, batched when asked
    assert _config(task=own, budget=500).with_evaluator(digits).task.evaluator == "keras"
    assert _config(task=own, budget=500, evaluator="batched").with_evaluator(digits).task.evaluator == "batched"
    batched = _config(task="digits-mlp", budget=500, space="small").with_evaluator(digits)
    assert batched.evaluator_options()["evaluator"] == "batched"
    assert batched.evaluator_options()["num_groups"] == batched.strategy.search_space().num_groups


def test_asking_for_the_batched_evaluator_where_it_cannot_train_names_why_and_the_way_out():
    with pytest.raises(ValueError, match="rosenbrock' minimises a function in NumPy.*use evaluator='keras'"):
        _config(task="rosenbrock", evaluator="batched").with_evaluator(None)
    with pytest.raises(ValueError, match="inputs as a list; the batched trainer takes one NumPy array"):
        _config(task="digits-mlp", evaluator="batched").with_evaluator([np.zeros(3)])
    with pytest.raises(ValueError, match="Unknown evaluator 'fast'; allowed: auto, batched, keras"):
        TaskConfig(name="synthetic", evaluator="fast")
    keras = _config(task="digits-mlp", budget=500, evaluator="keras").with_evaluator(np.zeros((4, 64)))
    assert keras.task.evaluator == "keras" and "num_groups" not in keras.evaluator_options()


def test_a_search_that_asks_for_the_batched_evaluator_where_it_cannot_train_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default store would be ./mlruns
    with pytest.raises(ValueError, match="evaluator='batched' cannot train"):
        search(task="rosenbrock", evaluator="batched", progress=False)
    assert list(tmp_path.iterdir()) == []
