"""The rule language: text and token forms, precedence, fingerprints, primitives and error messages."""

import math
import random

import numpy as np
import pytest

from keras_nos import named_rules
from keras_nos.dsl import (
    BINARY_TOKENS, DECAY_OPERAND_TOKENS, OPERAND_TOKENS, UNARY_TOKENS, Rule, fingerprint, parse_rule, rule_to_tokens,
    tokens_to_rule,
)
from keras_nos.dsl import primitives
from keras_nos.dsl.rule import Binary, Const, Operand, Unary

EXTRA_RULES = [
    "exp(sign(g)*sign(m))*g",
    "(1 + sign(g)*sign(m))*g",
    "m/(sqrt(v)+1e-8)",
    "exp(ld*sign(g)*sign(m))*g",
    # unary minus
    "-g", "--g", "-(-g)", "-g^2", "(-g)^2", "-(g*m)", "-exp(g)", "g - -2", "g*-2", "-1*g", "(-1)*g", "-(1)",
    # powers: right-associative, tighter than unary minus on the left, a unary minus allowed in the exponent
    "g^2", "g^3", "g^-1", "2^-1*g", "g^g^2", "(g^g)^2", "g^-g^2", "g^(m + 1)", "(-2)^2", "-2^2", "g^(-1)^2", "2^0.5",
    # clip and drop, with any argument
    "clip(g, 1e-4)", "drop(m, 0.5)", "clip(adam, 1e-5) + drop(g*m, 0.1)", "drop(drop(g, 0.1), 0.3)", "clip(-g, 2)",
    # associativity, division and numbers
    "g - (m - v)", "g - m + v", "g/(m*v)", "g/m*v", "g/(m/v)", "(g + m)*(v - y)", "1.5e10*g", ".5*g", "1e-300*g",
    "0.1*w", "1e-3*w", "log(v) + sqrt(y)", "noise + rmsprop", "cd_2*rd_0.5*g", "ld*cd*rd*g", "sign(sign(g))",
]
ALL_TEXTS = list(named_rules.RULES.values()) + EXTRA_RULES


@pytest.mark.parametrize("text", ALL_TEXTS)
def test_text_round_trip(text):
    rule = parse_rule(text)
    assert parse_rule(str(rule)) == rule
    assert str(parse_rule(str(rule))) == str(rule)  # the canonical text is a fixed point
    assert parse_rule(rule) is rule


@pytest.mark.parametrize("name", named_rules.names())
def test_registered_rules_parse(name):
    assert named_rules.get_rule(name) == parse_rule(named_rules.RULES[name])


def test_canonical_text_of_paper_rules():
    assert str(parse_rule("exp( sign(g) * sign(m) ) * g")) == "exp(sign(g)*sign(m))*g"
    assert str(parse_rule("(1+sign(g)*sign(m))*g")) == "(1 + sign(g)*sign(m))*g"
    assert str(parse_rule("m/(sqrt(v)+1e-8)")) == "m/(sqrt(v) + 1e-8)"
    assert str(parse_rule("((g))")) == "g"
    assert str(parse_rule("(g*m)*v")) == "g*m*v"
    assert str(parse_rule("g*(m*v)")) == "g*(m*v)"


def test_tree_shapes():
    g, m = Operand("g"), Operand("m")
    assert parse_rule("-g^2").root == Unary("neg", Binary("pow", g, Const(2.0)))
    assert parse_rule("g^m^2").root == Binary("pow", g, Binary("pow", m, Const(2.0)))
    assert parse_rule("g - m - 1").root == Binary("sub", Binary("sub", g, m), Const(1.0))
    assert parse_rule("-2").root == Const(-2.0)  # a negative literal is one constant
    assert parse_rule("clip(g, 1e-4)").root == Unary("clip", g, 1e-4)


