"""Warm start (issue 31): every strategy evaluates the warm-start rules first, learns from them, and a resume
does not evaluate them again."""

import json

import pytest
from mlflow import MlflowClient

from keras_nos.dsl.fingerprint import fingerprint
from keras_nos.search import search
from keras_nos.search.config import SearchConfig
from keras_nos.search.screen import HurdleScreen
from keras_nos.search.space import SearchSpace
from keras_nos.search.strategies import STRATEGIES, make_strategy, warm_start_tokens
from keras_nos.search.strategies.warm_start import parse_warm_start
from keras_nos.tracking import tags
from keras_nos.tracking.in_memory import InMemoryTracker

TINY = dict(task="synthetic", space="small", epochs=1, learning_rates=(0.01, 0.1), funnel_top_k=0,
            funnel_suite="none", progress=False)
RULES = ["adam", "sign(m)", "powersign"]  # a rule text, another, and a name of keras_nos.named_rules
TEXTS = ["adam", "sign(m)", "exp(sign(g)*sign(m))*g"]
FAST = {"random": {}, "evolution": {"population_size": 4, "tournament_size": 2}, "tpe": {"n_startup_trials": 2},
        "rl": {"update_every": 2, "units": 16, "embedding_size": 16}}


def _fingerprints(trials):
    return [trial.fingerprint for trial in sorted(trials, key=lambda trial: trial.index)]


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_a_warm_started_search_evaluates_the_warm_start_first_in_order(strategy):
    tracker = InMemoryTracker()
    search(strategy=strategy, budget=5, batch_size=2, warm_start=RULES, tracking_uri=tracker,
           strategy_options=FAST[strategy], **TINY)
    found = _fingerprints(tracker.trials)
    assert len(found) == 5
    assert found[:3] == [fingerprint(rule) for rule in TEXTS]  # across the first two batches (2 + 1)
    assert not any(trial.cache_hit for trial in tracker.trials[:3])


def test_a_resumed_search_keeps_the_warm_start_and_does_not_evaluate_it_again(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    options = dict(TINY, strategy="rl", budget=6, batch_size=2, strategy_options=FAST["rl"], tracking_uri=uri)
    search(max_batches=1, warm_start=RULES, **options)  # two of the three warm-start rules
    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([experiment.experiment_id for experiment in client.search_experiments()])
    parent = next(run for run in runs if "mlflow.parentRunId" not in run.data.tags)
    assert json.loads(parent.data.tags[tags.SETTINGS])["warm_start"] == RULES
    with pytest.raises(ValueError, match="warm_start.*contradicts"):
        search(resume=parent.info.run_id, warm_start=["g"], **options)
    search(resume=parent.info.run_id, **options)  # the warm start comes from the parent run
    children = [run for run in client.search_runs([parent.info.experiment_id])
                if run.data.tags.get("mlflow.parentRunId") == parent.info.run_id
                and run.data.tags.get("keras_nos.stage") == "search"]
    by_index = sorted(children, key=lambda run: int(run.data.tags["keras_nos.index"]))
    assert [int(run.data.tags["keras_nos.index"]) for run in by_index] == list(range(6))
    found = [run.data.params["fingerprint"] for run in by_index]
    assert found[:3] == [fingerprint(rule) for rule in TEXTS]
    assert not set(found[3:]) & set(found[:3])  # none of them proposed again, not even as a cache hit


@pytest.mark.parametrize("strategy", ["random", "evolution", "tpe"])
def test_a_restored_strategy_goes_on_after_the_warm_start_it_proposed(strategy):
    space = SearchSpace.preset("small")
    first = make_strategy(strategy, space, 0, warm_start=RULES, **FAST[strategy])
    proposed = first.propose(2)
    restored = make_strategy(strategy, space, 0, warm_start=RULES, **FAST[strategy])
    restored.load_state(first.state())
    tokens = warm_start_tokens(space, RULES)
    assert proposed == tokens[:2]
    assert restored.propose(3)[0] == tokens[2]  # then the strategy's own
    assert restored.warm_proposed == 3 and restored.state()["warm_start"] == tokens


def test_named_is_every_named_optimizer_the_space_can_express_adam_among_them():
    paper = SearchSpace.preset("paper")
    named = [fingerprint(paper.to_rule(tokens)) for tokens in warm_start_tokens(paper, "named")]
    assert fingerprint("adam") in named and fingerprint("sign(m)") in named and fingerprint("rmsprop") in named
    assert len(named) == len(set(named)) >= 10
    small = SearchSpace.preset("small")  # no rmsprop there; adam written as adam*1 (small has no 'left')
    in_small = [fingerprint(small.to_rule(tokens)) for tokens in warm_start_tokens(small, "named")]
    assert fingerprint("adam") in in_small and fingerprint("rmsprop") not in in_small
    assert SearchConfig.from_settings({"warm_start": "named"}).strategy.warm_start == "named"


def test_a_rule_the_space_cannot_express_is_refused_naming_it_and_the_space():
    with pytest.raises(ValueError, match=r"^warm-start rule 'ld\*g' cannot be expressed in the 'small' space: "
                                         r"it has no ld$"):
        SearchConfig.from_settings({"space": "small", "warm_start": ["adam", "ld*g"]})
    with pytest.raises(ValueError, match=r"'3\*g'.*'paper' space.*constant 3 has no token"):
        search(warm_start="3*g", tracking_uri=InMemoryTracker(), **dict(TINY, space="paper"))
    with pytest.raises(ValueError, match=r"needs 5 groups, the space has 2"):
        make_strategy("random", "paper", 0, warm_start=["exp(sign(g)*sign(m))*g + m + g*m"])
    assert parse_warm_start("adam, drop(g, 0.3)") == ("adam", "drop(g, 0.3)")  # commas inside a rule stay


def test_rl_pretrains_its_controller_by_likelihood_on_the_warm_start():
    space = SearchSpace.preset("small")
    options = dict(FAST["rl"], warm_start_steps=10)
    strategy = make_strategy("rl", space, 0, screen=HurdleScreen(), warm_start=RULES, **options)
    before = strategy.log_prob(strategy.warm_start)
    assert strategy.propose(1) == strategy.warm_start[:1]  # pretraining happens before the first proposal
    after = strategy.log_prob(strategy.warm_start)
    assert all(after > before + 0.5), (before, after)
    untrained = make_strategy("rl", space, 0, warm_start=RULES, **dict(options, warm_start_steps=0))
    untrained.propose(1)
    assert untrained.log_prob(untrained.warm_start) == pytest.approx(before)
