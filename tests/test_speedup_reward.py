"""The search's reward as speed to a target (issue 31, ``keras_nos/tasks/speedup_reward.py``): the steps tuned Adam,
trained twice as long from the same start, takes to reach a rule's final score, over the rule's own."""

import pytest

from keras_nos.errors import KerasNosError
from keras_nos.executors.worker import build_evaluate
from keras_nos.search import search
from keras_nos.search.config import TaskConfig
from keras_nos.tasks import Evaluator
from keras_nos.tasks import result as statuses
from keras_nos.tracking.in_memory import InMemoryTracker

OPTIONS = dict(task="synthetic", learning_rates=(0.01, 0.1), seed=0, epochs=2, hurdles=(), reward_seeds=1)


def test_adam_against_itself_scores_1_and_a_slower_rule_below_it_with_the_final_score_kept():
    evaluate = build_evaluate(dict(OPTIONS, evaluator="keras", reward="speedup"))
    adam, slow, broken = evaluate(["adam", "0.1*g", "log(0*g)"])
    finals = Evaluator(**OPTIONS)
    assert adam.status == statuses.OK and adam.reward == pytest.approx(1.0)
    assert adam.score == pytest.approx(finals.evaluate("adam").reward, abs=1e-6)
    assert slow.score == pytest.approx(finals.evaluate("0.1*g").reward, abs=1e-6)
    assert slow.score < adam.score and 0 <= slow.reward < 1
    assert broken.status != statuses.OK and broken.score is None  # a rule that did not train keeps its result


def test_the_reward_is_checked_where_it_is_set():
    with pytest.raises(KerasNosError, match="Unknown reward 'fastest'; allowed: final, speedup"):
        TaskConfig(name="synthetic", reward="fastest")
    with pytest.raises(KerasNosError, match="reward 'speedup' needs a network task.*'rosenbrock'"):
        TaskConfig(name="rosenbrock", reward="speedup")
    with pytest.raises(KerasNosError, match="reward_seeds=2"):
        TaskConfig(name="synthetic", reward="speedup", reward_seeds=2)


def test_a_batched_search_rewards_its_candidates_by_speedup():
    tracker = InMemoryTracker()
    search(tracking_uri=tracker, task="digits-mlp", strategy="random", space="small", epochs=1, budget=4,
           batch_size=4, learning_rates=(0.01, 0.1), funnel_top_k=0, progress=False, evaluator="batched",
           reward="speedup", warm_start="adam")
    trained = [trial for trial in tracker.trials if trial.status == statuses.OK]
    assert trained and all(trial.result.score is not None and trial.reward >= 0 for trial in trained)
    adam = next(trial for trial in trained if trial.simplified_rule == "adam")
    assert adam.reward == pytest.approx(1.0, abs=1e-6)  # the batched program starts where the reference did