# Text -> value with Python's own precedence (** for ^), so the parser's precedence is checked numerically.
VALUES = {"g": 3.0, "m": -2.0, "v": 4.0, "y": 0.5, "w": 1.5}
PRECEDENCE_CASES = [
    "2 + 3*4", "2*3 + 4", "8 - 4 - 2", "8/4/2", "8/4*2", "2*3^2", "2^3^2", "-2^2", "(-2)^2", "2^-1", "2^-1*g",
    "-g^2", "g - -m", "g*-m", "-g*m", "g^y", "m^2", "m^3", "g + m*v - y", "(g + m)*(v - y)", "g/m/v", "g/(m/v)",
    "v^y^2", "-(g + m)*v", "g - m + v", "g^2 - m^2/v", "1 + g^-2", "2*g^m", "--g", "g^-y",
]


def _python_value(text):
    return eval(text.replace("^", "**"), {}, dict(VALUES))  # noqa: S307 - fixed test expressions


@pytest.mark.parametrize("text", PRECEDENCE_CASES)
def test_precedence_numerically(text):
    expected = _python_value(text)
    got = parse_rule(text).evaluate(np, lambda name: np.float64(VALUES[name]))
    # divisions add the 1e-8 delta of primitives.divide, so compare with a tolerance
    assert float(got) == pytest.approx(expected, rel=1e-6)
    # the canonical text means the same thing
    assert float(parse_rule(str(parse_rule(text))).evaluate(np, lambda name: np.float64(VALUES[name]))) == pytest.approx(expected, rel=1e-6)


def test_evaluate_functions():
    values = {"g": np.array([-4.0, 0.0, 9.0]), "m": np.array([1.0, -1.0, 2.0]), "uniform": np.array([0.0, 0.5, 0.9])}
    operand = values.__getitem__
    np.testing.assert_allclose(parse_rule("sqrt(g)").evaluate(np, operand), [2.0, 0.0, 3.0])
    np.testing.assert_allclose(parse_rule("sign(g)*sign(m)").evaluate(np, operand), [-1.0, 0.0, 1.0])
    np.testing.assert_allclose(parse_rule("exp(sign(g)*sign(m))*g").evaluate(np, operand), [-4 / math.e, 0.0, 9 * math.e])
    np.testing.assert_allclose(parse_rule("clip(g, 2)").evaluate(np, operand), [-2.0, 0.0, 2.0])
    np.testing.assert_allclose(parse_rule("drop(m, 0.3)").evaluate(np, operand), [0.0, -1 / 0.7, 2 / 0.7])
    np.testing.assert_allclose(parse_rule("log(g)").evaluate(np, operand), [math.log(4.0), math.log(1e-30), math.log(9.0)])


# ---------------------------------------------------------------------------------------------- tokens


def test_tokens_of_paper_rules():
    assert parse_rule("exp(sign(g)*sign(m))*g") == tokens_to_rule(
        ["sign(g)", "sign(m)", "identity", "identity", "mul", "h0", "g", "exp", "identity", "mul"]
    )
    assert tokens_to_rule(["g", "m", "identity", "identity", "left"]) == parse_rule("g")
    assert tokens_to_rule(["1", "g", "neg", "exp", "add"]) == parse_rule("-1 + exp(g)")
    assert tokens_to_rule(["m", "g", "drop(0.3)", "clip(1e-4)", "sub"]) == parse_rule("drop(m, 0.3) - clip(g, 1e-4)")
    assert tokens_to_rule(["1e-4*w", "ld", "exp", "identity", "mul"]) == parse_rule("exp(1e-4*w)*ld")


@pytest.mark.parametrize("text", ALL_TEXTS)
def test_to_tokens_and_back(text):
    rule = parse_rule(text)
    try:
        tokens = rule_to_tokens(rule)
    except ValueError as error:  # constants such as 3 or 1e-8 have no token
        assert "has no token" in str(error)
        return
    assert len(tokens) % 5 == 0
    assert tokens_to_rule(tokens) == rule


