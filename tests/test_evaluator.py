"""The evaluator: rewards that rank rules, statuses for bad candidates, the fused learning-rate grid.

Small on purpose (the synthetic and digits tasks, one or two epochs, three or
four learning rates): every test trains for a second or two.
"""

import dataclasses
import time

import keras
import numpy as np
import pytest
from keras import ops

from keras_nos.dsl.parser import parse_rule
from keras_nos.optimizers.rule_optimizer import RuleOptimizer
from keras_nos.tasks import STATUSES, Evaluator, get_task
from keras_nos.tasks import numpy_stepper
from keras_nos.tasks import result as statuses
from keras_nos.tasks.evaluator import DEFAULT_LEARNING_RATES
from keras_nos.tasks.scores import get_score, validation_scores
from keras_nos.tasks import hurdles
from keras_nos.tasks.hurdles import check_hurdles, run_hurdles

GOOD_RULES = ("adam", "m", "exp(sign(g)*sign(m))*g", "(1 + sign(g)*sign(m))*g")  # adam, momentum, PowerSign, AddSign
BAD_RULES = ("-g", "exp(g)", "g^2")
GRID = (1e-3, 1e-2, 1e-1, 1.0)


@pytest.fixture(scope="module")
def digits():
    """digits-mlp for one epoch, hurdles on (the default)."""
    return Evaluator("digits-mlp", learning_rates=GRID, epochs=1)


@pytest.fixture(scope="module")
def digits_no_hurdles():
    return Evaluator("digits-mlp", learning_rates=GRID, epochs=1, hurdles=())


@pytest.fixture(scope="module")
def good_results(digits):
    return {rule: digits.evaluate(rule) for rule in GOOD_RULES}


# ------------------------------------------------------------------------------------------------ ranking


def test_good_rules_pass_the_hurdle_and_train(good_results):
    for rule, result in good_results.items():
        assert check_hurdles(parse_rule(rule), GRID) is None, rule
        assert result.status == statuses.OK, (rule, result)
        assert result.reward > 0.6, (rule, result.reward)
        assert result.best_learning_rate in GRID
        assert result.steps_trained > 0 and result.message == ""


def test_good_rules_beat_bad_rules_with_hurdles(digits, good_results):
    for rule in BAD_RULES:
        started = time.perf_counter()
        result = digits.evaluate(rule)
        assert result.status == statuses.FAILED_HURDLE, (rule, result)
        assert result.reward == 0.0 and result.steps_trained == 0
        assert "quadratic hurdle" in result.message
        assert time.perf_counter() - started < 0.5  # no network was built
    assert min(r.reward for r in good_results.values()) > 0.6


def test_good_rules_beat_bad_rules_judged_by_training(digits_no_hurdles, good_results):
    # good rules pass the hurdle, so with hurdles off they train exactly as above; bad ones now train too
    bad = {rule: digits_no_hurdles.evaluate(rule) for rule in BAD_RULES}
    for rule, result in bad.items():
        assert result.status in (statuses.DIVERGED, statuses.NO_PROGRESS), (rule, result)
        assert result.steps_trained > 0
    worst_good = min(r.reward for r in good_results.values())
    best_bad = max(r.reward for r in bad.values())
    assert worst_good > best_bad + 0.4, (good_results, bad)


# ------------------------------------------------------------------------------------------------ statuses


@pytest.mark.parametrize("rule", ["g*1e6", "exp(exp(g))"])
def test_diverging_rules_stop_early(rule):
    evaluator = Evaluator("synthetic", learning_rates=(1.0, 10.0), epochs=3, hurdles=())
    budget = evaluator.epochs * evaluator.steps_per_epoch
    result = evaluator.evaluate(rule)
    assert result.status == statuses.DIVERGED, result
    assert result.reward == 0.0 and result.best_learning_rate is None
    assert set(result.lr_status.values()) == {statuses.DIVERGED}
    assert result.steps_trained <= budget // 3, (result.steps_trained, budget)


