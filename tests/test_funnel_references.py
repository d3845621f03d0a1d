"""Honest references (issue 31): Adam times each decay schedule the space can express is a reference beside tuned
Adam, with the same grid and seeds; "beats Adam" means beating the best of them; a reference's proxy reward is
trained as the candidates' were."""

import pytest
from mlflow import MlflowClient

from keras_nos.dsl.fingerprint import fingerprint
from keras_nos.search import read_leaderboard, search
from keras_nos.search.leaderboard import best_reference, build_leaderboard, reference_rules, summary
from keras_nos.search.space import SearchSpace
from keras_nos.search.strategies import STRATEGIES, Strategy
from keras_nos.tasks import EvaluationResult, Evaluator
from keras_nos.tracking import Trial

RULE_TOKENS = ["sign(m)", "1", "identity", "identity", "mul"]  # sign(m): a rule the search "finds"
TINY = dict(task="synthetic", num_groups=1, epochs=1, learning_rates=(0.01, 0.1), funnel_top_k=1,
            funnel_suite="none", progress=False, strategy="fixed", budget=1, batch_size=1)


class _FixedStrategy(Strategy):
    name = "fixed"

    def _propose(self, n):
        return [list(RULE_TOKENS)] * n

    def observe(self, results):
        pass


def test_the_references_are_adam_and_adam_times_each_decay_the_space_holds():
    assert reference_rules(SearchSpace.preset("paper-decay")) == ("adam", "adam*ld", "adam*cd", "adam*rd")
    assert reference_rules(SearchSpace.preset("paper")) == ("adam",)
    assert reference_rules(SearchSpace.preset("small")) == ("adam",)
    custom = SearchSpace(["g", "adam", "cd"], ["identity"], ["mul"], num_groups=1)
    assert reference_rules(custom) == ("adam", "adam*cd")
    # Each is a rule of its space: the tokens adam, cd, mul give the same behaviour.
    assert fingerprint(custom.to_rule(["adam", "cd", "identity", "identity", "mul"])) == fingerprint("adam*cd")


def _trial(fp, rule, reward, reference=False, stage="search"):
    result = EvaluationResult(rule, fp, "synthetic", "ok", reward=reward, best_learning_rate=0.1)
    return Trial(index=0, result=result, tokens=None if reference else ("g",), simplified_rule=rule,
                 reference=reference, stage=stage)


def test_the_rule_is_compared_with_the_best_reference_by_mean_funnel_reward_paired_by_seed():
    references = {"fp-adam": "adam", "fp-cd": "adam*cd"}
    funnel = {"fp-rule": [0.95, 0.93, 0.97], "fp-adam": [0.90, 0.90, 0.91], "fp-cd": [0.94, 0.92, 0.95]}
    assert best_reference(funnel, references) == "fp-cd"
    assert best_reference({"fp-adam": [0.9, 0.9], "fp-cd": [0.95]}, references) == "fp-cd"  # the seeds both ran
    assert best_reference({}, references) == "fp-adam"
    speedups = {"fp-adam": {"fp-rule": {0: {"value": 3.0}, 1: {"value": 3.1}, 2: {"value": 2.9}}},
                "fp-cd": {"fp-rule": {0: {"value": 1.1}, 1: {"value": 0.9}, 2: {"value": 1.0}},
                          "fp-adam": {0: {"value": 0.5}, 1: {"value": 0.5}, 2: {"value": 0.6}}}}
    trials = [_trial("fp-rule", "sign(m)", 0.9), _trial("fp-adam", "adam", 0.8, reference=True, stage="reference"),
              _trial("fp-cd", "adam*cd", 0.85, reference=True, stage="reference")]
    rows = build_leaderboard(trials, funnel, reference=references, speedups=speedups)
    top = rows[0]
    assert top["rule"] == "sign(m)" and top["best_reference"] == "adam*cd"
    assert top["vs_adam"] == pytest.approx((0.01 + 0.01 + 0.02) / 3)  # against adam*cd, not adam's +0.047
    assert top["speedup"] == pytest.approx((1.1 * 0.9 * 1.0) ** (1 / 3))  # against adam*cd, not adam's 3x
    adam = next(row for row in rows if row["fingerprint"] == "fp-adam")
    assert adam["reference"] and adam["reward"] == 0.8
    assert adam["speedup"] == pytest.approx((0.5 * 0.5 * 0.6) ** (1 / 3))  # a reference against the best one
    text = summary(rows)
    assert "the best Adam reference (adam*cd)" in text and "against adam*cd" in text
    assert "not distinguishable from the best Adam reference (adam*cd) in speed" in text
    assert "(adam, adam*cd) had the same grid and seeds; adam*cd had the best mean funnel reward" in text


