"""Every command's user errors: one line on stderr that names the bad value and what would work, exit 2."""

import pytest
from mlflow import MlflowClient

from keras_nos.cli import main as cli_main

MISSING_DATA = "/nonexistent/cifar"
UNREACHABLE = "http://127.0.0.1:9"
UNKNOWN_RUN = "0123456789abcdef0123456789abcdef"
STORE = "STORE"  # replaced by the test's SQLite store

# (argv, what the line must hold: the bad value first, then the way out)
CASES = {
    "search: missing data": (["search", "--task", "cifar10-small", "--data", MISSING_DATA, "--tracking-uri", STORE],
                             [MISSING_DATA, "does not exist", "--data PATH", "KERAS_NOS_CIFAR10"]),
    "search: unknown task": (["search", "--task", "nope", "--tracking-uri", STORE],
                             ["'nope'", "registered tasks: ", "digits-convnet"]),
    "search: unknown run id": (["search", "--resume", UNKNOWN_RUN, "--tracking-uri", STORE],
                               [UNKNOWN_RUN, "keras-nos leaderboard"]),
    "search: unreachable store": (["search", "--tracking-uri", UNREACHABLE], [UNREACHABLE, "--tracking-uri"]),
    "search: unknown strategy option": (["search", "--strategy-option", "elite=3", "--tracking-uri", STORE],
                                        ["elite", "'rl'", "allowed: ", "elite_size"]),
    "search: bad strategy option": (["search", "--strategy-option", "mutation_share=2", "--tracking-uri", STORE],
                                    ["mutation_share", "in [0, 1]", "got 2"]),
    "search: warm start the space cannot express": (
        ["search", "--space", "small", "--warm-start", "adam,ld*g", "--tracking-uri", STORE],
        ["'ld*g'", "'small' space", "it has no ld"]),
    "search: empty warm-start rule": (["search", "--warm-start", "adam,,g", "--tracking-uri", STORE],
                                      ["warm_start", "'named' or rules separated by commas", "'adam,,g'"]),
    "evaluate: missing data": (["evaluate", "adam", "--task", "cifar10-convnet", "--data", MISSING_DATA],
                               [MISSING_DATA, "does not exist", "--data PATH", "KERAS_NOS_CIFAR10"]),
    "evaluate: unknown task": (["evaluate", "g", "--task", "nope"], ["'nope'", "registered tasks: "]),
    "evaluate: bad rule": (["evaluate", "exp(g", "--task", "synthetic"], ["'exp(g'", "expected ')'"]),
    "leaderboard: unknown run id": (["leaderboard", UNKNOWN_RUN, "--tracking-uri", STORE],
                                    [UNKNOWN_RUN, "keras-nos leaderboard"]),
    "leaderboard: no search yet": (["leaderboard", "--tracking-uri", STORE], ["keras-nos search"]),
    "leaderboard: unreachable store": (["leaderboard", "--tracking-uri", UNREACHABLE], [UNREACHABLE, "--tracking-uri"]),
    "export: unknown run id": (["export", UNKNOWN_RUN, "--tracking-uri", STORE], [UNKNOWN_RUN, "keras-nos leaderboard"]),
    "export: unreachable store": (["export", UNKNOWN_RUN, "--tracking-uri", UNREACHABLE],
                                  [UNREACHABLE, "--tracking-uri"]),
    "compare: bad rule": (["compare", "exp((", "--tracking-uri", STORE], ["'exp(('", "not one of sgd"]),
    "compare: unknown task": (["compare", "adam", "--tasks", "nope", "--tracking-uri", STORE],
                              ["'nope'", "registered compare tasks: "]),
    "compare: unreachable store": (["compare", "adam", "--tracking-uri", UNREACHABLE], [UNREACHABLE, "--tracking-uri"]),
    # A user's own task (tests/own_task.py) with bad input: refused before anything is trained or written.
    "search: labels and inputs differ in length": (["search", "--task", "own_task:short_labels", "--tracking-uri", STORE],
                                                   ["50 targets for 120 inputs"]),
    "search: output width does not fit the loss": (["search", "--task", "own_task:wrong_width", "--tracking-uri", STORE],
                                                   ["output (shape (2, 1))", "sparse_categorical_crossentropy",
                                                    "outside the valid range"]),
    "search: build_model returns no model": (["search", "--task", "own_task:no_model", "--tracking-uri", STORE],
                                             ["build_model() returned NoneType", "keras.Model"]),
    "search: build_model is not callable": (["search", "--task", "own_task:not_callable", "--tracking-uri", STORE],
                                            ["build_model must be callable", "'not a function'"]),
    "search: unknown objective": (["search", "--task", "own_task:unknown_objective", "--tracking-uri", STORE],
                                  ["'val_bogus'", "val_loss"]),
    "search: task module missing": (["search", "--task", "no_such_module:task", "--tracking-uri", STORE],
                                    ["'no_such_module'", "package.module:attr"]),
    "evaluate: labels and inputs differ in length": (["evaluate", "adam", "--task", "own_task:short_labels"],
                                                     ["50 targets for 120 inputs"]),
    "compare: output width does not fit the loss": (["compare", "adam", "--task", "own_task:wrong_width",
                                                     "--tracking-uri", STORE], ["output (shape (2, 1))"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_command_names_the_bad_value_on_one_line(case, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KERAS_NOS_CIFAR10", raising=False)
    store = f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    argv, needles = CASES[case]
    assert cli_main([store if a == STORE else a for a in argv]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("keras-nos: error: "), captured.err
    assert all(needle in lines[0] for needle in needles), lines[0]
    assert captured.out == ""
    client = MlflowClient(tracking_uri=store)
    assert all(not client.search_runs([e.experiment_id]) for e in client.search_experiments())  # nothing written


def test_a_candidate_run_id_is_not_a_search(tmp_path, capsys):
    from keras_nos.search import search

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    search(task="synthetic", space="small", strategy="random", budget=1, batch_size=1, epochs=1,
           learning_rates=(0.1,), funnel_top_k=0, progress=False, tracking_uri=uri)
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("keras-nos").experiment_id
    candidate = client.search_runs([experiment], filter_string="tags.`keras_nos.stage` = 'search'")[0]
    parent = candidate.data.tags["mlflow.parentRunId"]
    for command in (["search", "--resume"], ["export"], ["leaderboard"]):
        assert cli_main(command + [candidate.info.run_id, "--tracking-uri", uri]) == 2
        line = capsys.readouterr().err.strip()
        assert candidate.info.run_id in line and f"give that parent run's id" in line and parent in line, line


def test_a_bug_is_not_a_user_error_and_keeps_its_traceback(monkeypatch):
    from keras_nos import cli

    def broken(args):
        raise ValueError("a bug, not the user's mistake")

    monkeypatch.setitem(cli.COMMANDS, "leaderboard", broken)
    with pytest.raises(ValueError, match="a bug"):
        cli_main(["leaderboard"])
