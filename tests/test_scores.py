"""The rewards of network tasks: each score against Keras' own computation, and a regression task end to end."""

import dataclasses

import keras
import numpy as np
import pytest

from keras_nos.tasks import Evaluator, get_task
from keras_nos.tasks import result as statuses
from keras_nos.tasks.scores import SCORES, get_score, validation_scores


def _two_output_model(inputs, units, nan_second=True):
    good, bad = keras.layers.Dense(units), keras.layers.Dense(units)
    model = keras.Model(inputs, {"lr0": good(inputs), "lr1": bad(inputs)})
    if nan_second:
        bad.kernel.assign(np.full(bad.kernel.shape, np.nan, "float32"))
    return model


def test_log_loss_is_the_share_of_chance_cross_entropy_removed():
    x = np.random.default_rng(0).normal(size=(230, 6)).astype("float32")
    y = np.arange(230) % 3
    model = _two_output_model(keras.Input((6,)), 3)
    cross_entropy = float(keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y, model(x)["lr0"]))
    scores = validation_scores(model, x, y, get_score("log_loss"), chunk=100)
    assert scores["lr0"] == pytest.approx(max(0.0, 1 - cross_entropy / np.log(3)), abs=1e-5)
    assert np.isnan(scores["lr1"])


def test_r2_is_one_minus_mse_over_the_targets_variance_and_floored_at_zero():
    rng = np.random.default_rng(0)
    targets = rng.normal(size=(200, 4))
    score = get_score("r2")
    assert score.value(targets, targets) == pytest.approx(1.0)
    assert score.value(np.zeros_like(targets) + targets.mean(axis=0), targets) == pytest.approx(0.0, abs=1e-12)
    assert score.value(targets + rng.normal(scale=2.0, size=targets.shape), targets) == 0.0  # worse than the mean
    half = targets + rng.normal(scale=np.sqrt(0.5) * targets.std(), size=targets.shape)
    assert score.value(half, targets) == pytest.approx(0.5, abs=0.05)


def test_an_unknown_score_is_an_error_naming_it_and_the_allowed_ones():
    with pytest.raises(ValueError, match="'f1'.*accuracy, log_loss, r2"):
        dataclasses.replace(get_task("digits-mlp"), score="f1")
    assert set(SCORES) == {"accuracy", "log_loss", "r2"}


def test_a_regression_task_trains_on_mse_and_rewards_r2_and_a_stalled_rule_makes_no_progress():
    from keras_nos.tasks.registry import TASKS

    task = TASKS["digits-autoencoder"]
    assert task.score == "r2"
    evaluator = Evaluator(task, learning_rates=(1e-3, 1e-2), epochs=2, hurdles=())
    assert evaluator.num_outputs == 64
    adam = evaluator.evaluate("adam")
    assert adam.status == statuses.OK and 0.3 < adam.reward < 1.0
    assert len(adam.curves["0.01"]) == 2 and adam.curves["0.01"][1] >= adam.curves["0.01"][0]
    stalled = evaluator.evaluate("0*g")
    assert stalled.status == statuses.NO_PROGRESS and stalled.reward == 0.0


def test_each_task_names_its_reward_for_the_plots():
    """Figure 4's axis says what the reward is: R² on the default task, not accuracy."""
    assert get_task("digits-autoencoder").reward_label == "validation R²"
    assert get_task("digits-mlp").reward_label == "validation accuracy"
    assert "orders of magnitude" in get_task("rosenbrock").reward_label
