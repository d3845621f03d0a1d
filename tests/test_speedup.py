"""Speed to a target (keras_nos/tasks/speedup.py): closed forms, edge cases, and Adam against itself."""

import math

import numpy as np
import pytest

from keras_nos.tasks.speedup import SeedSpeedup, interval, speedup, steps_to_target


def _gradient_descent(a, h, x0, steps):
    """Losses f(x_t) = a x_t^2 / 2 of gradient descent x <- x - h a x, for t = 0 .. steps."""
    x, losses = x0, []
    for _ in range(steps + 1):
        losses.append(0.5 * a * x * x)
        x -= h * a * x
    return np.arange(steps + 1, dtype=float), np.array(losses)


@pytest.mark.parametrize("h_fast, h_slow", [(0.5, 0.2), (0.3, 0.05), (1.5, 0.4)])
def test_on_a_quadratic_the_speedup_of_one_step_size_over_another_is_the_closed_form(h_fast, h_slow):
    # |x_t| = |1 - h a|^t |x_0|, so the loss after N steps with h_fast is reached with h_slow after
    # N ln|1 - h_fast a| / ln|1 - h_slow a| steps: the speedup is that ratio of logarithms.
    a, x0, n = 1.0, 3.0, 60
    steps, fast = _gradient_descent(a, h_fast, x0, n)
    reference_steps, slow = _gradient_descent(a, h_slow, x0, 20 * n)
    expected = math.log(abs(1 - h_fast * a)) / math.log(abs(1 - h_slow * a))
    result = speedup(reference_steps, slow, steps, fast, higher_is_better=False)
    assert not result.lower_bound and result.steps == pytest.approx(n)
    assert result.value == pytest.approx(expected, rel=0.05)
    # The other way round, the slow step size is that many times slower.
    back = speedup(steps, fast, reference_steps[:n + 1], slow[:n + 1], higher_is_better=False)
    assert back.value == pytest.approx(1 / expected, rel=0.05)


def test_the_closed_form_holds_from_curves_of_24_points_a_training():
    # The funnel's curves: a validation score (here minus the log loss, higher is better) at 24 evenly spaced
    # steps and step 0, not every step.
    a, h_fast, h_slow, n = 1.0, 0.5, 0.2, 96
    steps, fast = _gradient_descent(a, h_fast, 2.0, n)
    _, slow = _gradient_descent(a, h_slow, 2.0, 4 * n)
    at, reference_at = np.linspace(0, n, 25).astype(int), np.linspace(0, 4 * n, 25).astype(int)
    result = speedup(reference_at, -np.log(slow[reference_at]), at, -np.log(fast[at]))
    assert result.value == pytest.approx(math.log(0.5) / math.log(0.8), rel=0.05)


def test_steps_to_target_interpolates_and_knows_direction():
    steps, accuracy = [0, 10, 20, 30], [0.1, 0.5, 0.7, 0.9]
    assert steps_to_target(steps, accuracy, 0.6) == pytest.approx(15.0)
    assert steps_to_target(steps, accuracy, 0.05) == 0  # reached at the first point
    assert steps_to_target(steps, accuracy, 0.95) is None
    losses = [2.0, 1.0, 0.5, np.nan]
    assert steps_to_target(steps, losses, 0.75, higher_is_better=False) == pytest.approx(15.0)
    assert steps_to_target(steps, losses, 0.1, higher_is_better=False) is None  # NaN never reaches


def test_a_target_the_reference_never_reaches_gives_a_lower_bound():
    reference = ([0, 10, 20], [0.1, 0.5, 0.6])
    result = speedup(*reference, [0, 10, 20], [0.1, 0.8, 0.8])  # there at step 10; the reference never in 20
    assert result.lower_bound and result.value == pytest.approx(20 / 10)
    worse = speedup(*reference, [0, 10, 20], [0.1, 0.2, 0.3])  # ends where the reference was by step 5
    assert not worse.lower_bound and worse.value == pytest.approx(5 / 20)


def test_nothing_to_measure_is_none():
    assert speedup([0, 1], [0.1, 0.5], [0, 1], [0.1, np.nan]) is None  # a diverged rule
    assert speedup([0, 1], [np.nan, np.nan], [0, 1], [0.1, 0.5]) is None  # a diverged reference
    assert speedup([0, 1], [0.1, 0.5], [0, 1], [0.1, 0.1]) is None  # a rule that ends where it began
    assert speedup([0, 1], [0.1, 0.5], [], []) is None


def test_the_interval_is_a_geometric_mean_with_a_t_interval_over_log_speedups():
    summary = interval([2.0, 2.0, 2.0])
    assert (summary.mean, summary.low, summary.high, summary.seeds) == pytest.approx((2.0, 2.0, 2.0, 3))
    spread = interval([1.0, 4.0])
    assert spread.mean == pytest.approx(2.0) and spread.low < 1 < spread.high and spread.verdict() == "no different"
    assert spread.low * spread.high == pytest.approx(4.0)  # symmetric on the log scale
    one = interval([1.5])
    assert one.mean == 1.5 and one.low is None and one.verdict() is None  # one seed: no interval
    assert interval([None, SeedSpeedup(3.0, 1, 3, 0.5, lower_bound=True)]).lower_bounds == 1
    assert interval([]) is None and interval([1.2, 1.3, 1.25]).verdict() == "faster"


def test_adam_against_itself_is_1_within_its_interval():
    # Real trainings: tuned Adam's curves (the funnel's 24 points a training) on the synthetic task with four seeds,
    # against Adam again with four other seeds (unpaired, so the noise is real, not a curve divided by itself).
    # Small learning rates, so that the curves climb over the 40 steps rather than saturate in two. Measured: 0.81x
    # (0.56-1.18); with the training's length as the rule's steps (VeLO's N) it would be 0.62x (0.54-0.71).
    from keras_nos.tasks import Evaluator

    def curves(seed):
        result = Evaluator("synthetic", learning_rates=(0.001, 0.003), seed=seed, hurdles=(), epochs=4,
                           curve_points=24).evaluate("adam")
        assert result.status == "ok"
        steps, values = result.best_curve()
        assert len(steps) >= 20 and steps[0] == 0 and steps == sorted(steps)
        return steps, values

    reference = [curves(seed) for seed in range(4)]
    again = [curves(seed) for seed in range(4, 8)]
    per_seed = [speedup(*ref, *rule) for ref, rule in zip(reference, again)]
    summary = interval(per_seed)
    assert summary.seeds == 4 and summary.low <= 1 <= summary.high, summary
    # Paired with itself, seed by seed, it is exactly 1.
    assert all(speedup(*curve, *curve).value == pytest.approx(1.0) for curve in reference)
