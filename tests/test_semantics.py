"""One semantics, four consumers: RuleOptimizer, the NumPy stepper, the fingerprint and the exported module agree.

Each of them reads ``keras_nos.dsl.semantics``; these tests run a fixed rule set
through all four and compare the updates they take, on the session's backend and
again on JAX in a fresh interpreter (the backend is fixed at import).
"""

import importlib
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from keras import ops

from keras_nos import RuleOptimizer, parse_rule
from keras_nos.dsl import semantics
from keras_nos.tasks import numpy_stepper

# by module path: keras_nos.dsl.fingerprint is also the name of a function
fingerprint, export = (importlib.import_module(f"keras_nos.{name}") for name in ("dsl.fingerprint", "export"))

ROOT = Path(__file__).resolve().parents[1]

# Rules that read every operand and apply every function, with a learning rate that keeps each one tame.
TRAJECTORY_RULES = [
    ("exp(sign(g)*sign(m))*g", 0.002),
    ("adam", 0.05),
    ("rmsprop*ld + 0.01*m*cd_2", 0.01),
    ("sign(m)*sqrt(v)*rd + g^1.5*rd_0.5", 0.001),
    ("y*g", 1e-8),
    ("log(1 + g^2)*sign(g) - 0.1*w + clip(g, 1)", 0.01),
    ("g/(sqrt(v) + 1)*exp(-cd)", 0.01),
]
STATE_RULES = [
    "g", "m", "v", "y", "w", "adam", "rmsprop", "ld*g + cd*m + rd*g", "cd_2*g + rd_0.5*m - 0.5*w",
    "exp(sign(g)*sign(m))*g", "log(v)*g", "sqrt(v)*sign(m)", "clip(g, 1e-3) + m^1.5", "g/(sqrt(v) + 1)",
]
RANDOM_RULES = ["drop(g, 0.3)*exp(sign(g)*sign(m)) + 0.01*noise"]
STEPS = 30


def test_every_consumer_reads_the_semantics_module():
    for name in ("optimizers.rule_optimizer", "tasks.numpy_stepper", "dsl.fingerprint", "export"):
        assert importlib.import_module(f"keras_nos.{name}").semantics is semantics, name
    assert "keras.src" not in export.module_source("drop(g, 0.3) + noise + cd*adam + rd_2*y", "Everything")


def _exported_class(rule, name, folder):
    """Import the module ``keras-nos export`` writes for ``rule`` and return its optimizer class."""
    path = folder / f"semantics_{name.lower()}.py"
    path.write_text(export.module_source(rule, name, learning_rate=1.0))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


def _keras_trajectory(optimizer, value_and_grad, start, steps):
    w = keras.Variable(start.astype("float32"))
    visited = []
    for _ in range(steps):
        visited.append(ops.convert_to_numpy(w).astype("float64"))
        grad = value_and_grad(visited[-1][None])[1][0]
        optimizer.apply_gradients([(ops.convert_to_tensor(grad.astype("float32")), w)])
    return np.array(visited + [ops.convert_to_numpy(w).astype("float64")])


@pytest.mark.parametrize("index", range(len(TRAJECTORY_RULES)))
def test_optimizer_stepper_and_export_take_the_same_steps(index, tmp_path):
    """On a quadratic, the NumPy twin (float64), RuleOptimizer and the exported class (float32) visit one path."""
    text, lr = TRAJECTORY_RULES[index]
    value_and_grad, start = numpy_stepper.quadratic(dimension=6)
    visited = []

    def recording(w):
        visited.append(w[0].copy())
        return value_and_grad(w)

    numpy_stepper.minimize(parse_rule(text), recording, start, [lr], STEPS, decay_steps=STEPS)
    kwargs = {"learning_rate": lr, "decay_steps": STEPS}
    optimizer = _keras_trajectory(RuleOptimizer(text, **kwargs), value_and_grad, start, STEPS)
    exported_class = _exported_class(text, f"Trajectory{index}", tmp_path)
    exported = _keras_trajectory(exported_class(**kwargs), value_and_grad, start, STEPS)
    assert np.all(np.isfinite(visited)) and np.max(np.abs(visited[-1] - visited[0])) > 1e-3, text
    np.testing.assert_allclose(optimizer, visited, rtol=0, atol=1e-5, err_msg=text)
    np.testing.assert_array_equal(exported, optimizer, err_msg=text)


