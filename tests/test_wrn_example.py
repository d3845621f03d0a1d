"""examples/wrn_cifar10.py: smoke sweep on the shared CIFAR-10 copy, resume, one-line errors.

The smoke runs train real (tiny) Wide ResNets on a few hundred images of
../shared/data/cifar10-jpeg.tar.gz and skip when that file is not there.
"""

import json
import math
import re
import sys
from pathlib import Path

import pytest
from example_scripts import assert_one_line_error as check_one_line_error
from example_scripts import run_example

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
SHARED_JPEGS = ROOT.parent / "shared" / "data" / "cifar10-jpeg.tar.gz"
for path in (str(EXAMPLES), str(ROOT)):
    if path not in sys.path:
        sys.path.insert(0, path)

needs_cifar = pytest.mark.skipif(not SHARED_JPEGS.is_file(),
                                 reason=f"shared CIFAR-10 copy {SHARED_JPEGS} is absent")

# Two optimizers at one learning rate (--lr gives every optimizer the same values),
# WRN-10-1, 256 training images, one epoch.
TINY = ["--smoke", "--optimizers", "momentum,powersign", "--lr", "0.05", "--train-limit", "256",
        "--validation-size", "100", "--test-limit", "100", "--verbose", "0",
        "--experiment", "wrn-test"]


def run_script(*args, cwd, timeout=300):
    return run_example("wrn_cifar10.py", *args, cwd=cwd, timeout=timeout)


def assert_one_line_error(proc, *needles):
    check_one_line_error(proc, "wrn_cifar10.py", *needles)


# --- pieces without training ---------------------------------------------------

def test_lr_grid_is_log_spaced_around_the_centre():
    from wrn_lib.lrs import default_center, lr_grid

    assert lr_grid(0.1, 7) == [0.00316, 0.01, 0.0316, 0.1, 0.316, 1.0, 3.16]
    assert lr_grid(1e-3, 3) == [0.000316, 0.001, 0.00316]
    assert lr_grid(0.1, 1) == [0.1]
    assert default_center("adam") == 1e-3 and default_center("powersign-cd") == 0.1


def test_table_takes_the_best_lr_on_validation_not_test():
    from wrn_lib.report import best_rows, to_markdown

    def run(spec, lr, val, test):
        return {"optimizer": spec, "lr": lr, "final_val": val, "best_val": val,
                "final_test": test, "best_test": test}

    results = [run("adam", 1e-3, 0.70, 0.90), run("adam", 3e-3, 0.80, 0.60),
               run("g*|m|", 0.1, 0.5, 0.5)]
    rows = best_rows(results, ["adam", "g*|m|", "sgd"])
    assert [(r["optimizer"], r["lr"]) for r in rows] == [("adam", 3e-3), ("g*|m|", 0.1)]
    lines = to_markdown(rows).splitlines()
    assert lines[0] == "| Optimizer | best lr | Final Val | Final Test | Best Val | Best Test | lrs tried |"
    assert "| `adam` | 0.003 | 0.8000 | 0.6000 | 0.8000 | 0.6000 | 0.001, 0.003 |" in lines
    assert "| `g*\\|m\\|` | 0.1 | 0.5000 | 0.5000 | 0.5000 | 0.5000 | 0.1 |" in lines


def test_wide_resnet_shape_and_weight_decay():
    from wrn_lib.model import build_wrn

    model = build_wrn(depth=10, width=2, weight_decay=5e-4)
    assert model.output_shape == (None, 10)
    convs = [layer for layer in model.layers if layer.__class__.__name__ == "Conv2D"]
    # stem + 3 groups x (2 convolutions + 1 projection)
    assert len(convs) == 1 + 3 * 3
    assert sorted({c.filters for c in convs}) == [16, 32, 64, 128]
    assert all(c.kernel_regularizer is not None for c in convs)
    assert len(model.losses) == len(convs) + 1  # every kernel adds its L2 term
    with pytest.raises(ValueError, match="6n\\+4"):
        build_wrn(depth=12)