def test_a_reference_known_only_by_its_funnel_trainings_shows_no_proxy_reward():
    funnel = {"fp-rule": [0.95], "fp-adam": [0.9]}
    trials = [_trial("fp-rule", "sign(m)", 0.9), _trial("fp-adam", "adam", 0.9, reference=True, stage="funnel")]
    rows = build_leaderboard(trials, funnel)
    adam = next(row for row in rows if row["reference"])
    assert adam["reward"] is None and adam["funnel_reward"] == 0.9 and rows[0]["best_reference"] == "adam"


def _stages(uri):
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("keras-nos")
    runs = client.search_runs([experiment.experiment_id])
    parent = next(run for run in runs if run.data.tags.get("keras_nos.kind") == "search")
    return parent.info.run_id, [run for run in runs if run.data.tags.get("keras_nos.stage")]


def test_a_decay_space_trains_every_reference_as_the_candidates_and_a_resume_keeps_them(tmp_path, monkeypatch):
    import keras_nos.search.loop as loop
    from keras_nos.tracking import SearchTracker

    monkeypatch.setitem(STRATEGIES, "fixed", _FixedStrategy)
    monkeypatch.setattr(loop, "make_strategy", lambda name, space, seed=0, **options: _FixedStrategy(space, seed))
    original = SearchTracker.log_candidate
    funnel_logs = []

    def crashing_log(self, trial):
        if trial.stage == "funnel":
            funnel_logs.append(trial.rule)
            if len(funnel_logs) == 2:  # the machine goes down in the funnel, after the references' proxy runs
                raise RuntimeError("power cut")
        return original(self, trial)

    monkeypatch.setattr(SearchTracker, "log_candidate", crashing_log)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    options = dict(TINY, space="paper-decay", funnel_seeds=1, tracking_uri=uri)
    with pytest.raises(RuntimeError, match="power cut"):
        search(**options)
    run_id, runs = _stages(uri)
    assert sorted(run.data.params["rule"] for run in runs if run.data.tags["keras_nos.stage"] == "reference") \
        == ["adam", "adam*cd", "adam*ld", "adam*rd"]
    rows = search(resume=run_id, **options)
    _, runs = _stages(uri)
    proxies = {run.data.params["rule"]: run for run in runs if run.data.tags["keras_nos.stage"] == "reference"}
    assert len(proxies) == 4 and len([r for r in runs if r.data.tags["keras_nos.stage"] == "reference"]) == 4
    funnel = [run for run in runs if run.data.tags["keras_nos.stage"] == "funnel"]
    assert sorted(run.data.params["rule"] for run in funnel) == sorted(["adam", "adam*ld", "adam*cd", "adam*rd",
                                                                       "sign(m)"])
    # Each reference's proxy reward is what the candidates' evaluator gives it: seed 0, 1 epoch, the grid, hurdles.
    evaluator = Evaluator("synthetic", learning_rates=(0.01, 0.1), seed=0, epochs=1)
    references = {row["raw_rule"]: row for row in rows if row["reference"]}
    assert set(references) == {"adam", "adam*ld", "adam*cd", "adam*rd"}
    for rule, row in references.items():
        assert row["reward"] == pytest.approx(evaluator.evaluate(rule).reward, abs=1e-6)
        assert proxies[rule].data.metrics["reward"] == pytest.approx(row["reward"], abs=1e-6)
        assert proxies[rule].data.tags["keras_nos.reference"] == "true"
    # The winner is compared with the best reference by funnel reward, and the summary names it.
    top = next(row for row in rows if not row["reference"])
    best = max(references.values(), key=lambda row: (row["funnel_reward"], row["raw_rule"] == "adam"))
    assert top["best_reference"] == best["raw_rule"]
    assert top["vs_adam"] == pytest.approx(top["funnel_reward"] - best["funnel_reward"], abs=1e-9)
    assert f"against {best['raw_rule']}" in summary(rows)
    assert "(adam, adam*ld, adam*cd, adam*rd) had the same grid and seeds" in summary(rows)
    read_back = read_leaderboard(uri, run_id)
    assert {row["raw_rule"]: row["reward"] for row in read_back if row["reference"]} == \
        pytest.approx({rule: row["reward"] for rule, row in references.items()})
    assert next(row for row in read_back if not row["reference"])["vs_adam"] == pytest.approx(top["vs_adam"])


