"""Shipping found rules: named optimizer classes, ``keras-nos export`` modules (TF and JAX), leaderboard display."""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from mlflow import MlflowClient

import keras_nos
from keras_nos.cli import main as cli_main
from keras_nos.dsl import fingerprint, parse_rule, rule_to_tokens, simplify
from keras_nos.export import module_source
from keras_nos.search import format_leaderboard, read_leaderboard
from keras_nos.search.records import make_trial
from keras_nos.tasks import EvaluationResult
from keras_nos.tracking import SearchTracker

# (raw rule as the search wrote it, reward, best learning rate, status); leaderboard order is by reward.
CANDIDATES = [
    ("exp(sign(g)*sign(m))*g*1", 0.95, 0.1, "ok"),
    ("drop(g, 0.3)*exp(sign(sign(g))*sign(m)) + 0.01*noise", 0.9, 0.01, "ok"),
    ("adam*exp(m) + clip(rmsprop, 1e-4)/(sqrt(v) + 1) - 1e-4*w*log(y^2) + g^1.5 + sqrt(v)^sign(m)", 0.85, 0.001, "ok"),
    ("exp(g)", 0.0, None, "diverged"),
]
DECAY_RULE = "exp(cd_2*sign(g)*sign(m))*g*ld + rd_0.5*m"


def _tokens(text):
    try:
        return rule_to_tokens(text)
    except ValueError:  # a constant such as 0.01 has no token
        return []


@pytest.fixture(scope="module")
def fake_search(tmp_path_factory):
    """A finished search's MLflow runs, written by the search's own tracker (no training: seconds, not minutes)."""
    folder = tmp_path_factory.mktemp("search")
    uri = f"sqlite:///{folder}/m.db"
    tracker = SearchTracker(uri, "keras-nos", params={"task": "synthetic", "strategy": "random", "space": "paper"},
                            run_name="random-synthetic")
    for index, (rule, reward, lr, status) in enumerate(CANDIDATES):
        result = EvaluationResult(rule, fingerprint(rule), "synthetic", status, reward=reward, best_learning_rate=lr,
                                  wall_time=1.0, steps_trained=10)
        tracker.log_candidate(make_trial(index, result, tokens=tuple(_tokens(rule)), strategy="random"))
    tracker.finish({"candidates": len(CANDIDATES)})
    return uri, tracker.run_id, folder


# --- leaderboard display and MLflow params -----------------------------------------------------------------------


def test_leaderboard_shows_simplified_rules(fake_search):
    uri, run_id, _ = fake_search
    rows = read_leaderboard(uri, run_id)
    assert [row["rule"] for row in rows] == [
        "exp(sign(g)*sign(m))*g",
        "drop(g, 0.3)*exp(sign(g)*sign(m)) + 0.01*noise",
        str(simplify(CANDIDATES[2][0])),
    ]
    assert [row["raw_rule"] for row in rows] == [str(parse_rule(c[0])) for c in CANDIDATES[:3]]
    assert "exp(sign(g)*sign(m))*g\n" in format_leaderboard(rows) + "\n"
    client = MlflowClient(tracking_uri=uri)
    parent = client.get_run(run_id)
    children = client.search_runs([parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{run_id}'")
    params = {child.data.params["rule"]: child.data.params["simplified_rule"] for child in children}
    assert params["exp(sign(g)*sign(m))*g*1"] == "exp(sign(g)*sign(m))*g"


# --- named classes -----------------------------------------------------------------------------------------------


def test_optimizer_class(tmp_path):
    MySign = keras_nos.optimizer_class("MySign", "exp(sign(g)*sign(m))*g", defaults={"learning_rate": 0.05})
    assert MySign.__name__ == "MySign" and issubclass(MySign, keras_nos.RuleOptimizer)
    assert issubclass(MySign, keras.optimizers.Optimizer)
    assert "exp(sign(g)*sign(m))*g" in MySign.__doc__ and "e^(sign(g)·sign(m))·g" in MySign.__doc__
    assert keras.saving.get_registered_name(MySign) == "keras_nos>MySign"
    optimizer = MySign()
    assert float(optimizer.learning_rate) == pytest.approx(0.05) and optimizer.name == "my_sign"
    assert str(optimizer.rule) == "exp(sign(g)*sign(m))*g" and optimizer.rule.slots() == ("m",)
    assert "rule" not in optimizer.get_config()
    assert float(MySign(0.2).learning_rate) == pytest.approx(0.2)

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=MySign(), loss="mse")
    x, y = np.ones((8, 3), "float32"), np.zeros((8, 1), "float32")
    for _ in range(3):
        model.train_on_batch(x, y)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded.optimizer) is MySign and int(loaded.optimizer.iterations) == 3
    assert float(loaded.optimizer.learning_rate) == pytest.approx(0.05)
    for a, b in zip(model.optimizer.variables, loaded.optimizer.variables):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("name, words", [
    ("my-sign", ["'my-sign'", "identifier"]),
    ("1Sign", ["'1Sign'", "identifier"]),
    ("class", ["'class'", "keyword"]),
    ("RuleOptimizer", ["'RuleOptimizer'", "taken"]),
])
def test_optimizer_class_bad_names(name, words):
    with pytest.raises(ValueError) as error:
        keras_nos.optimizer_class(name, "g")
    assert all(word in str(error.value) for word in words)