def test_augmentation_keeps_shape_and_normalizes():
    import numpy as np

    from wrn_lib.pipeline import channel_stats, eval_dataset, train_dataset

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8)
    y = rng.integers(0, 10, 40)
    stats = channel_stats(x)
    images, labels = next(iter(train_dataset(x, y, 16, stats, seed=1)))
    assert images.shape == (16, 32, 32, 3) and labels.shape == (16,)
    evaluated = np.concatenate([b.numpy() for b, _ in eval_dataset(x, y, 16, stats)])
    assert evaluated.shape == (40, 32, 32, 3)
    assert np.allclose(evaluated.mean(axis=(0, 1, 2)), 0, atol=1e-4)
    assert np.allclose(evaluated.std(axis=(0, 1, 2)), 1, atol=1e-3)
    assert not np.allclose(images.numpy(), evaluated[:16])  # shuffled and augmented


def test_sweep_finds_its_parent_and_redoes_unfinished_runs(tmp_path):
    import mlflow

    from common.sweep import (KEY_TAG, config_hash, find_parent, finished_children,
                              start_child, start_parent)

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    client = mlflow.MlflowClient()
    experiment_id = client.create_experiment("sweep", artifact_location=(tmp_path / "a").as_uri())
    chash = config_hash({"depth": 10, "epochs": 1})
    assert chash == config_hash({"epochs": 1, "depth": 10}) != config_hash({"depth": 16, "epochs": 1})
    parent, done = start_parent(client, experiment_id, chash, "p")
    with parent:
        assert done == {}
        with start_child("adam @ 0.001", "adam", experiment_id):
            mlflow.log_metric("final_val", 0.5)
        killed = client.create_run(experiment_id, tags={"mlflow.parentRunId": parent.info.run_id,
                                                        KEY_TAG: "sgd @ 0.1"})  # left RUNNING
    assert find_parent(client, experiment_id, chash).info.run_id == parent.info.run_id
    assert find_parent(client, experiment_id, "0" * 16) is None
    reopened, done = start_parent(client, experiment_id, chash, "p")
    with reopened:
        assert reopened.info.run_id == parent.info.run_id
        assert set(done) == {"adam @ 0.001"}
        assert done["adam @ 0.001"].data.metrics["final_val"] == 0.5
    assert client.get_run(killed.info.run_id).info.status == "KILLED"
    fresh, done = start_parent(client, experiment_id, chash, "p", fresh=True)
    with fresh:
        assert fresh.info.run_id != parent.info.run_id and done == {}
    assert finished_children(client, parent).keys() == {"adam @ 0.001"}


def test_from_search_adds_the_ranked_rule_around_its_best_lr(monkeypatch):
    import wrn_cifar10
    from common.cli import UsageError
    from keras_nos import tracking
    from keras_nos.search import leaderboard
    from wrn_lib.lrs import lr_grid

    board = [{"rank": 1, "rule": "sign(m)*g", "reward": 0.6, "best_learning_rate": 0.5},
             {"rank": 2, "rule": "exp(sign(g)*sign(m))*g", "reward": 0.5,
              "best_learning_rate": 0.02}]
    monkeypatch.setattr(tracking, "check_reachable", lambda uri: None)
    monkeypatch.setattr(tracking, "find_search_run", lambda uri, run_id: object())
    monkeypatch.setattr(leaderboard, "read_leaderboard", lambda uri, run_id: board)
    args = ["--optimizers", "adam", "--from-search", "abc", "--lr-count", "3",
            "--tracking-uri", "sqlite:///unused.db"]
    cfg = wrn_cifar10.parse_config([*args, "--rank", "2"])
    row = wrn_cifar10.add_search_rule(cfg)
    assert cfg.optimizer_specs == ["adam", "exp(sign(g)*sign(m))*g"]
    rates = wrn_cifar10.resolve_learning_rates(cfg, row)
    assert rates == {"adam": lr_grid(1e-3, 3), "exp(sign(g)*sign(m))*g": lr_grid(0.02, 3)}
    with pytest.raises(UsageError, match="past the leaderboard"):
        wrn_cifar10.add_search_rule(wrn_cifar10.parse_config([*args, "--rank", "3"]))


# --- errors: one line on stderr, exit status 2 ------------------------------------

def test_unknown_optimizer_is_a_one_line_error(tmp_path):
    proc = run_script("--smoke", "--data", str(tmp_path), "--optimizers", "adam,nosuchopt",
                      cwd=tmp_path)
    assert_one_line_error(proc, "nosuchopt")
    assert not (tmp_path / "mlruns").exists()


def test_rule_that_does_not_parse_is_a_one_line_error(tmp_path):
    proc = run_script("--smoke", "--data", str(tmp_path), "--optimizers", "exp(sign(g)*",
                      cwd=tmp_path)
    assert_one_line_error(proc, "exp(sign(g)*")