def test_a_space_without_decay_operands_has_adam_alone(tmp_path, monkeypatch):
    import keras_nos.search.loop as loop

    monkeypatch.setitem(STRATEGIES, "fixed", _FixedStrategy)
    monkeypatch.setattr(loop, "make_strategy", lambda name, space, seed=0, **options: _FixedStrategy(space, seed))
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    rows = search(**dict(TINY, space="small", funnel_seeds=1, tracking_uri=uri))
    _, runs = _stages(uri)
    assert [run.data.params["rule"] for run in runs if run.data.tags["keras_nos.stage"] == "reference"] == ["adam"]
    assert [row["raw_rule"] for row in rows if row["reference"]] == ["adam"]
    text = summary(rows)
    assert "against adam." in text and "Adam references" not in text


def test_the_speedup_reads_each_reference_trained_twice_as_long_as_its_own_curve_continued(tmp_path, monkeypatch):
    """A rule that ends past Adam's final score gets a measured speedup, not a bound of about 1: the funnel's
    reference trains REFERENCE_LENGTH times as long at the rate its funnel training chose, and that curve begins
    as the funnel training's did."""
    import keras_nos.search.funnel as funnel
    import keras_nos.search.loop as loop
    from keras_nos.tasks.speedup import speedup

    monkeypatch.setitem(STRATEGIES, "fixed", _FixedStrategy)
    monkeypatch.setattr(loop, "make_strategy", lambda name, space, seed=0, **options: _FixedStrategy(space, seed))
    sessions = []
    original = funnel._extend_references
    monkeypatch.setattr(funnel, "_extend_references", lambda session, *args: (sessions.append(session),
                                                                               original(session, *args)))
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    rows = search(**dict(TINY, space="small", funnel_seeds=2, tracking_uri=uri))
    session = sessions[0]
    adam, rule = fingerprint("adam"), fingerprint("sign(m)")
    for seed in (0, 1):
        reference, curve = session.funnel_curves[adam][seed], session.funnel_curves[rule][seed]
        assert reference["extended_steps"][-1] == funnel.REFERENCE_LENGTH * reference["steps"][-1]
        shared = dict(zip(reference["extended_steps"], reference["extended_values"]))
        assert [shared[step] for step in reference["steps"]] == pytest.approx(reference["values"], abs=1e-6)
        measured = speedup(reference["extended_steps"], reference["extended_values"], curve["steps"], curve["values"])
        assert session.funnel_speedups[adam][rule][seed]["value"] == pytest.approx(measured.value)
    _, runs = _stages(uri)
    adam_runs = [run for run in runs if run.data.tags["keras_nos.stage"] == "funnel"
                 and run.data.params["rule"] == "adam"]
    assert len(adam_runs) == 2 and all("extended_score" in run.data.metrics for run in adam_runs)
    assert next(row for row in rows if not row["reference"])["speedup"] is not None