def test_token_form_of_operand_compounds():
    # a rule that is a single operand token (even one written as a product or a power) is one 'left' group
    for token in OPERAND_TOKENS + DECAY_OPERAND_TOKENS:
        rule = parse_rule(token)
        assert rule_to_tokens(rule) == [token, token, "identity", "identity", "left"]
        assert tokens_to_rule(rule_to_tokens(rule)) == rule


def _random_tokens(rng, groups):
    tokens = []
    for k in range(groups):
        operands = list(OPERAND_TOKENS + DECAY_OPERAND_TOKENS) + [f"h{j}" for j in range(k)]
        tokens += [rng.choice(operands), rng.choice(operands), rng.choice(UNARY_TOKENS), rng.choice(UNARY_TOKENS),
                   rng.choice(BINARY_TOKENS)]
    return tokens


def test_random_token_groups_round_trip():
    rng = random.Random(2017)
    for _ in range(600):
        rule = tokens_to_rule(_random_tokens(rng, rng.randint(1, 5)))
        assert tokens_to_rule(rule_to_tokens(rule)) == rule
        assert parse_rule(str(rule)) == rule


@pytest.mark.parametrize(
    "tokens, words",
    [
        (["g", "m", "exp", "identity", "foo"], ["'foo'", "position 4", "add, sub, mul, div, pow, left"]),
        (["g", "q", "exp", "identity", "add"], ["'q'", "position 1", "g, g^2"]),
        (["g", "m", "bogus", "identity", "add"], ["'bogus'", "position 2", "identity, neg, exp"]),
        (["h0", "m", "exp", "identity", "add"], ["'h0'", "position 0", "allowed"]),
        (["g", "m", "exp", "identity", "add", "h0", "h1", "exp", "identity", "add"], ["'h1'", "position 6", "h0"]),
        (["g"], ["groups of 5", "1 tokens"]),
        ([], ["groups of 5", "0 tokens"]),
    ],
)
def test_bad_tokens(tokens, words):
    with pytest.raises(ValueError) as info:
        tokens_to_rule(tokens)
    for word in words:
        assert word in str(info.value)


# ---------------------------------------------------------------------------------------------- fingerprints


@pytest.mark.parametrize(
    "left, right",
    [
        ("g*1", "g"),
        ("sign(g)*sign(m)", "sign(m)*sign(g)"),
        ("m/sqrt(v)", "adam"),
        ("g/sqrt(v)", "rmsprop"),
        ("g + m", "m + g"),
        ("--g", "g"),
        ("exp(sign(g)*sign(m))*g", "g*exp(sign(m)*sign(g))"),
        ("2*g", "g + g"),
        ("drop(g, 0.3)*exp(sign(g)*sign(m))", "exp(sign(g)*sign(m))*drop(g, 0.3)"),
        ("noise + g", "g + noise"),
    ],
)
def test_equal_behaviour_equal_fingerprint(left, right):
    assert fingerprint(left) == fingerprint(right)
    assert fingerprint(parse_rule(left)) == fingerprint(right)


def test_different_rules_differ():
    texts = [
        "g", "m", "adam", "rmsprop", "sign(g)", "sign(m)", "exp(sign(g)*sign(m))*g", "(1 + sign(g)*sign(m))*g",
        "exp(ld*sign(g)*sign(m))*g", "exp(cd*sign(g)*sign(m))*g", "exp(rd*sign(g)*sign(m))*g", "exp(cd_2*g)",
        "drop(g, 0.3)", "drop(g, 0.1)", "clip(g, 1e-4)", "g + noise", "g^2", "-g", "2*g", "m*exp(v)", "1e-3*w",
    ] + list(named_rules.PAPER_RULES.values())
    prints = {fingerprint(text) for text in set(texts)}
    assert len(prints) == len(set(texts))
    assert all(len(p) == 16 for p in prints)


