"""PowerSign, AddSign, RuleOptimizer, the sign decays and the schedules against NumPy references.

Backend-agnostic (keras.ops and NumPy only): tests/test_jax_backend.py runs this
file again with KERAS_BACKEND=jax.
"""

import math

import keras
import numpy as np
import pytest
from keras import ops

from keras_nos import AddSign, PowerSign, RuleOptimizer, make_optimizer, parse_rule
from keras_nos.optimizers import (
    CosineSignDecay,
    LinearCosineDecay,
    LinearSignDecay,
    NoisyLinearCosineDecay,
    RestartSignDecay,
    optimizer_names,
)

STEPS = 100
DECAY_STEPS = 60  # shorter than the run, so the decays are held at t = T for the last 40 steps
SHAPES = ((4, 5), (3,))


def _gradients(steps=STEPS, seed=0):
    rng = np.random.default_rng(seed)
    # a drift makes sign(g) and sign(m) agree often, so both branches of the sign rules are exercised
    return [[(rng.normal(size=shape) + 0.3).astype("float32") for shape in SHAPES] for _ in range(steps)]


def _initial_weights(seed=1):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=shape).astype("float32") for shape in SHAPES]


def _run(optimizer, gradients=None, weights=None):
    """Drive ``optimizer`` with apply_gradients over the fixed gradient sequence; the final weights."""
    gradients = _gradients() if gradients is None else gradients
    variables = [keras.Variable(w) for w in (_initial_weights() if weights is None else weights)]
    for step in gradients:
        optimizer.apply_gradients([(ops.convert_to_tensor(g), v) for g, v in zip(step, variables)])
    return [ops.convert_to_numpy(v) for v in variables]


# ---------------------------------------------------------------------------------------------- NumPy references


def reference_sign_decay(kind, t, total, periods=None):
    if kind is None:
        return 1.0
    t = min(t, total)
    if kind == "linear":
        return max(0.0, (total - t) / total)
    if kind == "cosine":
        periods = 0.5 if periods is None else periods
        return 0.5 * (1 + math.cos(2 * math.pi * periods * t / total))
    if kind == "restart":
        periods = 1.0 if periods is None else periods
        return 0.5 * (1 + math.cos(math.pi * ((periods * t) % total) / total))
    raise ValueError(kind)


def reference_sign_optimizer(kind, learning_rate, beta=0.9, base=math.e, alpha=1.0, decay=None, periods=None,
                             gradients=None, weights=None):
    """PowerSign / AddSign from the formulas, in float64: m <- beta*m + (1-beta)*g (no bias
    correction, updated before use), t = the step count before the update."""
    gradients = _gradients() if gradients is None else gradients
    weights = [w.astype(np.float64) for w in (_initial_weights() if weights is None else weights)]
    moments = [np.zeros_like(w) for w in weights]
    for t, step in enumerate(gradients):
        d = reference_sign_decay(decay, t, DECAY_STEPS, periods)
        for i, g in enumerate(step):
            g = g.astype(np.float64)
            moments[i] = beta * moments[i] + (1 - beta) * g
            agreement = d * np.sign(g) * np.sign(moments[i])
            if kind == "power":
                weights[i] = weights[i] - learning_rate * base ** agreement * g
            else:
                weights[i] = weights[i] - learning_rate * (alpha + agreement) * g
    return weights


def _assert_close(got, expected, tol=1e-6):
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


# ---------------------------------------------------------------------------------------------- PowerSign / AddSign

DECAYS = [(None, None), ("linear", None), ("cosine", None), ("restart", None), ("cosine", 2.0), ("restart", 3.0)]


@pytest.mark.parametrize("decay, periods", DECAYS)
def test_powersign_matches_formula(decay, periods):
    optimizer = PowerSign(learning_rate=0.01, sign_decay=decay, decay_steps=DECAY_STEPS if decay else None,
                          num_periods=periods)
    _assert_close(_run(optimizer), reference_sign_optimizer("power", 0.01, decay=decay, periods=periods))
    assert int(ops.convert_to_numpy(optimizer.iterations)) == STEPS