def test_optimizer_class_bad_defaults_and_rule():
    with pytest.raises(ValueError, match="Unknown default.*'lr'"):
        keras_nos.optimizer_class("BadDefaults", "g", defaults={"lr": 0.1})
    with pytest.raises(ValueError, match="Unknown name"):
        keras_nos.optimizer_class("BadRule", "q*g")


# --- export: the command -----------------------------------------------------------------------------------------


def _export(capsys, *argv):
    code = cli_main(["export", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_export_writes_a_keras_only_module(fake_search, capsys, tmp_path):
    uri, run_id, _ = fake_search
    out = tmp_path / "my_sign.py"
    code, stdout, _ = _export(capsys, run_id, "--rank", "1", "--name", "MySign", "--out", str(out),
                              "--tracking-uri", uri)
    assert code == 0 and f"wrote {out}" in stdout
    source = out.read_text()
    assert "import keras_nos" not in source and "from keras_nos" not in source
    assert "exp(sign(g)*sign(m))*g" in source and run_id in source and "synthetic" in source
    assert "learning_rate=0.1," in source and "reward 0.9500" in source
    assert 'self._m = self.add_optimizer_variables(var_list, "m")' in source
    assert "self._v" not in source and "uniform_draw" not in source  # only the slots and helpers the rule uses


def test_export_default_name_and_file(fake_search, capsys, tmp_path, monkeypatch):
    uri, run_id, _ = fake_search
    monkeypatch.chdir(tmp_path)
    code, stdout, _ = _export(capsys, run_id, "--rank", "2", "--tracking-uri", uri)
    assert code == 0 and (tmp_path / "nos_rank2.py").exists() and "class NosRank2" in stdout


@pytest.mark.parametrize("argv, words", [
    (["0123456789abcdef0123456789abcdef"], ["0123456789abcdef0123456789abcdef"]),
    (["RUN", "--rank", "4"], ["Rank 4", "3 row"]),
    (["RUN", "--rank", "0"], ["--rank"]),
    (["RUN", "--name", "my-sign"], ["'my-sign'", "identifier"]),
    (["RUN", "--name", "class"], ["'class'"]),
])
def test_export_errors_are_one_line_exit_2(fake_search, capsys, tmp_path, argv, words):
    uri, run_id, _ = fake_search
    argv = [run_id if a == "RUN" else a for a in argv]
    code, stdout, stderr = _export(capsys, *argv, "--tracking-uri", uri, "--out", str(tmp_path / "x.py"))
    assert code == 2 and stdout == ""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("keras-nos: error:"), stderr
    assert all(word in lines[0] for word in words), lines[0]
    assert not (tmp_path / "x.py").exists()


# --- export: the module trains exactly as RuleOptimizer, on TensorFlow and JAX -----------------------------------

_TRAIN = textwrap.dedent('''
    import importlib.util, json, sys
    import numpy as np

    specs, mode, folder = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
    import keras

    classes = {}
    for spec in specs:
        loader = importlib.util.spec_from_file_location(spec["module"], spec["path"])
        module = importlib.util.module_from_spec(loader)
        sys.modules[spec["module"]] = module
        loader.loader.exec_module(module)
        classes[spec["class"]] = getattr(module, spec["class"])
    leaked = sorted(name for name in sys.modules if name.split(".")[0] == "keras_nos")
    assert not leaked, f"the exported modules imported {leaked}"

    rng = np.random.default_rng(0)
    x = rng.normal(size=(48, 5)).astype("float32")
    y = np.tanh(x @ rng.normal(size=(5, 1))).astype("float32")
    batches = [(x[i:i + 8], y[i:i + 8]) for i in range(0, 48, 8)]

    def model_with(optimizer, initial=None):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4, activation="tanh"), keras.layers.Dense(1)])
        if initial is not None:
            model.set_weights(initial)
        model.compile(optimizer=optimizer, loss="mse")
        return model

    report = {"backend": keras.backend.backend()}
    if mode == "compare":
        from keras_nos import RuleOptimizer

        for spec in specs:
            kwargs = spec["kwargs"]
            exported = model_with(classes[spec["class"]](**kwargs))
            initial = exported.get_weights()
            reference = model_with(RuleOptimizer(spec["rule"], **kwargs), initial)
            for batch in batches:
                exported.train_on_batch(*batch)
                reference.train_on_batch(*batch)
            pairs = list(zip(exported.get_weights(), reference.get_weights()))
            report[spec["class"]] = {
                "difference": max(float(np.max(np.abs(a - b))) for a, b in pairs),
                "moved": max(float(np.max(np.abs(a - b))) for a, b in zip(exported.get_weights(), initial)),
                "finite": all(bool(np.all(np.isfinite(a))) for a, _ in pairs),
            }
            if "decay_steps" in kwargs:
                try:
                    classes[spec["class"]]()
                    report[spec["class"]]["missing_decay_steps"] = "accepted"
                except ValueError as error:
                    report[spec["class"]]["missing_decay_steps"] = str(error)
    if mode == "compare":  # then save a model trained with the slots, drop and noise rule, and train on
        spec = next(spec for spec in specs if spec["class"] == "NoisySign")
        model = model_with(classes[spec["class"]](**spec["kwargs"]))
        for batch in batches[:3]:
            model.train_on_batch(*batch)
        model.save(f"{folder}/model.keras")
    else:  # load in a fresh process that has imported only the exported modules, and train on
        model = keras.models.load_model(f"{folder}/model.keras")
        report["class"] = type(model.optimizer).__name__
        report["iterations"] = int(model.optimizer.iterations)
    for batch in batches[3:]:
        model.train_on_batch(*batch)
    np.savez(f"{folder}/{mode}.npz", *model.get_weights())
    print("REPORT " + json.dumps(report))
''')


def _run(backend, specs, mode, folder):
    script = folder / "train.py"
    script.write_text(_TRAIN)
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="",
               JAX_PLATFORMS="cpu")
    done = subprocess.run([sys.executable, str(script), json.dumps(specs), mode, str(folder)], env=env,
                          capture_output=True, text=True, timeout=300, cwd=folder)
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith("REPORT "))
    return json.loads(line[len("REPORT "):])