# ---------------------------------------------------------------------------------------------- primitives

GRID = np.array([0.0, 1e-30, -1e-30, 1e-8, -1e-8, 1.0, -1.0, 1e10, -1e10, 3e38, -3e38])
F32_MAX = float(np.finfo(np.float32).max)


def _namespaces():
    import keras

    def ops_call(fn, *args):
        tensors = [keras.ops.convert_to_tensor(np.asarray(a, np.float32)) if isinstance(a, np.ndarray) else a for a in args]
        return keras.ops.convert_to_numpy(fn(keras.ops, *tensors))

    def np_call(fn, *args):
        with np.errstate(all="ignore"):
            return np.asarray(fn(np, *[np.asarray(a, np.float32) if isinstance(a, np.ndarray) else a for a in args]))

    return {"numpy": np_call, "keras.ops": ops_call}


def _exact(fn, *args):
    """The same function in float64: the mathematical value, which tells where float32 may not hold it."""
    with np.errstate(all="ignore"):
        return np.asarray(fn(np, *[np.asarray(a, np.float64) if isinstance(a, np.ndarray) else a for a in args]), np.float64)


def _fits(values):
    return np.isfinite(values) & (np.abs(values) <= F32_MAX)


@pytest.mark.parametrize("namespace", ["numpy", "keras.ops"])
@pytest.mark.parametrize("name", sorted(primitives.UNARY) + ["clip"])
def test_unary_primitives_finite_everywhere(namespace, name):
    """exp (capped at e^80), log (|x| floored at 1e-30), sqrt (of |x|), sign, neg and clip are finite on every finite input."""
    fn = primitives.UNARY.get(name) or (lambda xp, x: primitives.clip(xp, x, 1e-4))
    out = _namespaces()[namespace](fn, GRID)
    assert np.isfinite(out).all(), (name, out)


def test_exp_is_capped():
    assert np.isfinite(primitives.exp(np, np.float32(3e38)))
    assert primitives.exp(np, np.float32(1e10)) == np.exp(np.float32(primitives.EXP_MAX_ARGUMENT))
    assert primitives.log(np, np.float32(0.0)) == pytest.approx(math.log(1e-30))


@pytest.mark.parametrize("namespace", ["numpy", "keras.ops"])
@pytest.mark.parametrize("uniform", [0.0, 0.5, 0.99])
def test_drop_finite_unless_rescaling_overflows(namespace, uniform):
    """drop scales kept entries by 1/(1-rate): finite unless |x|/(1-rate) exceeds the float32 range (x = +-3e38)."""
    rate = 0.3
    fn = lambda xp, x: primitives.drop(xp, x, rate, uniform)  # noqa: E731
    out = _namespaces()[namespace](fn, GRID)
    fits = _fits(_exact(fn, GRID))
    assert np.isfinite(out[fits]).all()
    assert not np.isnan(out).any()
    assert set(np.abs(GRID[~fits])) <= {3e38}  # the only exception: rescaling the largest values
    if uniform < rate:
        assert (out == 0).all()