@pytest.mark.parametrize("decay, periods", DECAYS)
def test_addsign_matches_formula(decay, periods):
    optimizer = AddSign(learning_rate=0.01, sign_decay=decay, decay_steps=DECAY_STEPS if decay else None,
                        num_periods=periods)
    _assert_close(_run(optimizer), reference_sign_optimizer("add", 0.01, decay=decay, periods=periods))


def test_sign_optimizer_parameters():
    _assert_close(_run(PowerSign(learning_rate=0.02, base=2.0, beta=0.5)),
                  reference_sign_optimizer("power", 0.02, beta=0.5, base=2.0))
    _assert_close(_run(AddSign(learning_rate=0.02, alpha=0.5, beta=0.99, sign_decay="linear", decay_steps=DECAY_STEPS)),
                  reference_sign_optimizer("add", 0.02, beta=0.99, alpha=0.5, decay="linear"))


def test_sign_optimizers_where_g_or_m_is_zero():
    """sign(g)*sign(m) = 0 gives base^0 = 1 (PowerSign) and alpha (AddSign): exact zeros of g and of m.

    With beta = 0.5 and dyadic gradients every m is exact, so the second step has m = 0 while g != 0.
    """
    rows = [[1.0, -1.0, 0.0, 2.0, 0.0], [-0.5, 0.5, 1.0, -1.0, 0.0], [1.0, 1.0, -1.0, 3.0, 0.0]]
    gradients = [[np.array([row] * 4, "float32"), np.array(row[:3], "float32")] for row in rows]
    for cls, kind in ((PowerSign, "power"), (AddSign, "add")):
        for decay in (None, "linear"):
            optimizer = cls(learning_rate=0.1, beta=0.5, sign_decay=decay, decay_steps=DECAY_STEPS if decay else None)
            _assert_close(_run(optimizer, gradients),
                          reference_sign_optimizer(kind, 0.1, beta=0.5, decay=decay, gradients=gradients))


@pytest.mark.parametrize(
    "decay_cls, kind, periods",
    [(LinearSignDecay, "linear", None), (CosineSignDecay, "cosine", None), (CosineSignDecay, "cosine", 1.5),
     (RestartSignDecay, "restart", None), (RestartSignDecay, "restart", 4.0)],
)
def test_sign_decay_values(decay_cls, kind, periods):
    decay = decay_cls(DECAY_STEPS) if periods is None else decay_cls(DECAY_STEPS, periods)
    for t in (0, 1, 7, 29, 30, 59, 60, 61, 200):
        assert float(ops.convert_to_numpy(decay(t))) == pytest.approx(reference_sign_decay(kind, t, DECAY_STEPS, periods), abs=1e-6)
    clone = decay_cls.from_config(decay.get_config())
    assert float(ops.convert_to_numpy(clone(17))) == pytest.approx(float(ops.convert_to_numpy(decay(17))))


def test_sign_decay_arguments():
    with pytest.raises(ValueError, match="decay_steps"):
        PowerSign(sign_decay="linear")
    with pytest.raises(ValueError, match="'sideways'.*linear, cosine, restart"):
        AddSign(sign_decay="sideways", decay_steps=10)
    with pytest.raises(ValueError, match="beta"):
        PowerSign(beta=1.0)
    with pytest.raises(ValueError, match="base"):
        PowerSign(base=0.0)
    # any callable of the step is a sign decay
    _assert_close(_run(PowerSign(learning_rate=0.01, sign_decay=lambda step: 0.5)),
                  reference_sign_optimizer("power", 0.01, base=math.e ** 0.5))


# ---------------------------------------------------------------------------------------------- RuleOptimizer


@pytest.mark.parametrize(
    "text, optimizer",
    [
        ("exp(sign(g)*sign(m))*g", lambda: PowerSign(learning_rate=0.01)),
        ("(1 + sign(g)*sign(m))*g", lambda: AddSign(learning_rate=0.01)),
        ("exp(ld*sign(g)*sign(m))*g", lambda: PowerSign(learning_rate=0.01, sign_decay="linear", decay_steps=DECAY_STEPS)),
        ("(1 + cd*sign(g)*sign(m))*g", lambda: AddSign(learning_rate=0.01, sign_decay="cosine", decay_steps=DECAY_STEPS)),
        ("exp(rd*sign(g)*sign(m))*g", lambda: PowerSign(learning_rate=0.01, sign_decay="restart", decay_steps=DECAY_STEPS)),
        ("exp(cd_2*sign(g)*sign(m))*g",
         lambda: PowerSign(learning_rate=0.01, sign_decay="cosine", decay_steps=DECAY_STEPS, num_periods=2)),
    ],
)
def test_rule_optimizer_follows_sign_optimizers(text, optimizer):
    rule_weights = _run(RuleOptimizer(text, learning_rate=0.01, beta_1=0.9, decay_steps=DECAY_STEPS))
    _assert_close(rule_weights, _run(optimizer()))