@pytest.mark.parametrize("rule", ["0*g", "clip(g, 1e-5)"])
def test_rules_that_do_not_move_make_no_progress(rule):
    evaluator = Evaluator("synthetic", learning_rates=(1e-6, 1e-5), epochs=3, hurdles=())
    result = evaluator.evaluate(rule)
    assert result.status == statuses.NO_PROGRESS, result
    assert result.reward == 0.0
    assert result.steps_trained == evaluator.no_progress_steps < evaluator.epochs * evaluator.steps_per_epoch


def test_a_failing_model_is_an_error_result():
    def build_model(input_shape, num_classes, name=None):
        raise RuntimeError("no model today")

    task = dataclasses.replace(get_task("synthetic"), name="broken", build_model=build_model)
    result = Evaluator(task, learning_rates=(0.1,), epochs=1, hurdles=()).evaluate("adam")
    assert result.status == statuses.ERROR
    assert result.message == "RuntimeError: no model today"
    assert result.rule == "adam" and result.fingerprint and result.reward == 0.0


def test_a_rule_that_raises_while_training_is_an_error_result(monkeypatch):
    def update_step(self, gradient, variable, learning_rate):
        raise FloatingPointError("rule blew up")

    monkeypatch.setattr(RuleOptimizer, "update_step", update_step)
    result = Evaluator("synthetic", learning_rates=(0.1,), epochs=1, hurdles=()).evaluate("m")
    assert result.status == statuses.ERROR
    assert "FloatingPointError: rule blew up" in result.message


def test_unparsable_rule_is_an_error_result():
    result = Evaluator("synthetic", epochs=1).evaluate("exp(g")
    assert result.status == statuses.ERROR and result.rule == "exp(g"
    assert "parenthes" in result.message.lower()
    assert result.status in STATUSES


def test_hurdle_path_costs_milliseconds():
    evaluator = Evaluator("synthetic", epochs=1)
    evaluator.evaluate("adam")  # a model was built and cleared: the next hurdle failure must not pay for that
    evaluator.evaluate("exp(g)")
    started = time.perf_counter()
    for _ in range(5):
        assert evaluator.evaluate("exp(g)").status == statuses.FAILED_HURDLE
    assert (time.perf_counter() - started) / 5 < 0.1


def test_hurdles_judge_rules_at_a_network_gradient_scale():
    # Table 3's m*exp(v) overflows on a quadratic with gradients of 1 to 100, yet trains networks well
    for text in ("m*exp(v)", "m*exp(g^2)", "adam*exp(m)", "drop(rmsprop, 0.3) - drop(-y*drop(2, 0.5), 0.1)"):
        assert check_hurdles(parse_rule(text), GRID) is None, text
    # shrinking the weights is not minimising: the quadratic's optimum is not at the origin
    assert "quadratic hurdle" in check_hurdles(parse_rule("1e-3*w"), GRID)


def test_mlp_hurdle_gradients_are_the_networks():
    value_and_grad, start = hurdles.mlp_classification()
    w = np.stack([start, start + 0.05 * np.random.default_rng(1).normal(size=start.shape)])
    loss, grad = value_and_grad(w)
    for i in (0, 100, 260, 300, 335):  # first kernel, first bias, second kernel, second bias
        step = np.zeros_like(w)
        step[:, i] = 1e-6
        numeric = (value_and_grad(w + step)[0] - value_and_grad(w - step)[0]) / 2e-6
        np.testing.assert_allclose(grad[:, i], numeric, rtol=1e-4, atol=1e-9)


def test_mlp_hurdle_rejects_a_rule_that_only_minimises_convex_losses():
    # Trained on digits-mlp it reached 0.44 (evaluator_cost.py, seed 0), far below adam-like rules' 0.94
    text = "drop(drop(y, 0.1), 0.5) - -y"
    assert check_hurdles(parse_rule(text), GRID, names=("quadratic", "softmax")) is None
    assert "failed the mlp hurdle" in check_hurdles(parse_rule(text), GRID)