@pytest.mark.parametrize("namespace", ["numpy", "keras.ops"])
@pytest.mark.parametrize("name", sorted(primitives.BINARY))
def test_binary_primitives_finite_where_the_result_fits(namespace, name):
    """Every binary function is finite wherever its exact value fits in float32.

    Documented exceptions (the value itself is out of range): add/sub/mul overflow
    (3e38 + 3e38, 1e10 * 1e30); div by a tiny denominator (x / (y + 1e-8) with
    |x| = 3e38); power overflows (1e10^1e10) and 0 or 1e-30 to a negative power is
    a pole (inf, NaN for a non-integer exponent such as 0^-1e-8). div never divides
    by zero: the 1e-8 delta takes y's sign.
    """
    fn = primitives.BINARY[name]
    x, y = np.meshgrid(GRID, GRID, indexing="ij")
    out = _namespaces()[namespace](fn, x, y)
    exact = _exact(fn, x, y)
    fits = _fits(exact)
    assert np.isfinite(out[fits]).all(), list(zip(x[fits & ~np.isfinite(out)], y[fits & ~np.isfinite(out)]))
    if name in ("left", "div"):
        assert _fits(exact).sum() >= (x.size if name == "left" else x.size - 10)
    if name != "pow":
        assert not np.isnan(out).any()
    else:  # NaN only at the pole 0^(negative non-integer)
        nan = np.isnan(out)
        assert (x[nan] == 0).all() and (y[nan] < 0).all() and (y[nan] != np.round(y[nan])).all()
    if name in ("add", "sub", "mul", "div"):  # out of range only where the exact value is huge
        assert (np.abs(exact[~fits]) > F32_MAX).all()


def test_division_denominator_never_zero():
    y = np.array([0.0, -0.0, 1e-30, -1e-30, -1e-8, 1e-8], np.float32)
    out = primitives.divide(np, np.float32(1.0), y)
    assert np.isfinite(out).all()
    assert out[0] == pytest.approx(1e8)
    assert (np.sign(out[[3, 4]]) == -1).all()


def test_power_odd_extension():
    assert primitives.power(np, np.float64(-8.0), 1.0 / 3.0) == pytest.approx(-2.0)
    assert primitives.power(np, np.float64(-3.0), 2.0) == pytest.approx(9.0)
    with np.errstate(invalid="ignore"):  # the unselected branch of the where computes (-8)^(1/3) = NaN
        out = primitives.power(np, np.array([-8.0, -3.0]), np.array([1.0 / 3.0, 2.0]))
    np.testing.assert_allclose(out, [-2.0, 9.0])


@pytest.mark.parametrize("namespace", ["numpy", "keras.ops"])
def test_a_tensor_power_is_the_plain_power_for_whole_exponents_and_the_odd_extension_otherwise(namespace):
    x = np.array([-2.0, -2.0, -2.0, -0.5, 0.0, 0.0, 0.0, 0.0, 3.0, 1e-3, 7.0, -1.0], np.float32)
    y = np.array([3.0, 2.0, 0.5, -2.0, 2.0, -1.0, 0.0, 0.5, 1.5, -0.3, -4.0, 0.7], np.float32)
    with np.errstate(all="ignore"):
        whole = y == np.round(y)
        expected = np.where(whole, np.power(x, y), np.sign(x) * np.power(np.abs(x), y))
        out = np.asarray(_namespaces()[namespace](lambda xp, x, y: primitives.power(xp, x, y), x, y))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, expected, rtol=1e-6)  # 0^-1 = inf and 0^0 = 1 included