def test_rule_optimizer_adam_matches_keras_adam():
    # Keras' Adam folds the bias corrections into the step size, so its epsilon is scaled by
    # sqrt(1 - beta_2^t); with a small epsilon against O(1) gradients the two coincide.
    ours = _run(RuleOptimizer("adam", learning_rate=0.01, beta_1=0.9, beta_2=0.999, epsilon=1e-8))
    theirs = _run(keras.optimizers.Adam(learning_rate=0.01, beta_1=0.9, beta_2=0.999, epsilon=1e-8))
    _assert_close(ours, theirs, tol=1e-5)
    # the same rule written out: bias-corrected m / (sqrt(v) + 1e-8)
    _assert_close(_run(RuleOptimizer("m/(sqrt(v) + 1e-8)", learning_rate=0.01)), theirs, tol=1e-5)


def test_rule_optimizer_sgd_and_momentum():
    gradients = _gradients()
    expected = [w.astype(np.float64) for w in _initial_weights()]
    for step in gradients:
        expected = [w - 0.05 * g for w, g in zip(expected, step)]
    _assert_close(_run(RuleOptimizer("g", learning_rate=0.05)), expected)
    _assert_close(_run(RuleOptimizer("-(-g)*1", learning_rate=0.05)), expected)


def _slot_variables(optimizer):
    fixed = {id(optimizer.iterations), id(getattr(optimizer, "_learning_rate", None))}
    return [v for v in optimizer.variables if id(v) not in fixed]


@pytest.mark.parametrize(
    "text, slots",
    [("g", 0), ("sign(g)", 0), ("noise + g", 0), ("1e-3*w + g", 0), ("exp(ld*g)*g", 0), ("drop(g, 0.3)", 0),
     ("m", 1), ("exp(sign(g)*sign(m))*g", 1), ("rmsprop", 1), ("y", 1), ("g^3 + v", 1),
     ("adam", 2), ("m*exp(v)", 2), ("adam*exp(sign(g)*sign(m))", 2), ("m + v + y", 3)],
)
def test_rule_optimizer_allocates_only_used_slots(text, slots):
    variables = [keras.Variable(w) for w in _initial_weights()]
    optimizer = RuleOptimizer(text, decay_steps=10)
    optimizer.build(variables)
    assert len(_slot_variables(optimizer)) == slots * len(variables)
    assert parse_rule(text).slots() == tuple(s for s in ("m", "v", "y") if s in parse_rule(text).slots())


def test_sign_optimizers_have_one_slot():
    variables = [keras.Variable(w) for w in _initial_weights()]
    for optimizer in (PowerSign(), AddSign(sign_decay="cosine", decay_steps=5), keras.optimizers.Adam()):
        optimizer.build(variables)
        per_variable = 2 if isinstance(optimizer, keras.optimizers.Adam) else 1
        assert len(_slot_variables(optimizer)) == per_variable * len(variables)


def _mix32_in_numpy(x):
    x = x ^ (x >> np.uint32(16))
    x = x * np.uint32(0x7FEB352D)
    x = x ^ (x >> np.uint32(15))
    x = x * np.uint32(0x846CA68B)
    return x ^ (x >> np.uint32(16))


def _uniform_in_numpy(size, seed, step, stream):
    """keras_nos' uniform draws, computed in NumPy: what every backend must give."""
    key = np.array([(seed * 1000003 + stream) % (2**31 - 1)], np.uint32)
    key = _mix32_in_numpy(_mix32_in_numpy(key) ^ np.uint32(step))
    counter = np.arange(size, dtype=np.uint32)
    bits = _mix32_in_numpy(_mix32_in_numpy(counter ^ key) + key)
    return (bits >> np.uint32(8)).astype(np.float32) / np.float32(16777216.0)