def test_missing_data_is_a_one_line_error(tmp_path):
    missing = tmp_path / "no-cifar.tar.gz"
    proc = run_script("--smoke", "--data", str(missing), cwd=tmp_path)
    assert_one_line_error(proc, "no-cifar.tar.gz")


@pytest.mark.parametrize("args, needle", [
    (["--depth", "12"], "--depth"),
    (["--epochs", "0"], "--epochs"),
    (["--lr", "0.1,fast"], "--lr"),
    (["--lr-center", "nadam=1"], "--lr-center"),
    (["--schedule", "linear"], "--schedule"),
    (["--no-such-flag"], "--no-such-flag"),
])
def test_bad_flags_are_a_one_line_error(tmp_path, args, needle):
    assert_one_line_error(run_script("--smoke", *args, cwd=tmp_path), needle)


# --- smoke sweep and resume --------------------------------------------------------

def table_rows(text):
    """{optimizer: [lr, final val, final test, best val, best test]} from the markdown."""
    rows = {}
    for line in text.splitlines():
        match = re.match(r"\| `([^`]+)` \| (.+) \|$", line)
        if match:
            cells = [c.strip() for c in match.group(2).split("|")]
            rows[match.group(1)] = [float(c) for c in cells[:5]]
    return rows


@pytest.mark.slow
@needs_cifar
def test_smoke_sweep_tracks_every_run_and_resumes(tmp_path):
    import mlflow

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    args = [*TINY, "--data", str(SHARED_JPEGS), "--tracking-uri", uri]
    page = tmp_path / "wrn-transfer.md"
    page.write_text("# WRN\n\nProse.\n\n<!-- wrn-reduced: begin (examples/wrn_cifar10.py writes this block) -->\n"
                    "a hand-typed table\n<!-- wrn-reduced: end -->\n\nMore prose.\n")
    proc = run_script(*args, "--out", str(tmp_path / "out1"), "--doc", str(page), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    table = (tmp_path / "out1" / "table.md").read_text()
    assert table in proc.stdout
    written = page.read_text()  # --doc: the table, the command and the machine in the block, the prose kept
    assert table.strip() in written and "hand-typed" not in written and "Machine: " in written
    assert written.startswith("# WRN\n\nProse.\n") and written.endswith("<!-- wrn-reduced: end -->\n\nMore prose.\n")
    assert "`python examples/wrn_cifar10.py --smoke" in written
    rows = table_rows(table)
    assert set(rows) == {"momentum", "powersign"}
    for values in rows.values():
        assert values[0] == 0.05
        assert all(0.0 <= v <= 1.0 for v in values[1:]), values
    summary = json.loads((tmp_path / "out1" / "results.json").read_text())
    assert summary["trained"] == 2 and summary["reused"] == 0
    assert (tmp_path / "out1" / "test_accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    client = mlflow.MlflowClient(tracking_uri=uri)
    parent = client.get_run(summary["parent_run_id"])
    assert parent.data.params["depth"] == "10" and parent.data.params["train_images"] == "256"
    assert {a.path for a in client.list_artifacts(parent.info.run_id)} >= {
        "table.md", "test_accuracy.png", "results.json"}
    children = client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert sorted(c.data.params["optimizer"] for c in children) == ["momentum", "powersign"]
    for child in children:
        assert child.info.status == "FINISHED"
        for key in ("train_loss", "val_accuracy", "test_accuracy", "final_val", "best_test"):
            assert math.isfinite(child.data.metrics[key]), key
        history = client.get_metric_history(child.info.run_id, "test_accuracy")
        assert [m.step for m in history] == [1]

    # The same settings again: the finished runs are found and nothing trains.
    again = run_script(*args, "--out", str(tmp_path / "out2"), cwd=tmp_path)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    second = json.loads((tmp_path / "out2" / "results.json").read_text())
    assert second["parent_run_id"] == parent.info.run_id
    assert second["trained"] == 0 and second["reused"] == 2
    assert "finished before, reused" in again.stdout
    assert table_rows((tmp_path / "out2" / "table.md").read_text()) == rows
    assert len(client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'")) == 2

    # --resume with a parent made under other settings is refused.
    from common.sweep import check_resumable

    assert check_resumable(client, parent.info.run_id, parent.data.tags["config_hash"])
    with pytest.raises(ValueError, match="other settings"):
        check_resumable(client, parent.info.run_id, "0123456789abcdef")
