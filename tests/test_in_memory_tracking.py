"""The search loop without MLflow: an in-memory tracker behind the MLflow tracker's interface."""

import pytest

from keras_nos.errors import KerasNosError
from keras_nos.search import search
from keras_nos.tracking.in_memory import MEMORY_URI, InMemoryTracker

TINY = dict(task="synthetic", space="small", epochs=1, learning_rates=(0.01, 0.1), budget=6, batch_size=3,
            funnel_top_k=1, funnel_seeds=2, funnel_suite="none", progress=False, strategy="random", seed=3)


def test_the_tracker_keeps_a_copy_of_the_checkpoint_and_every_trial():
    tracker = InMemoryTracker()
    state = {"records": [1]}
    tracker.save_checkpoint(state)
    state["records"].append(2)
    assert tracker.load_checkpoint() == {"records": [1]}
    assert tracker.log_candidate("a trial") != tracker.log_candidate("another")
    assert tracker.discard_half_written_candidates() == ["a trial", "another"]
    tracker.finish({"candidates": 2})
    assert tracker.status == "FINISHED" and tracker.metrics["candidates"] == [(0, 2.0)]


def test_a_search_in_memory_runs_the_real_loop_and_matches_the_same_search_in_mlflow(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    in_memory = search(tracking_uri=MEMORY_URI, **TINY)
    assert not (tmp_path / "mlruns").exists(), "an in-memory search writes no store"
    uri = f"sqlite:///{tmp_path}/store.db"
    tracked = search(tracking_uri=uri, **TINY)
    key = lambda rows: [(row["fingerprint"], round(row["reward"], 6), row["funnel_reward"] and round(row["funnel_reward"], 6))
                        for row in rows]
    assert key(in_memory) == key(tracked)
    assert any(row["reference"] for row in in_memory), "the funnel ran tuned Adam beside the winner"


def test_an_in_memory_search_cannot_be_resumed_or_run_the_compare_suite():
    with pytest.raises(KerasNosError, match="memory"):
        search(tracking_uri=MEMORY_URI, resume="memory-abc", **TINY)
    with pytest.raises(KerasNosError, match="funnel_suite"):
        search(tracking_uri=MEMORY_URI, **dict(TINY, funnel_suite="rosenbrock"))


def test_a_tracker_given_as_the_store_holds_every_candidate_in_proposal_order():
    tracker = InMemoryTracker()
    rows = search(tracking_uri=tracker, **dict(TINY, funnel_top_k=0))
    candidates = [trial for trial in tracker.trials if trial.stage == "search"]
    assert [trial.index for trial in candidates] == list(range(TINY["budget"]))
    assert max(trial.reward for trial in candidates) == rows[0]["reward"]
    assert tracker.status == "FINISHED" and tracker.params["budget"] == TINY["budget"]
    assert tracker.load_checkpoint()["records"], "the checkpoint holds the candidates, as on an MLflow run"


def test_an_in_memory_search_runs_without_the_default_compare_suite():
    tracker = InMemoryTracker()
    options = {key: value for key, value in TINY.items() if key != "funnel_suite"}
    search(tracking_uri=tracker, **dict(options, budget=2, batch_size=2, funnel_seeds=1))
    assert not any(trial.stage == "suite" for trial in tracker.trials)