def test_noise_and_drop_draw_the_same_numbers_on_every_backend():
    """The draws are a hash in keras.ops, not the backend's generator: this test runs on TensorFlow and on JAX
    (test_jax_backend), and both must give NumPy's numbers."""
    from keras_nos.dsl.semantics import random_stream
    from keras_nos.optimizers.random_draws import normal_draw, uniform_draw

    uniform = ops.convert_to_numpy(uniform_draw((40, 50), 3, 7, stream=5))
    np.testing.assert_array_equal(uniform.ravel(), _uniform_in_numpy(2000, 3, 7, 5))
    assert 0 <= uniform.min() and uniform.max() < 1 and abs(uniform.mean() - 0.5) < 0.02
    assert not np.array_equal(uniform, ops.convert_to_numpy(uniform_draw((40, 50), 3, 8, stream=5)))  # the step
    assert not np.array_equal(uniform, ops.convert_to_numpy(uniform_draw((40, 50), 3, 7, stream=6)))  # the stream
    # noise: with g = 0 the weights move by -lr * noise, Box-Muller of two uniform draws
    variable = keras.Variable(np.zeros((200, 50), "float32"))
    RuleOptimizer("noise", learning_rate=1.0, seed=3).apply_gradients([(ops.zeros((200, 50)), variable)])
    first, second = np.split(_uniform_in_numpy(20000, 3, 0, random_stream("noise", 0)), 2)
    expected = 0.1 * np.sqrt(-2 * np.log(1 - first)) * np.cos(2 * np.pi * second)
    np.testing.assert_allclose(-ops.convert_to_numpy(variable).ravel(), expected, atol=2e-6)
    assert ops.convert_to_numpy(normal_draw((), 3, 0)).shape == ()


def test_rule_optimizer_noise_and_drop_are_seeded():
    def weights(text, seed):
        return _run(RuleOptimizer(text, learning_rate=0.1, seed=seed), _gradients(steps=5))

    for text in ("g + noise", "drop(g, 0.5)"):
        first, again, other = weights(text, 0), weights(text, 0), weights(text, 1)
        _assert_close(first, again, tol=0)
        assert not np.allclose(first[0], other[0])
    # noise has the stated spread N(0, 0.01): with g = 0 the weights move by lr * noise
    variable = keras.Variable(np.zeros((200, 50), "float32"))
    optimizer = RuleOptimizer("noise", learning_rate=1.0)
    optimizer.apply_gradients([(ops.zeros((200, 50)), variable)])
    moved = ops.convert_to_numpy(variable)
    assert abs(moved.std() - 0.1) < 0.005 and abs(moved.mean()) < 0.005
    # drop keeps each entry with probability 1 - rate
    variable = keras.Variable(np.zeros((200, 50), "float32"))
    RuleOptimizer("drop(g, 0.3)", learning_rate=1.0).apply_gradients([(ops.ones((200, 50)), variable)])
    moved = -ops.convert_to_numpy(variable)
    assert (np.isclose(moved, 0.0) | np.isclose(moved, 1 / 0.7)).all()
    assert abs((moved == 0).mean() - 0.3) < 0.03


def test_rule_optimizer_config_round_trip():
    optimizer = RuleOptimizer("exp(cd*sign(g)*sign(m))*g", learning_rate=0.02, beta_1=0.8, decay_steps=40, seed=3)
    clone = RuleOptimizer.from_config(optimizer.get_config())
    assert clone.rule == optimizer.rule and clone.decay_steps == 40 and clone.seed == 3 and clone.beta_1 == 0.8
    for optimizer in (PowerSign(sign_decay="restart", decay_steps=9, num_periods=2.0, base=2.0),
                      AddSign(alpha=0.5, sign_decay="linear", decay_steps=9)):
        clone = type(optimizer).from_config(optimizer.get_config())
        assert clone.get_config() == optimizer.get_config()
        assert float(ops.convert_to_numpy(clone.sign_decay(4))) == pytest.approx(float(ops.convert_to_numpy(optimizer.sign_decay(4))))


# ---------------------------------------------------------------------------------------------- inside model.fit

X = np.random.default_rng(3).normal(size=(32, 4)).astype("float32")
Y = (X @ np.array([[1.0], [-2.0], [0.5], [3.0]], "float32") + 0.1).astype("float32")