def test_the_network_hurdle_vetoes_learning_rates_and_adds_none():
    grid = tuple(10.0**k for k in range(-5, 2))
    for text in ("adam", "sign(g)", "drop(sign(m), 0.5)"):
        rule = parse_rule(text)
        convex = run_hurdles(rule, grid, names=("quadratic", "softmax")).promising
        network = run_hurdles(rule, grid, names=("mlp",)).promising
        assert run_hurdles(rule, grid).promising == [a and b for a, b in zip(convex, network)], text
    adam, sign = parse_rule("adam"), parse_rule("sign(g)")
    # adam at 1e-4 moves only the network's loss; sign(g) at 1 moves only the convex ones
    assert run_hurdles(adam, grid, names=("mlp",)).promising[1] and not run_hurdles(adam, grid).promising[1]
    assert run_hurdles(sign, grid, names=("quadratic", "softmax")).promising[5]
    assert not run_hurdles(sign, grid).promising[5]


def test_no_tensorflow_state_survives_an_evaluation():
    """Keras' TF optimizer registered a gradient function per train step, holding its graph forever (a leak)."""
    from tensorflow.python.framework import ops as tf_ops

    registry = getattr(getattr(tf_ops, "_gradient_registry", None), "_registry", None)
    if registry is None:
        pytest.skip("TensorFlow's gradient registry moved")
    evaluator = Evaluator("synthetic", learning_rates=(0.1,), epochs=1, hurdles=())
    evaluator.evaluate("adam")
    size = len(registry)
    for rule in ("m", "exp(sign(g)*sign(m))*g"):
        evaluator.evaluate(rule)
    assert len(registry) == size


# ------------------------------------------------------------------------------------------------ grid and seeds


def test_same_rule_same_reward(digits, good_results):
    rule = "exp(sign(g)*sign(m))*g"
    digits.evaluate("adam")  # something else in between
    again = digits.evaluate(rule)
    assert again.reward == good_results[rule].reward
    assert again.curves == good_results[rule].curves
    assert again.best_learning_rate == good_results[rule].best_learning_rate


@pytest.mark.parametrize("rule", ["m", "drop(m, 0.5)"])  # drop(): copy k must draw what a lone run draws
def test_each_copy_trains_as_its_own_run(rule):
    """Copy k of the fused grid is exactly a one-copy evaluation at its learning rate."""
    grid = (1e-3, 1e-2, 1e-1)
    fused = Evaluator("synthetic", learning_rates=grid, epochs=2, hurdles=(), early_stop=False).evaluate(rule)
    curves = [fused.curves[f"{lr:g}"] for lr in grid]
    assert len({tuple(c) for c in curves}) == len(grid)  # the learning rates really differ
    for lr in (1e-2, 1e-1):  # copies 1 and 2, not the first copy built
        single = Evaluator("synthetic", learning_rates=(lr,), epochs=2, hurdles=(), early_stop=False).evaluate(rule)
        assert single.status == statuses.OK
        np.testing.assert_allclose(single.curves[f"{lr:g}"], fused.curves[f"{lr:g}"], rtol=0, atol=1e-6)


def test_an_unfused_grid_gives_the_same_rewards_and_stops_a_diverging_rate_at_once():
    grid = (1e-2, 1e-1, 100.0)  # momentum at 100 blows up within a few steps
    fused = Evaluator("synthetic", learning_rates=grid, epochs=3, hurdles=()).evaluate("m")
    apart = Evaluator("synthetic", learning_rates=grid, epochs=3, hurdles=(), fuse_grid=False).evaluate("m")
    assert fused.lr_status == apart.lr_status == {"0.01": "ok", "0.1": "ok", "100": "diverged"}
    assert (apart.reward, apart.best_learning_rate) == (fused.reward, fused.best_learning_rate)
    for lr in ("0.01", "0.1"):
        np.testing.assert_allclose(apart.curves[lr], fused.curves[lr], rtol=0, atol=1e-6)
    full = fused.steps_trained  # the fused grid carried the diverged copy to the end
    assert 2 * full < apart.steps_trained < 2 * full + full // 2


