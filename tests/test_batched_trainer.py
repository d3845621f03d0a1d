"""The batched evaluator (``keras_nos/tasks/batched``): the current evaluator's rewards, isolation, statuses.

The trainer needs Keras on JAX, fixed when Keras is first imported. A session on TensorFlow runs the tests
that need no backend, then reruns this file under ``KERAS_BACKEND=jax`` in a fresh interpreter (as
``test_jax_backend.py`` does), where the others run.
"""

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_nos.errors import KerasNosError
from keras_nos.named_rules import RULES
from keras_nos.tasks import result as statuses
from keras_nos.tasks.batched.replay import Judgement
from keras_nos.tasks.batched.rule_code import encode, groups_of

ROOT = Path(__file__).resolve().parents[1]
ON_JAX = keras.backend.backend() == "jax"
jax_only = pytest.mark.skipif(not ON_JAX, reason="needs Keras on JAX: runs in test_the_jax_tests_pass")
TASK = "digits-mlp"
EPOCHS = 2


@pytest.mark.skipif(ON_JAX, reason="this session already runs on JAX")
def test_the_jax_tests_pass():
    pytest.importorskip("jax")
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3", "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([sys.executable, "-m", "pytest", __file__, "-q", "-n", "0", "-p", "no:cacheprovider"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=540)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    summary = [line for line in output.splitlines() if re.search(r"\d+ passed", line)][-1]
    assert not re.search(r"failed|error", summary), summary
    assert "2 skipped" in summary, summary  # there: only this test and the TensorFlow refusal


def test_every_named_rule_is_token_data_and_a_rule_without_tokens_is_not():
    for text in RULES.values():
        groups = groups_of(text, 4)
        assert groups is not None, text
        code = encode([groups], 4)
        assert code.last[0] == len(groups) - 1
    assert groups_of("g*3", 4) is None  # no token for the constant 3: the current evaluator's
    assert groups_of("exp(sign(g)*sign(m))*g", 1) is None  # three groups do not fit a program of one


def test_the_replay_judges_as_the_copy_monitor():
    """Copy 0 diverges at its 3rd step, copy 1 stalls (its running loss is its first), copy 2 has a NaN
    validation after epoch 1; once none is ok the training stops, without the next epoch's curve point."""
    loss = np.ones((3, 2, 4), np.float32)
    loss[0, 0, 2] = np.inf
    loss[2, :, :] = np.linspace(1.0, 0.1, 8).reshape(2, 4)
    validation = np.array([[0.1, 0.2], [0.3, 0.4], [np.nan, 0.5]])
    judged = Judgement(loss, np.zeros_like(loss), validation, np.array([32, 32, 32, 10]), None, 4, True)
    assert judged.status == [statuses.DIVERGED, statuses.NO_PROGRESS, statuses.DIVERGED]
    assert [len(curve) for curve in judged.curves] == [1, 1, 1] and math.isnan(judged.curves[2][0])
    assert judged.steps == 5  # epoch 1's four steps, and one of epoch 2, after which none was ok
    kept_on = Judgement(loss, np.zeros_like(loss), validation, np.array([32, 32, 32, 10]), None, 4, False)
    # without early stopping only a non-finite validation score marks a copy, and the training runs to its end
    assert kept_on.status == [statuses.OK, statuses.OK, statuses.DIVERGED] and kept_on.steps == 8


def test_the_batched_evaluator_refuses_a_process_on_tensorflow():
    if ON_JAX:
        pytest.skip("this process runs JAX")
    from keras_nos.tasks.batched.evaluator import BatchedEvaluator

    with pytest.raises(KerasNosError, match="KERAS_BACKEND=jax"):
        BatchedEvaluator(TASK)


RULES_TO_MATCH = ["sign(g)*sign(m)*g", "adam", "exp(cd*sign(g)*sign(m))*g", "drop(g, 0.3)*exp(sign(g)*sign(m))",
                  "m + noise", "exp(g)*1e3", "g*3", "no such rule"]


@jax_only
def test_rewards_curves_and_statuses_are_the_current_evaluators():
    """Same start, same batches, same random draws (both on JAX): the same result, rule by rule; a failed
    hurdle, a rule without tokens (trained by the current evaluator itself) and a bad rule included."""
    from keras_nos.tasks.batched.evaluator import BatchedEvaluator
    from keras_nos.tasks.evaluator import Evaluator

    batched = BatchedEvaluator(TASK, epochs=EPOCHS).evaluate(RULES_TO_MATCH)
    current = Evaluator(TASK, epochs=EPOCHS)
    for rule, new in zip(RULES_TO_MATCH, batched):
        old = current.evaluate(rule)
        assert (new.status, new.lr_status, new.steps_trained) == (old.status, old.lr_status, old.steps_trained), rule
        assert abs(new.reward - old.reward) <= 1e-3 and new.best_learning_rate == old.best_learning_rate, rule
        assert new.curves.keys() == old.curves.keys(), rule
        for lr, curve in old.curves.items():
            np.testing.assert_allclose(new.curves[lr], curve, atol=1e-3, err_msg=f"{rule} at {lr}")
    assert [r.status for r in batched[-3:]] == [statuses.FAILED_HURDLE, statuses.OK, statuses.ERROR]


@jax_only
def test_a_nan_in_one_copy_touches_no_other():
    from keras_nos.tasks.batched.evaluator import BatchedEvaluator

    trainer = BatchedEvaluator(TASK, epochs=EPOCHS).trainer
    code = encode([groups_of("adam", 1), groups_of("sign(m)", 1)], 1)
    alone = trainer.train(code.take([0, 1]), [0.01, 0.01])
    together = trainer.train(code.take([0, 0, 1, 1]), [0.01, float("nan"), float("inf"), 0.01])
    assert np.isnan(together.loss[1, -1]).all() and np.isnan(together.validation[1:3]).all()
    for kept, original in ((0, 0), (3, 1)):
        np.testing.assert_array_equal(together.loss[kept], alone.loss[original])
        np.testing.assert_array_equal(together.validation[kept], alone.validation[original])


@jax_only
def test_a_rule_of_more_groups_than_the_program_trains_in_a_larger_program_not_rule_by_rule():
    """A search's program has its space's groups; the text of a rule can need more (``h0^h0`` with a random
    operand in ``h0`` is two draws): a second, larger program trains it, as one of its own size would."""
    from keras_nos.tasks.batched.evaluator import BatchedEvaluator

    rules = ["adam", "sign(g)*sign(m)*g"]
    assert [len(groups_of(rule, 4)) for rule in rules] == [1, 2]
    small = BatchedEvaluator(TASK, epochs=EPOCHS, num_groups=1)
    small._current_evaluator = lambda: pytest.fail("a rule of two groups went to the rule-by-rule evaluator")
    sized = BatchedEvaluator(TASK, epochs=EPOCHS)  # one program of the batch's most groups
    for new, old in zip(small.evaluate(rules), sized.evaluate(rules)):
        assert new.status == old.status == statuses.OK
        assert new.reward == pytest.approx(old.reward, abs=1e-6)