def _model():
    keras.utils.set_random_seed(7)
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(1)])


def _fit(optimizer, epochs=2, jit_compile="auto", model=None):
    model = model or _model()
    model.compile(optimizer=optimizer, loss="mse", jit_compile=jit_compile)
    history = model.fit(X, Y, batch_size=8, epochs=epochs, shuffle=False, verbose=0)
    return model, history.history["loss"]


OPTIMIZERS = {
    "powersign": lambda **kw: PowerSign(learning_rate=0.02, **kw),
    "addsign": lambda **kw: AddSign(learning_rate=0.02, sign_decay="linear", decay_steps=8, **kw),
    "rule": lambda **kw: RuleOptimizer("adam*exp(sign(g)*sign(m))", learning_rate=0.02, **kw),
}
BASE_ARGUMENTS = {
    "weight_decay": {"weight_decay": 0.5},
    "clipnorm": {"clipnorm": 1e-3},
    "clipvalue": {"clipvalue": 1e-4},
    "global_clipnorm": {"global_clipnorm": 1e-3},
    "use_ema": {"use_ema": True, "ema_momentum": 0.5},
    "loss_scale_factor": {"loss_scale_factor": 128.0},
    "gradient_accumulation_steps": {"gradient_accumulation_steps": 2},
}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_base_optimizer_arguments(name):
    """Every argument of keras.optimizers.Optimizer works in model.fit and has its effect."""
    baseline, _ = _fit(OPTIMIZERS[name]())
    plain = [ops.convert_to_numpy(w) for w in baseline.get_weights()]
    for argument, kwargs in BASE_ARGUMENTS.items():
        optimizer = OPTIMIZERS[name](**kwargs)
        model, losses = _fit(optimizer)
        weights = model.get_weights()
        assert np.isfinite(losses).all(), argument
        assert all(np.isfinite(w).all() for w in weights), argument
        assert optimizer.get_config()[argument] == kwargs[argument]
        same = all(np.allclose(a, b, atol=1e-6) for a, b in zip(weights, plain))
        if argument == "loss_scale_factor":  # scaled up, then down again: the same training
            assert same, argument
        else:
            assert not same, f"{argument} had no effect"
        if argument == "gradient_accumulation_steps":
            assert int(ops.convert_to_numpy(optimizer.iterations)) == 4  # 8 batches, an update every 2nd


@pytest.mark.parametrize("cls", [PowerSign, AddSign, RuleOptimizer])
def test_docstring_lists_the_base_optimizer_arguments(cls):
    """help() shows the keyword arguments every Keras optimizer takes, not the placeholder they replace."""
    assert "{{" not in cls.__doc__
    assert all(argument in cls.__doc__ for argument in BASE_ARGUMENTS)


@pytest.mark.parametrize(
    "optimizer",
    [
        lambda: PowerSign(learning_rate=0.02, sign_decay="cosine", decay_steps=8),
        lambda: AddSign(learning_rate=0.02),
        lambda: RuleOptimizer("g + noise", learning_rate=0.02),
        lambda: RuleOptimizer("drop(m, 0.3)*exp(ld*sign(g)*sign(m))", learning_rate=0.02, decay_steps=8),
    ],
    ids=["powersign", "addsign", "noise", "drop"],
)
def test_jit_compile_training(optimizer):
    model, losses = _fit(optimizer(), jit_compile=True)
    assert np.isfinite(losses).all()
    assert losses[-1] < losses[0]
    assert all(np.isfinite(w).all() for w in model.get_weights())


def test_jit_compile_matches_eager_trajectory():
    jitted, _ = _fit(PowerSign(learning_rate=0.02, sign_decay="linear", decay_steps=8), jit_compile=True)
    plain, _ = _fit(PowerSign(learning_rate=0.02, sign_decay="linear", decay_steps=8), jit_compile=False)
    _assert_close(jitted.get_weights(), plain.get_weights(), tol=1e-5)


# ---------------------------------------------------------------------------------------------- schedules


def reference_linear_cosine(step, lr, total, num_periods=0.5, alpha=0.0, beta=0.001, noise=0.0):
    """TensorFlow 1's (noisy_)linear_cosine_decay."""
    t = min(step, total)
    linear = (total - t) / total + noise
    cosine = 0.5 * (1 + math.cos(math.pi * 2 * num_periods * t / total))
    return lr * ((alpha + linear) * cosine + beta)