def _step_from_state(optimizer, rule, values, t):
    """The update ``optimizer`` takes at step ``t`` when its bias-corrected averages come out as ``values``.

    Each slot is seeded with the average that this step's gradient turns into the
    wanted one (solved in float64 with the float32 beta the bias correction uses).
    """
    w = keras.Variable(values["w"].astype("float32"))
    optimizer.build([w])
    optimizer.iterations.assign(int(t))
    for slot in rule.slots():
        average = semantics.AVERAGES[slot]
        beta = getattr(optimizer, average.beta)
        wanted = values[slot] * (1.0 - np.float64(np.float32(beta)) ** (t + 1.0))
        old = (wanted - average.target(np, values["g"]) * (1.0 - beta)) / beta
        slots = optimizer._averages[slot] if isinstance(optimizer, RuleOptimizer) else getattr(optimizer, f"_{slot}")
        slots[0].assign(old.astype("float32"))
    before = ops.convert_to_numpy(w).astype("float64")
    optimizer.apply_gradients([(ops.convert_to_tensor(values["g"].astype("float32")), w)])
    return before - ops.convert_to_numpy(w).astype("float64")


@pytest.mark.parametrize("index", range(len(STATE_RULES)))
def test_fingerprint_computes_the_optimizers_update(index, tmp_path):
    """On the fingerprint's fixed states, RuleOptimizer and the exported class compute the fingerprint's behaviour."""
    text = STATE_RULES[index]
    rule = parse_rule(text)
    behaviour = fingerprint.behaviour(rule)
    exported_class = _exported_class(text, f"State{index}", tmp_path)
    kwargs = {"learning_rate": 1.0, "decay_steps": fingerprint._DECAY_STEPS}
    for (values, t), expected in zip(fingerprint._STATES, behaviour):
        got = _step_from_state(RuleOptimizer(rule, **kwargs), rule, values, t)
        exported = _step_from_state(exported_class(**kwargs), rule, values, t)
        # float32 slots and weights: w - update is read back as a difference, so allow w's rounding too
        error = np.abs(got - expected) / (1e-4 * np.abs(expected) + 1e-6 * (1.0 + np.abs(values["w"])))
        assert np.max(error) <= 1.0, (text, t, np.max(error))
        np.testing.assert_array_equal(exported, got, err_msg=f"{text} at step {t}")


@pytest.mark.parametrize("text", RANDOM_RULES)
def test_export_draws_the_optimizers_noise(text, tmp_path):
    """Noise and drop: the exported class draws what RuleOptimizer draws (NumPy and the fingerprint draw their own)."""
    value_and_grad, start = numpy_stepper.quadratic(dimension=6)
    kwargs = {"learning_rate": 0.01, "seed": 3}
    optimizer = _keras_trajectory(RuleOptimizer(text, **kwargs), value_and_grad, start, STEPS)
    exported = _keras_trajectory(_exported_class(text, "Noisy", tmp_path)(**kwargs), value_and_grad, start, STEPS)
    assert np.max(np.abs(optimizer[-1] - optimizer[0])) > 1e-3
    np.testing.assert_array_equal(exported, optimizer)


@pytest.mark.skipif(keras.backend.backend() == "jax", reason="this session already runs the tests on JAX")
def test_semantics_agree_on_jax():
    pytest.importorskip("jax")
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/test_semantics.py", "-q", "-n", "0", "-p", "no:cacheprovider"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=540,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    summary = [line for line in output.splitlines() if re.search(r"\d+ passed", line)]
    assert summary and not re.search(r"failed|error", summary[-1]), output[-3000:]
    assert re.search(r"1 skipped", summary[-1]), summary[-1]  # only this test, which JAX itself skips
