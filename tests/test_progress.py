"""The search's learning curve: step metrics per candidate."""

import numpy as np
import pytest

from keras_nos.search.progress import moving_mean, progress_metrics
from keras_nos.tasks import EvaluationResult
from keras_nos.tracking import Trial


def _record(index, reward, status="ok"):
    return Trial(index=index, result=EvaluationResult("g", "fp", "synthetic", status, reward=reward))


def test_moving_mean_averages_the_last_window_values():
    np.testing.assert_allclose(moving_mean([1, 2, 3, 4, 5], window=2), [1, 1.5, 2.5, 3.5, 4.5])
    assert moving_mean([]).size == 0


def test_progress_metrics_follow_the_candidates_in_index_order():
    records = [_record(0, 0.0, "failed_hurdle"), _record(1, 0.5), _record(2, 0.25), _record(3, 0.0, "failed_hurdle")]
    steps = progress_metrics(records)
    assert [step for step, _ in steps] == [0, 1, 2, 3]
    assert [m["best_reward"] for _, m in steps] == [0.0, 0.5, 0.5, 0.5]
    assert [m["sample_reward"] for _, m in steps] == [0.0, 0.5, 0.25, 0.0]
    assert steps[-1][1]["moving_mean_reward"] == pytest.approx(0.1875)
    assert steps[-1][1]["hurdle_fail_fraction"] == pytest.approx(0.5)