@pytest.mark.parametrize("kwargs", [{}, {"num_periods": 2.0, "alpha": 0.1, "beta": 0.01}])
def test_linear_cosine_decay(kwargs):
    schedule = LinearCosineDecay(0.1, decay_steps=20, **kwargs)
    for step in (0, 1, 5, 10, 19, 20, 21, 100):
        assert float(ops.convert_to_numpy(schedule(step))) == pytest.approx(reference_linear_cosine(step, 0.1, 20, **kwargs), abs=1e-7)
    assert LinearCosineDecay.from_config(schedule.get_config()).get_config() == schedule.get_config()
    with pytest.raises(ValueError, match="decay_steps"):
        LinearCosineDecay(0.1, decay_steps=0)


def test_noisy_linear_cosine_decay():
    total, lr = 10_000, 0.1
    schedule = NoisyLinearCosineDecay(lr, decay_steps=total, initial_variance=1.0, variance_decay=0.55, seed=5)
    value = lambda s, step: float(ops.convert_to_numpy(s(step)))  # noqa: E731
    # deterministic per step, different between steps and seeds
    assert value(schedule, 12) == value(schedule, 12)
    assert value(schedule, 12) != value(schedule, 13)
    assert value(NoisyLinearCosineDecay(lr, decay_steps=total, seed=6), 12) != value(schedule, 12)
    assert value(NoisyLinearCosineDecay.from_config(schedule.get_config()), 12) == value(schedule, 12)
    # the noise of the linear term, normalised by its stddev sqrt(1 / (1 + t)^0.55), is N(0, 1)
    steps = range(0, 600)
    z = []
    for step in steps:
        clean = reference_linear_cosine(step, lr, total)
        cosine = 0.5 * (1 + math.cos(math.pi * step / total))
        noise = (value(schedule, step) - clean) / (lr * cosine)
        z.append(noise / math.sqrt(1.0 / (1.0 + step) ** 0.55))
    z = np.array(z)
    assert abs(z.mean()) < 0.15
    assert 0.85 < z.std() < 1.15
    # a fresh draw every step after decay_steps too (num_periods=1 keeps the cosine at 1 there)
    periodic = NoisyLinearCosineDecay(lr, decay_steps=10, num_periods=1.0, seed=5)
    assert len({value(periodic, step) for step in (11, 12, 13)}) == 3


# ---------------------------------------------------------------------------------------------- save, load, continue


SAVED = {
    "powersign-cosine": lambda: PowerSign(learning_rate=0.02, sign_decay="cosine", decay_steps=16),
    "addsign": lambda: AddSign(learning_rate=0.02),
    "rule-m-v": lambda: RuleOptimizer("adam*exp(sign(g)*sign(m))", learning_rate=0.02),
    "rule-noise": lambda: RuleOptimizer("m + noise*v", learning_rate=0.02, seed=4),
    "noisy-schedule": lambda: PowerSign(learning_rate=NoisyLinearCosineDecay(0.05, decay_steps=16, seed=2)),
}


