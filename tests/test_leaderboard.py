"""The leaderboard's statement about tuned Adam: paired differences, standard errors and the summary line."""

import numpy as np
import pytest

from keras_nos.search.leaderboard import build_leaderboard, format_leaderboard, funnel_statistics, summary, verdict
from keras_nos.tasks import EvaluationResult
from keras_nos.tracking import Trial

ADAM = "fp-adam"


def _record(fingerprint, rule, reward, tokens=("g",)):
    result = EvaluationResult(rule, fingerprint, "synthetic", "ok", reward=reward, best_learning_rate=0.1)
    return Trial(index=0, result=result, tokens=tokens, simplified_rule=rule)


def test_the_difference_from_adam_is_paired_by_seed_with_its_standard_error():
    funnel = {"fp-rule": [0.90, 0.92, 0.94], ADAM: [0.88, 0.90, 0.93]}
    entry = funnel_statistics(funnel, reference=ADAM)["fp-rule"]
    differences = np.array([0.02, 0.02, 0.01])
    assert entry["vs_adam"] == pytest.approx(differences.mean())
    assert entry["vs_adam_se"] == pytest.approx(differences.std(ddof=1) / np.sqrt(3))
    assert entry["seeds"] == 3 and funnel_statistics(funnel, reference=ADAM)[ADAM]["vs_adam"] is None
    # Unpaired, the seeds' spread (0.02) would swamp the 0.017 difference; paired, it is five errors clear.
    assert verdict(entry) == "better"


def test_a_difference_within_two_standard_errors_is_called_no_different_and_the_summary_says_so():
    funnel = {"fp-rule": [0.95, 0.90, 0.97], ADAM: [0.94, 0.92, 0.95]}
    records = [_record("fp-rule", "sign(m)", 0.96), _record(ADAM, "adam", 0.95, tokens=None)]
    rows = build_leaderboard(records, funnel, reference=ADAM)
    assert [row["rule"] for row in rows] == ["sign(m)", "adam"]
    assert verdict(rows[0]) == "no different"
    assert "not distinguishable from tuned Adam" in summary(rows) and "3 paired seeds" in summary(rows)
    assert "+0.0033±" in format_leaderboard(rows) and "*" not in format_leaderboard(rows).splitlines()[1]


def test_the_summary_names_a_significant_win_and_the_suite_result():
    funnel = {"fp-rule": [0.95, 0.96, 0.97], ADAM: [0.90, 0.92, 0.92]}
    rows = build_leaderboard([_record("fp-rule", "sign(m)", 0.96), _record(ADAM, "adam", 0.95, tokens=None)],
                             funnel, suite={"fp-rule": "2/3"}, reference=ADAM)
    text = summary(rows)
    assert "beats tuned Adam by more than 2 standard errors" in text and "beat Adam on 2 of 3 tasks" in text
    assert format_leaderboard(rows).splitlines()[1].count("*") == 1


def test_without_a_funnel_the_summary_says_the_ranking_rests_on_one_training():
    rows = build_leaderboard([_record("fp-rule", "sign(m)", 0.96)], {}, reference=ADAM)
    assert rows[0]["vs_adam"] is None and "No funnel" in summary(rows)