def test_hurdles_rule_out_hopeless_learning_rates_and_the_reward_stays():
    rule = "drop(sign(m), 0.3)"  # the hurdles skip 1e-4 (0.255 trained, chance); the best, 0.01, reaches 1.0
    pruned = Evaluator("synthetic", epochs=1).evaluate(rule)
    every = Evaluator("synthetic", epochs=1, prune_learning_rates=False).evaluate(rule)
    skipped = [lr for lr, status in pruned.lr_status.items() if status == statuses.FAILED_HURDLE]
    assert skipped and len(pruned.lr_status) == len(every.lr_status) == len(DEFAULT_LEARNING_RATES)
    assert set(pruned.curves) == set(every.curves) - set(skipped)
    for lr, curve in pruned.curves.items():
        np.testing.assert_allclose(curve, every.curves[lr], rtol=0, atol=1e-6)
    assert (pruned.reward, pruned.best_learning_rate) == (every.reward, every.best_learning_rate)


def test_validation_accuracy_is_what_keras_evaluate_reports_and_nan_when_logits_are_not():
    """The eager validation pass (no traced test step) scores each copy as model.evaluate does."""
    x = np.random.default_rng(0).normal(size=(230, 6)).astype("float32")
    y = np.arange(230) % 3
    inputs = keras.Input((6,))
    good, bad = keras.layers.Dense(3), keras.layers.Dense(3)
    model = keras.Model(inputs, {"lr0": good(inputs), "lr1": bad(inputs)})
    bad.kernel.assign(np.full((6, 3), np.nan, "float32"))
    model.compile(loss={k: keras.losses.SparseCategoricalCrossentropy(from_logits=True) for k in ("lr0", "lr1")},
                  metrics={k: ["accuracy"] for k in ("lr0", "lr1")})
    expected = model.evaluate(x, {"lr0": y, "lr1": y}, verbose=0, return_dict=True)["lr0_accuracy"]
    accuracy = validation_scores(model, x, y, get_score("accuracy"), chunk=100)  # three chunks, the last short
    assert accuracy["lr0"] == pytest.approx(expected, abs=1e-6) and 0 < accuracy["lr0"] < 1
    assert np.isnan(accuracy["lr1"])


def test_one_learning_rate_with_early_stopping():
    result = Evaluator("synthetic", learning_rates=(0.1,), epochs=1, hurdles=()).evaluate("adam")
    assert result.status == statuses.OK and result.reward > 0.9 and result.best_learning_rate == 0.1


def test_halving_trains_the_best_screened_rates_in_full_and_they_score_what_the_grid_gives_them():
    grid = (1e-2, 1e-1, 100.0)  # momentum at 100 diverges in the screen
    every = Evaluator("synthetic", learning_rates=grid, epochs=3, hurdles=()).evaluate("m")
    halved = Evaluator("synthetic", learning_rates=grid, epochs=3, hurdles=(), lr_search="halving",
                       halving_keep=1).evaluate("m")
    kept = [lr for lr, status in halved.lr_status.items() if status == statuses.OK]
    assert len(kept) == 1 and halved.lr_status["100"] == statuses.DIVERGED
    assert list(halved.lr_status.values()).count(statuses.PRUNED) == 1
    for lr in kept:  # trained again from the start for all three epochs: the grid's curve
        np.testing.assert_allclose(halved.curves[lr], every.curves[lr], rtol=0, atol=1e-6)
    pruned = next(lr for lr, status in halved.lr_status.items() if status == statuses.PRUNED)
    assert len(halved.curves[pruned]) == 1  # its one screened epoch
    assert halved.curves[pruned][0] <= min(halved.curves[lr][0] for lr in kept)
    if every.best_learning_rate in map(float, kept):
        assert (halved.reward, halved.best_learning_rate) == (every.reward, every.best_learning_rate)
    with pytest.raises(ValueError, match="halving_keep"):
        Evaluator("synthetic", lr_search="halving", halving_keep=0)