@pytest.mark.parametrize("name", list(SAVED))
def test_save_load_continue(name, tmp_path):
    uninterrupted, _ = _fit(SAVED[name](), epochs=4)

    model, _ = _fit(SAVED[name](), epochs=2)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded.optimizer) is type(model.optimizer)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert int(ops.convert_to_numpy(loaded.optimizer.iterations)) == 8
    saved_slots, loaded_slots = _slot_variables(model.optimizer), _slot_variables(loaded.optimizer)
    assert len(loaded_slots) == len(saved_slots) > 0
    for a, b in zip(saved_slots, loaded_slots):
        np.testing.assert_array_equal(ops.convert_to_numpy(a), ops.convert_to_numpy(b))

    loaded.fit(X, Y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    assert int(ops.convert_to_numpy(loaded.optimizer.iterations)) == 16
    _assert_close(loaded.get_weights(), uninterrupted.get_weights(), tol=1e-6)


# ---------------------------------------------------------------------------------------------- make_optimizer


def test_make_optimizer_every_name():
    names = optimizer_names()
    assert {"sgd", "momentum", "adam", "rmsprop", "lion", "powersign", "addsign-rd", "nos-1", "nos-15", "signum"} <= set(names)
    for name in names:
        optimizer = make_optimizer(name, learning_rate=0.01, decay_steps=10)
        assert isinstance(optimizer, keras.optimizers.Optimizer), name
        variable = keras.Variable(np.ones((3,), "float32"))
        optimizer.apply_gradients([(ops.convert_to_tensor(np.array([0.5, -1.0, 2.0], "float32")), variable)])
        assert np.isfinite(ops.convert_to_numpy(variable)).all(), name
    assert isinstance(make_optimizer("adam"), keras.optimizers.Adam)
    assert isinstance(make_optimizer("Lion "), keras.optimizers.Lion)
    assert make_optimizer("momentum").momentum == 0.9
    assert type(make_optimizer("powersign")) is PowerSign and make_optimizer("powersign").sign_decay is None
    assert isinstance(make_optimizer("powersign-ld", decay_steps=10).sign_decay, LinearSignDecay)
    assert isinstance(make_optimizer("addsign-cd", decay_steps=10).sign_decay, CosineSignDecay)
    assert isinstance(make_optimizer("addsign-rd", decay_steps=10).sign_decay, RestartSignDecay)
    assert make_optimizer("nos-4").rule == parse_rule("drop(g, 0.3)*exp(sign(g)*sign(m))")
    assert make_optimizer("signsgd").rule == parse_rule("sign(g)")
    assert make_optimizer("addsign", learning_rate=0.3).get_config()["learning_rate"] == pytest.approx(0.3)


def test_make_optimizer_rule_text():
    optimizer = make_optimizer("exp(sign(g)*sign(m))*g", learning_rate=0.01, beta_1=0.5)
    assert isinstance(optimizer, RuleOptimizer) and optimizer.beta_1 == 0.5
    assert make_optimizer("exp(ld*g)*m", decay_steps=5).decay_steps == 5
    assert make_optimizer(parse_rule("m*exp(v)")).rule == parse_rule("m*exp(v)")


@pytest.mark.parametrize("spec", ["nope", "powersign-xx", "exp(g", "adamw", ""])
def test_make_optimizer_bad_spec(spec):
    with pytest.raises(ValueError) as info:
        make_optimizer(spec)
    assert repr(spec) in str(info.value)
    assert "powersign" in str(info.value) or "decay_steps" in str(info.value)


def test_make_optimizer_decay_needs_steps():
    with pytest.raises(ValueError, match="'addsign-ld'.*decay_steps"):
        make_optimizer("addsign-ld")
    with pytest.raises(ValueError, match="'ld' at position 0.*decay_steps"):
        make_optimizer("ld*g")


@pytest.mark.tensorflow_only
@pytest.mark.parametrize("make", [
    lambda: RuleOptimizer("g*g^2 + exp(sign(g)*sign(m))*g + adam", learning_rate=0.1),
    lambda: AddSign(learning_rate=0.1),
    lambda: PowerSign(learning_rate=0.1),
])
def test_embedding_gradients_with_repeated_rows_update_as_dense_ones(make):
    """tf.IndexedSlices from an Embedding, ids repeated: the same step as the dense gradient gives."""
    import tensorflow as tf

    if keras.backend.backend() != "tensorflow":
        pytest.skip("IndexedSlices are TensorFlow's")
    ids = tf.constant([[1, 3, 1, 1], [3, 0, 2, 1]])
    weights = {}
    for form in ("sparse", "dense"):
        keras.utils.set_random_seed(0)
        embedding = keras.layers.Embedding(5, 3)
        embedding.build((None, 4))
        optimizer = make()
        for _ in range(3):
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(tf.sin(embedding(ids)) * tf.range(1.0, 4.0))
            (gradient,) = tape.gradient(loss, embedding.trainable_variables)
            assert isinstance(gradient, tf.IndexedSlices)
            if form == "dense":
                gradient = tf.convert_to_tensor(gradient)
            optimizer.apply([gradient], embedding.trainable_variables)
        weights[form] = embedding.embeddings.numpy()
    np.testing.assert_allclose(weights["sparse"], weights["dense"], rtol=1e-6)
    assert not np.allclose(weights["dense"][4], weights["dense"][1])  # row 4 never used, row 1 moved
