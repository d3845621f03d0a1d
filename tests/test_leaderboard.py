"""The leaderboard's statement about tuned Adam: speedups with their intervals, paired differences, standard errors
and the summary line."""

import numpy as np
import pytest

from keras_nos.search.leaderboard import (build_leaderboard, format_leaderboard, funnel_statistics, speed_verdict,
                                          summary, verdict)
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


def _speedups(*values):
    return {ADAM: {"fp-rule": {seed: {"value": value, "lower_bound": False} for seed, value in enumerate(values)}}}


def test_a_speedup_whose_interval_holds_1_is_called_no_different_and_the_summary_says_so():
    funnel = {"fp-rule": [0.95, 0.90, 0.97], ADAM: [0.94, 0.92, 0.95]}
    records = [_record("fp-rule", "sign(m)", 0.96), _record(ADAM, "adam", 0.95, tokens=None)]
    rows = build_leaderboard(records, funnel, reference=ADAM, speedups=_speedups(1.3, 0.8, 1.1), lengths=(8, 8))
    assert [row["rule"] for row in rows] == ["sign(m)", "adam"]
    assert verdict(rows[0]) == "no different" and speed_verdict(rows[0]) == "no different"
    assert rows[0]["speedup_low"] < 1 < rows[0]["speedup_high"] and rows[1]["speedup"] is None
    text = summary(rows)
    assert "not distinguishable from tuned Adam in speed" in text and "3 paired seeds" in text
    assert "final score +0.0033 ± " in text and "The funnel trained 8 epochs, as the search did." in text
    line = format_leaderboard(rows).splitlines()[1]
    assert "+0.0033±" in line and f"{rows[0]['speedup']:.2f}x" in line and "*" not in line


def test_the_star_and_the_summary_follow_the_speedup_interval_not_the_final_score():
    # Final scores five standard errors apart, speed no different: no star, no claim.
    funnel = {"fp-rule": [0.95, 0.96, 0.97], ADAM: [0.90, 0.92, 0.92]}
    records = [_record("fp-rule", "sign(m)", 0.96), _record(ADAM, "adam", 0.95, tokens=None)]
    rows = build_leaderboard(records, funnel, suite={"fp-rule": "2/3"}, reference=ADAM, speedups=_speedups(1.4, 0.7))
    assert verdict(rows[0]) == "better" and "*" not in format_leaderboard(rows).splitlines()[1]
    assert "not distinguishable from tuned Adam in speed" in summary(rows)
    # An interval above 1: the star, and the summary calls it faster, with the suite's record.
    rows = build_leaderboard(records, funnel, suite={"fp-rule": "2/3"}, reference=ADAM,
                             speedups=_speedups(1.5, 1.6, 1.4))
    text = summary(rows)
    assert speed_verdict(rows[0]) == "faster" and rows[0]["speedup_low"] > 1
    assert "faster than tuned Adam (its 95% interval is above 1)" in text and "beat Adam on 2 of 3 tasks" in text
    assert format_leaderboard(rows).splitlines()[1].count("*") == 1


def test_the_summary_says_when_the_funnel_trained_another_length_and_when_speed_is_a_lower_bound():
    funnel = {"fp-rule": [0.95, 0.96], ADAM: [0.90, 0.92]}
    speedups = {ADAM: {"fp-rule": {0: {"value": 2.0, "lower_bound": True}, 1: {"value": 1.5, "lower_bound": False}}}}
    rows = build_leaderboard([_record("fp-rule", "sign(m)", 0.96)], funnel, reference=ADAM, speedups=speedups,
                             lengths=(8, 16))
    text = summary(rows)
    assert "The funnel trained 16 epochs against the search's 8, because funnel_epochs was set" in text
    assert "at least" in text and format_leaderboard(rows).splitlines()[1].count("≥") == 1


def test_without_a_funnel_the_summary_says_the_ranking_rests_on_one_training():
    rows = build_leaderboard([_record("fp-rule", "sign(m)", 0.96)], {}, reference=ADAM)
    assert rows[0]["vs_adam"] is None and "No funnel" in summary(rows)