@pytest.fixture(scope="module")
def exported_modules(fake_search, tmp_path_factory):
    uri, run_id, _ = fake_search
    folder = tmp_path_factory.mktemp("exported")
    specs = []
    for rank, name, lr in ((1, "PowerSignFound", 0.1), (2, "NoisySign", 0.01), (3, "Kitchen", 0.001)):
        path = folder / f"exported_rank{rank}.py"
        assert cli_main(["export", run_id, "--rank", str(rank), "--name", name, "--out", str(path),
                         "--tracking-uri", uri]) == 0
        rule = read_leaderboard(uri, run_id)[rank - 1]["rule"]
        specs.append({"module": f"exported_rank{rank}", "path": str(path), "class": name, "rule": rule,
                      "kwargs": {"learning_rate": lr, "seed": 3}})
    path = folder / "exported_decay.py"
    path.write_text(module_source(DECAY_RULE, "DecaySign", learning_rate=0.05))
    specs.append({"module": "exported_decay", "path": str(path), "class": "DecaySign", "rule": DECAY_RULE,
                  "kwargs": {"learning_rate": 0.05, "decay_steps": 10}})
    return specs, folder


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_exported_module_follows_rule_optimizer_and_loads_by_name(exported_modules, backend, tmp_path):
    specs, _ = exported_modules
    report = _run(backend, specs, "compare", tmp_path)
    assert report["backend"] == backend
    for spec in specs:
        result = report[spec["class"]]
        assert result["finite"] and result["moved"] > 1e-4, result
        assert result["difference"] <= 1e-6, (spec["rule"], result)
    assert "decay_steps" in report["DecaySign"]["missing_decay_steps"]

    # Saved after 3 steps by the first process, loaded by a fresh one: same class, step count, slots and draws.
    loaded = _run(backend, specs, "load", tmp_path)
    assert loaded["class"] == "NoisySign" and loaded["iterations"] == 3
    saved, resumed = np.load(tmp_path / "compare.npz"), np.load(tmp_path / "load.npz")
    for key in saved.files:
        np.testing.assert_allclose(saved[key], resumed[key], atol=1e-6)