@pytest.mark.parametrize("namespace", ["numpy", "keras.ops"])
def test_decays_finite_and_in_range(namespace):
    t = np.array([0.0, 1.0, 50.0, 99.0, 100.0, 101.0, 1e6, 3e38])
    call = _namespaces()[namespace]
    for fn in (
        lambda xp, t: primitives.linear_decay(xp, t, 100.0),
        lambda xp, t: primitives.cosine_decay(xp, t, 100.0, 0.5),
        lambda xp, t: primitives.cosine_decay(xp, t, 100.0, 3.0),
        lambda xp, t: primitives.restart_decay(xp, t, 100.0, 1.0),
        lambda xp, t: primitives.restart_decay(xp, t, 100.0, 2.5),
    ):
        out = call(fn, t)
        assert np.isfinite(out).all()
        assert ((out >= -1e-6) & (out <= 1 + 1e-6)).all()
        assert out[0] == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "text, words",
    [
        ("foo*g", ["'foo'", "position 0", "allowed", "g, w, noise, m, v, y", "exp", "clip(x, c)"]),
        ("g + bar", ["'bar'", "position 4", "allowed"]),
        ("cd_x*g", ["'cd_x'", "position 0", "cd_N"]),
        ("exp(g, 2)", ["','", "position 5", "exp(x) takes 1 argument"]),
        ("sqrt(g, m)", ["','", "position 6", "takes 1 argument"]),
        ("clip(g)", ["')'", "position 6", "clip(x, c) takes 2 arguments"]),
        ("drop(g)", ["')'", "position 6", "drop(x, c) takes 2 arguments"]),
        ("clip(g, m)", ["'m'", "position 8", "must be a number"]),
        ("clip(g, 1, 2)", ["','", "position 9", "clip(x, c) takes 2 arguments"]),
        ("drop(g, 1.5)", ["'1.5'", "position 8", "[0, 1)"]),
        ("clip(g, 0)", ["'0'", "position 8", "positive"]),
        ("(g + m", ["end of text", "position 6", "expected ')'"]),
        ("exp(g", ["end of text", "position 5", "expected ')'"]),
        ("((g)", ["end of text", "position 4", "expected ')'"]),
        ("g + m)", ["')'", "position 5", "Unbalanced parentheses"]),
        ("g)*(m", ["')'", "position 1", "Unbalanced parentheses"]),
        ("g +", ["end of text", "position 3", "a number, a name or '('"]),
        ("sign()", ["')'", "position 5", "a number, a name or '('"]),
        ("exp g", ["'g'", "position 4", "needs parentheses"]),
        ("g m", ["'m'", "position 2", "operator (+ - * / ^)"]),
        ("g $ m", ["'$'", "position 2", "allowed", "+ - * / ^ ( ) ,"]),
        ("", ["Empty rule", "position 0", "exp(sign(g)*sign(m))*g"]),
        ("   ", ["Empty rule", "position 0", "exp(sign(g)*sign(m))*g"]),
    ],
)
def test_bad_text_messages(text, words):
    with pytest.raises(ValueError) as info:
        parse_rule(text)
    message = str(info.value)
    for word in words:
        assert word in message, (word, message)


def test_not_text():
    with pytest.raises(ValueError, match="must be text or a Rule"):
        parse_rule(3)


@pytest.mark.parametrize("text, name, position", [("ld*g", "ld", 0), ("exp(rd_2*g)", "rd_2", 4), ("g*cd", "cd", 2)])
def test_decay_operand_without_decay_steps(text, name, position):
    from keras_nos import RuleOptimizer

    with pytest.raises(ValueError) as info:
        RuleOptimizer(text)
    message = str(info.value)
    assert repr(name) in message and f"position {position}" in message and "decay_steps" in message
    RuleOptimizer(text, decay_steps=10)  # fine with it


def test_importing_the_cli_does_not_start_tensorflow():
    """The command line checks its arguments before TensorFlow loads (and prints its C++ log)."""
    import subprocess
    import sys

    code = "import sys, keras_nos.cli, keras_nos; print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_bad_cli_input_is_exactly_one_line_even_without_tf_log_level():
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run([sys.executable, "-m", "keras_nos.cli", "evaluate", "g+", "--task", "synthetic"],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "rule 'g+'" in done.stderr, done.stderr


def test_keras_nos_search_is_a_plain_package_whose_search_function_runs_a_search():
    import types

    import keras_nos
    import keras_nos.search

    assert type(keras_nos.search) is types.ModuleType and not callable(keras_nos.search)
    assert callable(keras_nos.search.search) and keras_nos.search.SearchSpace.preset("small")


def test_the_top_level_names_its_modules_and_the_schedules_are_the_optimizers_own():
    import keras_nos
    from keras_nos.optimizers import schedules

    assert keras_nos.schedules is schedules and keras_nos.schedules.LinearCosineDecay.__module__ == schedules.__name__
    assert keras_nos.named_rules.get_rule("nos-3") == parse_rule("m*exp(v)")
