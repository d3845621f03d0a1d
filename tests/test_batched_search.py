"""A search that trains its candidates with the batched evaluator: its workers run Keras on JAX, each gets
a share of a batch, and the trials do not depend on how many workers share it."""

import pytest

from keras_nos.executors import local
from keras_nos.search import search
from keras_nos.tracking.in_memory import InMemoryTracker

SMALL = dict(task="digits-mlp", strategy="random", space="small", epochs=1, budget=8, batch_size=4,
             learning_rates=(0.01, 0.1), funnel_top_k=0, progress=False, evaluator="batched")
ORIGINAL_SEND = local._Worker.send


def _searched(workers, monkeypatch):
    """The trials of a batched search with ``workers`` worker processes, and the sizes of the units sent."""
    sent, send = [], ORIGINAL_SEND

    def recording_send(worker, tickets, rules):
        sent.append(len(tickets))
        return send(worker, tickets, rules)

    monkeypatch.setattr(local._Worker, "send", recording_send)
    tracker = InMemoryTracker()
    search(tracking_uri=tracker, workers=workers, **SMALL)
    tracker.trials.sort(key=lambda trial: trial.index)  # kept as they arrived, which the workers decide
    return tracker, sent


def test_a_batched_search_sends_each_worker_a_share_of_the_batch_and_the_trials_do_not_depend_on_the_workers(
        monkeypatch):
    one, sent_to_one = _searched(1, monkeypatch)
    two, sent_to_two = _searched(2, monkeypatch)
    assert one.params["evaluator"] == "batched"
    evaluated = [trial for trial in one.trials if not trial.cache_hit]  # the hurdles run in the workers too
    assert any(trial.status == "ok" for trial in evaluated), "no candidate was trained"
    assert max(sent_to_one) > 1 and max(sent_to_two) <= max(sent_to_one)
    assert sum(sent_to_one) == sum(sent_to_two) == len(evaluated)
    assert [(t.index, t.rule, t.status) for t in one.trials] == [(t.index, t.rule, t.status) for t in two.trials]
    for first, second in zip(one.trials, two.trials):
        assert first.reward == pytest.approx(second.reward, abs=1e-6)


def test_batched_workers_keep_their_compiled_program_in_the_compilation_cache(tmp_path, monkeypatch):
    """A second search (or worker, or resume) loads the program the first compiled: JAX's persistent cache, in
    JAX_COMPILATION_CACHE_DIR when the user sets it, else under the user's cache folder."""
    from keras_nos.executors.worker import compilation_cache_dir, worker_environment

    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert worker_environment({"evaluator": "batched"})["JAX_COMPILATION_CACHE_DIR"] == \
        compilation_cache_dir() == str(tmp_path / "xdg" / "keras_nos" / "jax")
    assert worker_environment({"evaluator": "keras"}) == {}
    cache = tmp_path / "programs"
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(cache))
    search(tracking_uri=InMemoryTracker(), **SMALL)
    assert any(path.name.startswith("jit_train_copy") for path in cache.iterdir())