def test_reward_seeds_average_the_best_rate_over_seeds_each_trained_as_its_own_run():
    grid = (1e-3, 1e-2, 1e-1, 100.0)
    once = Evaluator("synthetic", learning_rates=grid, epochs=1, hurdles=()).evaluate("g")
    thrice = Evaluator("synthetic", learning_rates=grid, epochs=1, hurdles=(), reward_seeds=3).evaluate("g")
    assert thrice.best_learning_rate == once.best_learning_rate and thrice.seed_rewards[0] == once.reward
    assert len(thrice.seed_rewards) == 3 and len(set(thrice.seed_rewards)) > 1  # other starts, other accuracies
    assert thrice.reward == pytest.approx(np.mean(thrice.seed_rewards))
    assert thrice.steps_trained == 3 * once.steps_trained  # the fused grid's one epoch, then one a seed
    alone = Evaluator("synthetic", learning_rates=(once.best_learning_rate,), epochs=1, hurdles=(),
                      reward_seeds=3).evaluate("g")
    np.testing.assert_allclose(alone.seed_rewards, thrice.seed_rewards, rtol=0, atol=1e-6)  # whatever the grid
    final, steps = Evaluator("synthetic", epochs=1, hurdles=()).train_with_seed("g", once.best_learning_rate, 2)
    assert final == pytest.approx(thrice.seed_rewards[2], abs=1e-6) and steps == once.steps_trained  # one at a time
    with pytest.raises(ValueError, match="reward_seeds"):
        Evaluator("synthetic", reward_seeds=0)
    with pytest.raises(ValueError, match="optuna"):
        Evaluator("synthetic", reward_seeds=2, lr_search="optuna")


def test_optuna_learning_rate_search():
    low, high = 1e-3, 1.0
    evaluator = Evaluator("synthetic", learning_rates=(low, high), epochs=1, hurdles=(), lr_search="optuna",
                          optuna_trials=3)
    result = evaluator.evaluate("adam")
    assert result.status == statuses.OK, result
    assert low <= result.best_learning_rate <= high
    assert result.reward > 0.5
    assert len(result.curves) == 3 and result.steps_trained > 0


def test_learning_rate_searches_are_chosen_by_name_and_compare_tunes_on_the_same_grid():
    from keras_nos.compare import Budget
    from keras_nos.tasks.lr_search import GridSearch, HalvingSearch, OptunaSearch, learning_rate_grid, make_lr_search

    assert isinstance(make_lr_search("grid"), GridSearch)
    assert isinstance(make_lr_search("halving", halving_keep=3), HalvingSearch)
    assert make_lr_search("optuna", seed=4, optuna_trials=5).trials == 5
    assert not OptunaSearch().trains_the_grid and GridSearch().trains_the_grid
    with pytest.raises(ValueError, match="Unknown lr_search 'nope'; allowed: grid, halving, optuna"):
        Evaluator("synthetic", lr_search="nope")
    assert Budget(trials=4, low=1e-3, high=1.0).grid() == learning_rate_grid(1e-3, 1.0, 4)


# ------------------------------------------------------------------------------------------------ NumPy twin


@pytest.mark.parametrize("text, lr", [
    ("adam", 0.05), ("m", 0.005), ("exp(sign(g)*sign(m))*g", 0.002), ("rmsprop", 0.02), ("y*g", 1e-8),
])
def test_numpy_stepper_matches_rule_optimizer(text, lr):
    """The hurdles' NumPy twin takes the same steps as RuleOptimizer on a quadratic (weights of order 1).

    The twin runs in float64, Keras in float32: adam and rmsprop differ by a few 1e-6 because
    1 - 0.999**t, adam's bias correction of v, is computed from float32(0.999).
    """
    rule = parse_rule(text)
    value_and_grad, start = numpy_stepper.quadratic(dimension=6)
    steps = 30
    expected = []

    def recording(w):
        expected.append(w[0].copy())
        return value_and_grad(w)

    losses = numpy_stepper.minimize(rule, recording, start, [lr], steps)[0]
    assert losses[-1] < 0.9 * losses[0]  # the rule really moved the weights

    optimizer = RuleOptimizer(rule, learning_rate=lr)
    w = keras.Variable(start.astype("float32"))
    got = []
    for _ in range(steps):
        got.append(ops.convert_to_numpy(w).astype("float64"))
        grad = value_and_grad(got[-1][None])[1][0]
        optimizer.apply_gradients([(ops.convert_to_tensor(grad.astype("float32")), w)])
    got.append(ops.convert_to_numpy(w).astype("float64"))
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)


def test_clip_of_a_constant_trains_instead_of_erroring():
    from keras_nos.tasks import Evaluator

    result = Evaluator("synthetic", learning_rates=(0.1,), epochs=1, hurdles=()).evaluate("clip(1, 1e-4)*g + g")
    assert result.status == "ok", result.message


# ------------------------------------------------------------ objective tasks (rosenbrock)


@pytest.fixture(scope="module")
def rosenbrock():
    return Evaluator("rosenbrock", hurdles=(), learning_rates=(1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1.0, 10.0))


def test_rosenbrock_ranks_good_rules_above_bad_ones(rosenbrock):
    good = {text: rosenbrock.evaluate(text) for text in ("adam", "m", "(1 + sign(g)*sign(m))*g")}
    bad = {text: rosenbrock.evaluate(text) for text in ("-g", "exp(g)", "g^2")}
    assert all(r.status == statuses.OK and r.reward > 0.3 for r in good.values()), good
    assert all(r.reward == 0.0 and r.status in (statuses.DIVERGED, statuses.NO_PROGRESS) for r in bad.values()), bad
    assert good["adam"].reward > good["m"].reward


def test_rosenbrock_reward_is_orders_of_magnitude_taken_off(rosenbrock):
    from keras_nos.tasks.objectives import ORDERS

    result = rosenbrock.evaluate("m")
    value_and_grad, start = numpy_stepper.rosenbrock()
    losses = numpy_stepper.minimize(parse_rule("m"), value_and_grad, start, [result.best_learning_rate], 1000)
    assert result.reward == pytest.approx(np.log10(losses[0, 0] / losses[0, -1]) / ORDERS)
    assert len(result.curves[f"{result.best_learning_rate:g}"]) == 10 and result.steps_trained == 1000
    assert result.lr_status["10"] == statuses.DIVERGED  # m at lr 10 blows up


def test_objective_tasks_cost_milliseconds_and_load_no_data(rosenbrock):
    started = time.perf_counter()
    rosenbrock.evaluate("adam")
    assert time.perf_counter() - started < 2.0
    assert not hasattr(rosenbrock, "x_train")


def test_users_register_an_objective_task():
    from keras_nos.tasks import Task, register_task

    register_task(Task(name="test-quadratic", objective=numpy_stepper.quadratic, epochs=2, steps_per_epoch=50,
                       description="a quadratic"), overwrite=True)
    result = Evaluator("test-quadratic", hurdles=()).evaluate("g")
    assert result.status == statuses.OK and result.reward > 0.3 and result.best_learning_rate == pytest.approx(1e-2)


def test_a_task_without_data_or_objective_is_refused():
    from keras_nos.tasks import Task

    with pytest.raises(ValueError, match="needs load_data and build_model, or an objective"):
        Task(name="empty")
    with pytest.raises(ValueError, match="steps_per_epoch"):
        Task(name="no-steps", objective=numpy_stepper.quadratic)
