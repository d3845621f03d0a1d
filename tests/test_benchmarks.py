"""The benchmarks run end to end at tiny sizes and print what the tables of docs/results/ are made of.

Each script's ``main`` runs in this process (one TensorFlow import for all) except
``optimizer_step.py``, which picks its Keras backend before importing Keras.
"""

import dataclasses
import functools
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from keras_nos.tasks.lr_search import DEFAULT_LEARNING_RATES
from keras_nos.tasks import Task, get_task, models, register_task
from keras_nos.tasks.datasets import load_cifar10, scaled_images

ROOT = Path(__file__).resolve().parents[1]
SHARED_JPEGS = ROOT.parent / "shared" / "data" / "cifar10-jpeg.tar.gz"


def register_tiny_cifar10():
    register_task(Task(name="tiny-cifar10", load_data=lambda path, seed: scaled_images(load_cifar10(
                           path, seed=seed, train_limit=200, validation_size=500)),
                       build_model=functools.partial(models.conv_block_net, filters=4), epochs=1, batch_size=100,
                       description="200 CIFAR-10 images, 4 filters, for tests"), overwrite=True)


def load(name):
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_evaluator_cost_prints_the_ratio_and_both_top_fives(tmp_path, capsys):
    results = tmp_path / "results.json"
    page = page_with_a_block(tmp_path, "evaluator-cost", "benchmarks/evaluator_cost.py")
    assert load("evaluator_cost").main(["--rules", "4", "--task", "synthetic", "--epochs", "1",
                                        "--json", str(results), "--doc", str(page)]) == 0
    out = capsys.readouterr().out
    ratio = re.search(r"cost ratio full/cheap: CPU \d+\.\dx, wall \d+\.\dx", out)
    assert ratio, out
    assert "| cheap |" in out and "| full |" in out and "same top-5 set:" in out
    rows = [line for line in out.splitlines() if line.startswith("| ")]
    assert_block_written(page, "evaluator-cost", out, *rows, ratio.group(), "same top-5 set:")
    runs = json.loads(results.read_text())
    assert len(runs["cheap"]) == len(runs["full"]) == 4
    assert all(r["status"] != "failed_hurdle" for r in runs["full"])  # the full run has no hurdles


def test_evaluator_memory_reports_growth(tmp_path, capsys):
    page = page_with_a_block(tmp_path, "evaluator-memory", "benchmarks/evaluator_memory.py")
    assert load("evaluator_memory").main(["--rules", "4", "--every", "2", "--doc", str(page)]) == 0
    out = capsys.readouterr().out
    growth = re.search(r"growth after the first 2: [+-]\d+ MiB.*", out)
    assert growth, out
    rows = [line for line in out.splitlines() if line.startswith("| ")]
    assert len(rows) == 3 and rows[0].startswith("| evaluations |") and rows[-1].startswith("| 4 | ")
    assert_block_written(page, "evaluator-memory", out, *rows, growth.group())


def test_evaluator_memory_batched_trains_random_rules_a_batch_at_a_time(tmp_path):
    """On Keras' JAX backend, as a search's worker: its own process, since this one's Keras runs TensorFlow."""
    benchmark = load("evaluator_memory")
    texts = benchmark.rule_texts(1200)  # past the ~1,100 variants of the named rules: random rules of the space
    assert len(set(texts)) == 1200 and texts[:5] == benchmark.rule_texts(5)
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "evaluator_memory.py"), "--evaluator", "batched",
                           "--rules", "4", "--batch", "2", "--every", "2"], capture_output=True, text=True,
                          timeout=600, env=dict(os.environ, KERAS_BACKEND="tensorflow"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "evaluator batched (2 rules a call)" in done.stdout
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    assert [row.split(" | ")[0] for row in rows[1:]] == ["| 2", "| 4"] and "4 " in rows[-1].split(" | ")[-1]


def test_executor_scaling_times_the_local_executors(tmp_path, capsys):
    page = page_with_a_block(tmp_path, "executor-scaling", "benchmarks/executor_scaling.py")
    load("executor_scaling").main(["--rules", "2", "--workers", "1", "--executors", "local", "--doc", str(page)])
    out = capsys.readouterr().out
    assert "| local (inline) | 1 |" in out and "| local (pool) | 1 |" in out, out
    write = re.search(r"MLflow write of one candidate by the driver \(SQLite\): \d+ ms", out)
    assert write
    rows = [line for line in out.splitlines() if line.startswith("| ")]
    assert_block_written(page, "executor-scaling", out, *rows, write.group())
    assert "--executors local" in load("results_page").read_block(page, "executor-scaling")  # the command line


def page_with_a_block(tmp_path, name, script):
    """A results page of prose around a stale block ``name`` that ``script`` writes."""
    begin, end = load("results_page").markers(name, script)
    page = tmp_path / "page.md"
    page.write_text(f"# A page\n\nProse before.\n\n{begin}\na stale, hand-typed table\n{end}\n\nProse after.\n")
    return page


def assert_block_written(page, name, printed, *table_lines):
    """The block holds the command, the machine and ``table_lines`` as printed; the prose around it is kept."""
    text = page.read_text()
    block = load("results_page").read_block(page, name)
    assert text.startswith("# A page\n\nProse before.\n\n<!-- ") and text.endswith(" -->\n\nProse after.\n"), text
    assert "hand-typed" not in block and block.startswith("`") and "Machine: " in block and " cores, load average " in block
    for line in table_lines:
        assert line in printed and line in block, (line, block)


def test_results_page_writes_a_block_and_keeps_the_page(tmp_path):
    results_page = load("results_page")
    page = page_with_a_block(tmp_path, "table", "benchmarks/x.py")
    results_page.write_block(page, "table", "| a |\n| 1 |", "benchmarks/x.py")
    assert results_page.read_block(page, "table") == "| a |\n| 1 |" and "Prose after." in page.read_text()
    results_page.write_block(tmp_path / "new" / "fresh.md", "table", "| b |", "benchmarks/x.py", title="Fresh")
    assert (tmp_path / "new" / "fresh.md").read_text().startswith("# Fresh\n\n<!-- table: begin (benchmarks/x.py")
    with pytest.raises(SystemExit, match="needs one <!-- other: begin"):
        results_page.write_block(page, "other", "x", "benchmarks/x.py")  # never appended to a hand-written page
    assert results_page.command_line("benchmarks/x.py", ["--a", "b c"]).endswith("python benchmarks/x.py --a 'b c'")


def test_compare_suite_writes_the_tables_of_keras_nos_compare(tmp_path, capsys):
    page = page_with_a_block(tmp_path, "compare-suite", "benchmarks/compare_suite.py")
    assert load("compare_suite").main(["powersign", "--baselines", "adam", "--tasks", "rosenbrock", "--seeds", "1",
                                       "--lr-grid", "2", "--scale", "0.1", "--doc", str(page)]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith(("| `powersign` |", "| `adam` |"))]
    assert len(rows) >= 2 and "mean rank" in out
    assert_block_written(page, "compare-suite", out, *rows)


def test_search_to_shipped_exports_a_found_rule_and_writes_its_forms(tmp_path, capsys):
    from keras_nos.search import search

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    search(task="synthetic", space="small", epochs=1, learning_rates=(0.01, 0.1), budget=4, batch_size=4,
           funnel_top_k=0, tracking_uri=uri, progress=False)
    capsys.readouterr()
    page = page_with_a_block(tmp_path, "search-to-shipped", "benchmarks/search_to_shipped.py")
    assert load("search_to_shipped").main(["--tracking-uri", uri, "--name", "Found", "--sample", "20",
                                           "--out", str(tmp_path / "found.py"), "--doc", str(page)]) == 0
    out = capsys.readouterr().out
    assert "class Found(keras.optimizers.Optimizer)" in (tmp_path / "found.py").read_text()
    rows = [line for line in out.splitlines() if line.startswith(("| simplified rule |", "| rewards |"))]
    simplified = re.search(r"Simplification on 20 random rules of the paper space \(seed 0\): \d+ shortened, 0 "
                           r"fingerprints changed\.", out)
    assert len(rows) == 2 and simplified, out
    assert_block_written(page, "search-to-shipped", out, *rows, simplified.group())


def test_optimizer_step_compares_with_adam(tmp_path):
    page = page_with_a_block(tmp_path, "tensorflow-no-jit", "benchmarks/optimizer_step.py")
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "optimizer_step.py"), "--steps", "1",
                           "--repeats", "1", "--warmup", "1", "--no-jit", "--hidden", "64", "--doc", str(page)],
                          capture_output=True, text=True, timeout=600, env={**os.environ, "KERAS_BACKEND": "tensorflow"})
    assert done.returncode == 0, done.stderr[-2000:]
    adam = next(line for line in done.stdout.splitlines() if line.startswith("| Adam |"))
    assert_block_written(page, "tensorflow-no-jit", done.stdout, "| optimizer | step time (ms) |", adam)
    assert re.search(r"\| Adam \| [\d.]+ \| [\d.-]+ \| 1\.00x \|", done.stdout), done.stdout
    assert "| PowerSign |" in done.stdout and "| AddSign |" in done.stdout
    assert "MLP 512-64-32-10 (35,242 parameters" in done.stdout  # --hidden sizes the model
    assert "absl" not in done.stderr  # TensorFlow's start-up lines are kept off the output


def test_evaluator_throughput_compares_the_batched_and_the_current_evaluator(tmp_path):
    pytest.importorskip("jax")
    figures = tmp_path / "figures.json"
    page = page_with_a_block(tmp_path, "evaluator-throughput", "benchmarks/evaluator_throughput.py")
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "evaluator_throughput.py"), "--rules", "4",
                           "--tasks", "digits-mlp", "--epochs", "1", "--jax-rules", "2", "--json", str(figures), "--doc",
                           str(page)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    final = done.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"digits-mlp: \d+\.\d x candidates per CPU-second, max \|delta\| \S+, spearman \S+ "
                        r"\(a search of 2000 candidates that compiles once, against the current evaluator on TensorFlow; "
                        r".*; max \|delta\| \S+ on the \d of \d that a start one ulp away moves by at most 1e-3; "
                        r"on JAX, 2 rules: max \|delta\| \S+, max \|delta\| \S+ on the \d of \d .*, spearman \S+\)",
                        final), final
    row = next(line for line in done.stdout.splitlines() if line.startswith("| digits-mlp | 4 | "))
    assert_block_written(page, "evaluator-throughput", done.stdout, "| task | rules | current (TF) |", row, final)
    (task,) = json.loads(figures.read_text())
    assert task["rules"] == 4 and task["max_delta"] <= 1e-3  # same start and batches: the same rewards
    assert task["on_jax"]["max_delta"] <= 1e-6 and task["on_jax"]["same_status"] == 2  # and on JAX, the same draws
    # a start one ulp away: each rule without random operands moved, and those it moves by over 1e-3 named apart
    moved = task["one_ulp_moves"]
    exact = [r["rule"] for r in task["rewards"] if not any(marker in r["rule"] for marker in ("noise", "drop("))]
    assert sorted(moved) == sorted(exact) and all(delta >= 0 for delta in moved.values())
    assert task["sensitive_rules"] == sorted(rule for rule, delta in moved.items() if delta > 1e-3)
    assert task["stable_rules"] == len(moved) - len(task["sensitive_rules"])
    assert "| digits-mlp | JAX | " in done.stdout
    assert task["batched_cpu_cached"] > 0 and "from the disk cache" in row.split("\n")[0] + page.read_text()
    assert "absl" not in done.stdout
    again = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "evaluator_throughput.py"), "--from-json",
                            str(figures)], capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and again.stdout.strip().splitlines()[-1] == final, again.stderr[-2000:]


def test_evaluator_throughput_judges_agreement_on_the_rules_float32_determines_and_runs_without_jax():
    benchmark = load("evaluator_throughput")

    def run(*rewards, cpu=10.0):
        return {"cpu": cpu, "cpu_compiled": cpu / 2, "results": [{"reward": r, "status": "ok"} for r in rewards]}

    rules = ["g", "rmsprop", "noise*g"]
    current, batched = run(0.5, 0.60, 0.3), run(0.5, 0.65, 0.2, cpu=1.0)
    nudged = [run(0.5, 0.62, 0.1), run(0.5004, 0.66, 0.3)]  # rmsprop moves by 0.03 from one ulp away; g by 4e-4
    figures = benchmark.compare("digits-mlp", rules, current, batched, run(0.5, 0.65, 0.2, cpu=2.0), nudged)
    assert figures["one_ulp_moves"] == pytest.approx({"g": 4e-4, "rmsprop": 0.03})
    assert figures["sensitive_rules"] == ["rmsprop"] and figures["stable_rules"] == 1
    assert figures["max_delta"] == pytest.approx(0.05) and figures["max_delta_stable"] == 0.0
    assert figures["jax_rules"] == 0 and "on_jax" not in figures
    line = benchmark.final_line(figures)
    assert "max |delta| 0.0e+00 on the 1 of 2 that a start one ulp away moves by at most 1e-3)" in line
    assert "on JAX" not in line and "| digits-mlp | JAX |" not in benchmark.table([figures])


def test_search_quality_writes_its_tables_and_plot(tmp_path, capsys):
    benchmark, raw = load("search_quality"), str(tmp_path / "raw.json")
    benchmark.main(["--task", "rosenbrock", "--budget", "4", "--seeds", "1", "--batch-size", "2",
                    "--out", str(tmp_path), "--raw", raw])
    table = (tmp_path / "search_quality.md").read_text()
    for strategy in ("rl", "evolution", "tpe", "random"):
        assert strategy in table
    # (r): plain adam evaluated as the seed's candidates were, each search's best beside it
    references = json.loads(open(raw).read())["references"]
    assert list(references) == ["0"] and list(references["0"]) == ["adam"] and 0 < references["0"]["adam"] <= 1
    assert f"| `adam` | {references['0']['adam']:.4f} | |" in table
    reached = re.search(r"^- rl reached the best reference on (\d) of 1 seeds", table, re.MULTILINE)
    best_rl = max(max(entry["rewards"]) for entry in json.loads(open(raw).read())["searches"] if entry["label"] == "rl")
    assert reached and int(reached.group(1)) == (best_rl >= references["0"]["adam"])
    # --from-raw evaluates the references not stored (named rules by name), keeping those that are
    more = str(tmp_path / "more.json")
    benchmark.main(["--from-raw", raw, "--references", "adam,signum,sign(m),sign(g)*sign(m)", "--raw", more,
                    "--out", str(tmp_path / "more")])
    added = json.loads(open(more).read())["references"]["0"]
    assert list(added) == ["adam", "signum", "sign(g)*sign(m)"]  # sign(m) is signum: one behaviour, one row
    assert added["adam"] == references["0"]["adam"]
    assert "| best reference | " in (tmp_path / "more" / "search_quality.md").read_text()
    assert (tmp_path / "search_quality.png").stat().st_size > 0
    # the same runs twice, the second file's rows noted apart, every row paired with rl's too
    page = page_with_a_block(tmp_path, "pooled", "benchmarks/search_quality.py")
    capsys.readouterr()
    benchmark.main(["--from-raw", raw, raw + "@again", "--against", "rl", "--out", str(tmp_path / "pooled"),
                    "--doc", str(page), "--block", "pooled"])
    pooled = (tmp_path / "pooled" / "search_quality.md").read_text()
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| rl again | rl | 1 |")]
    assert_block_written(page, "pooled", out, *rows)
    block = load("results_page").read_block(page, "pooled")
    assert "The searches ran as `python benchmarks/search_quality.py --task rosenbrock" in block
    assert "![best so far](pooled/search_quality.png)" in block
    assert re.search(r"\| rl again \| rl \| 1 \| \+0\.0000 \|", pooled), pooled
    assert "| tpe again | random | 1 |" in pooled


def test_search_quality_in_process_gives_the_tracked_searches_rewards(tmp_path):
    """--in-process keeps the real loop's records in memory: the same proposals, cache and scores as in MLflow."""
    argv = ["--task", "rosenbrock", "--budget", "12", "--seeds", "1", "--first-seed", "0", "--batch-size", "4",
            "--strategies", "rl,evolution", "--strategy-option", "rl.update_every=2",
            "--strategy-option", "evolution.population_size=4"]
    benchmark = load("search_quality")
    tracked = benchmark.run_searches(benchmark.parse_args(argv + ["--out", str(tmp_path / "a")]))
    in_process = benchmark.run_searches(benchmark.parse_args(argv + ["--out", str(tmp_path / "b"), "--in-process"]))
    for entry, twin in zip(tracked["searches"], in_process["searches"], strict=True):
        assert max(entry["rewards"]) > 0, entry  # a search that found nothing would compare little
        for key in ("label", "seed", "rewards", "cache_hits", "statuses"):
            assert entry[key] == twin[key], (key, entry[key], twin[key])
    assert any(hit for entry in tracked["searches"] for hit in entry["cache_hits"])  # the cache was exercised


@pytest.mark.skipif(not SHARED_JPEGS.exists(), reason=f"no CIFAR-10 copy at {SHARED_JPEGS}")
@pytest.mark.filterwarnings("ignore:An input array is constant")  # two rules may tie on a task this tiny
def test_proxy_fidelity_scores_rules_on_both_tasks_and_resumes(tmp_path, capsys, monkeypatch):
    register_tiny_cifar10()
    benchmark = load("proxy_fidelity")
    argv = ["--data", str(SHARED_JPEGS), "--reference", "tiny-cifar10", "--proxy", "tiny-cifar10",
            "--reference-train-limit", "100", "--reference-epochs", "1", "--random-rules", "0", "--limit", "2",
            "--json", str(tmp_path / "fidelity.json"), "--markdown", str(tmp_path / "fidelity.md")]
    assert benchmark.main(argv + ["--shard", "1/2"]) == 0  # the second of the first two rules only
    assert set(json.loads((tmp_path / "fidelity.json").read_text())["results"]) == {"momentum"}
    assert benchmark.main(argv + ["--shard", "0/2"]) == 0  # another process, same file: the first rule joins it
    table = (tmp_path / "fidelity.md").read_text()
    assert "2 of 25 rules scored" in table  # 10 named optimizers and Table 3's 15 rules; two scored so far
    assert "| tiny-cifar10-reduced |" in table and "Spearman rank correlation of the rewards" in table
    assert "| sgd | `g` |" in table and "| momentum | `m` |" in table and "Kendall's tau" in table
    # every rule's row: reward with the winning learning rate (or the status), CPU seconds on each task
    assert re.search(r"\| momentum \| `m` \| \d\.\d{4} \([^)]+\) \| \d\.\d{4} \([^)]+\) \| \d+ \| \d+ \|", table)
    assert (tmp_path / "fidelity.png").stat().st_size > 0  # the scatter of the two tasks' rewards
    saved = json.loads((tmp_path / "fidelity.json").read_text())
    assert set(saved["results"]) == {"sgd", "momentum"}
    tasks = ("tiny-cifar10-reduced", "tiny-cifar10")  # the reference, reduced, and the proxy
    assert all(row[task]["steps"] > 0 for row in saved["results"].values() for task in tasks)
    capsys.readouterr()
    assert benchmark.main(argv) == 0  # a third run finds both rules done and trains nothing
    assert json.loads((tmp_path / "fidelity.json").read_text()) == saved
    assert "2 rules already done" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        benchmark.main(argv + ["--shard", "2/2"])

    # Another proxy is scored against the stored reference: the reference does not train again
    register_task(Task(name="tiny-cifar10-pooled", load_data=lambda path, seed: scaled_images(load_cifar10(
                           path, seed=seed, train_limit=200, validation_size=500, pool=2)),
                       build_model=functools.partial(models.conv_block_net, filters=4), epochs=1, batch_size=100,
                       description="200 CIFAR-10 images at 16x16, for tests"), overwrite=True)
    other = list(argv)
    other[other.index("--proxy") + 1] = "tiny-cifar10-pooled"
    other[other.index("--markdown") + 1] = str(tmp_path / "pooled.md")
    import keras_nos.tasks

    built, real_evaluator = [], keras_nos.tasks.Evaluator
    monkeypatch.setattr(keras_nos.tasks, "Evaluator", lambda task, **kw: built.append(task) or real_evaluator(task, **kw))
    assert benchmark.main(other) == 0
    assert built == ["tiny-cifar10-pooled"]  # the reference's evaluator (and its data) is never built
    rows = json.loads((tmp_path / "fidelity.json").read_text())["results"]
    for name, row in rows.items():
        assert {k: v for k, v in row.items() if k != "tiny-cifar10-pooled"} == saved["results"][name]
        assert row["tiny-cifar10-pooled"]["steps"] > 0
    assert "| tiny-cifar10-pooled |" in (tmp_path / "pooled.md").read_text()


def test_proxy_fidelity_reads_the_earlier_two_task_layout(tmp_path):
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"tasks": ["big", "small"], "results": {
        "adam": {"rule": "adam", "reference": {"reward": 0.6}, "proxy": {"reward": 0.4}}}}))
    assert load("proxy_fidelity").load_rows(path) == {"adam": {"rule": "adam", "big": {"reward": 0.6},
                                                                "small": {"reward": 0.4}}}


def test_proxy_fidelity_bounds_the_rank_correlation_it_measures():
    benchmark = load("proxy_fidelity")
    rng = np.random.default_rng(0)
    x = rng.uniform(size=30)
    low, high, p_value = benchmark.spearman_interval(x, x + rng.normal(scale=0.02, size=30))  # nearly the same ranks
    assert 0.9 < low <= high <= 1.0 and p_value < 1e-6
    low, high, p_value = benchmark.spearman_interval(x, rng.uniform(size=30))  # unrelated rewards
    assert low < 0 < high and high - low > 0.4 and p_value > 0.01


@pytest.mark.skipif(not SHARED_JPEGS.exists(), reason=f"no CIFAR-10 copy at {SHARED_JPEGS}")
@pytest.mark.filterwarnings("ignore:An input array is constant")  # at this size every repeat may stall at chance
@pytest.mark.filterwarnings("ignore::scipy.stats.DegenerateDataWarning")
def test_proxy_fidelity_repeats_the_reference_at_its_best_rate_and_reports_its_self_agreement(tmp_path):
    benchmark = load("proxy_fidelity")
    register_tiny_cifar10()
    path = tmp_path / "fidelity.json"
    names = ["sgd", "momentum", "adam", "rmsprop", "signsgd", "signum"]
    rules = dict(benchmark.choose_rules(0, 0))
    # first scores as a finished run left them; the reference is tiny-cifar10 itself, so it really trains again
    path.write_text(json.dumps({"results": {name: {
        "rule": rules[name],
        "tiny-cifar10": {"reward": 0.1 + 0.05 * i, "best_lr": 0.01 if i else None, "status": "ok", "cpu": 9.0,
                         "wall": 9.0, "steps": 2},
        "tiny-proxy": {"reward": 0.1 + 0.04 * i, "best_lr": 0.01, "status": "ok", "cpu": 1.0, "wall": 1.0,
                       "steps": 1}} for i, name in enumerate(names)}}))
    register_task(dataclasses.replace(get_task("tiny-cifar10"), name="tiny-proxy"), overwrite=True)
    argv = ["--data", str(SHARED_JPEGS), "--reference", "tiny-cifar10", "--proxy", "tiny-proxy", "--random-rules",
            "0", "--json", str(path), "--markdown", str(tmp_path / "fidelity.md"), "--repeat-seed", "1"]
    assert benchmark.main(argv) == 0
    rows = json.loads(path.read_text())["results"]
    assert "tiny-cifar10@seed1" not in rows["sgd"]  # no best rate (it never trained): nothing to repeat
    for name in names[1:]:
        again = rows[name]["tiny-cifar10@seed1"]
        assert 0 <= again["reward"] <= 1 and again["steps"] > 0
        assert list(again["lr_status"]) == ["0.01"]  # trained at the first run's best rate only
        assert rows[name]["tiny-proxy"]["steps"] == 1  # the proxy did not train again
    table = (tmp_path / "fidelity.md").read_text()
    assert "**The reference against itself** (tiny-cifar10@seed1" in table and "5 rules" in table


@pytest.mark.skipif(not SHARED_JPEGS.exists(), reason=f"no CIFAR-10 copy at {SHARED_JPEGS}")
@pytest.mark.filterwarnings("ignore:An input array is constant")  # two rules: the correlation may be undefined
def test_proxy_fidelity_extra_seeds_add_to_a_stored_proxy_what_reward_seeds_would(tmp_path):
    from keras_nos.tasks import Evaluator

    benchmark = load("proxy_fidelity")
    register_tiny_cifar10()
    register_task(dataclasses.replace(get_task("tiny-cifar10"), name="tiny-proxy"), overwrite=True)
    path = tmp_path / "fidelity.json"
    rules = dict(benchmark.choose_rules(0, 0))
    stored = {"sgd": None, "momentum": 0.01}  # sgd never trained to the end: no best rate

    def score(reward, best_lr):
        return {"reward": reward, "best_lr": best_lr, "status": "ok", "cpu": 9.0, "wall": 9.0, "steps": 2}

    path.write_text(json.dumps({"results": {name: {
        "rule": rules[name], "tiny-cifar10": score(0.3, 0.01), "tiny-proxy": score(0.2, best_lr)}
        for name, best_lr in stored.items()}}))
    argv = ["--data", str(SHARED_JPEGS), "--reference", "tiny-cifar10", "--proxy", "tiny-proxy", "--random-rules",
            "0", "--json", str(path), "--markdown", str(tmp_path / "fidelity.md"), "--extra-seeds", "3"]
    assert benchmark.main(argv) == 0
    rows = json.loads(path.read_text())["results"]
    assert rows["sgd"]["tiny-proxy+seeds3"] == rows["sgd"]["tiny-proxy"]  # nothing to train again
    again = rows["momentum"]["tiny-proxy+seeds3"]
    assert again["seed_rewards"][0] == 0.2 and again["reward"] == pytest.approx(np.mean(again["seed_rewards"]))
    assert again["cpu"] > 9.0 and again["steps"] > 2 and rows["momentum"]["tiny-cifar10"] == score(0.3, 0.01)
    direct = Evaluator("tiny-proxy", learning_rates=(0.01,), hurdles=(), reward_seeds=3,
                       data_path=str(SHARED_JPEGS)).evaluate(rules["momentum"])
    np.testing.assert_allclose(again["seed_rewards"][1:], direct.seed_rewards[1:], rtol=0, atol=1e-6)
    with pytest.raises(SystemExit):
        benchmark.main(argv[:-1] + ["1"])  # the stored run is the first seed: K must be at least 2


def test_proxy_fidelity_overview_joins_every_task_and_rewrites_only_the_results_page_block(tmp_path):
    benchmark = load("proxy_fidelity")
    for name in ("big", "cheap"):
        register_task(dataclasses.replace(get_task("synthetic"), name=name), overwrite=True)
    rules = dict(benchmark.choose_rules(0, 0))
    names = ["sgd", "momentum", "adam", "rmsprop", "signsgd", "signum"]

    def score(reward, cpu):
        return {"reward": reward, "best_lr": 0.01, "status": "ok", "cpu": cpu, "wall": cpu, "steps": 1}

    rows = {name: {"rule": rules[name], "big": score(0.5 + 0.01 * i, 100.0), "cheap": score(0.3 + 0.02 * i, 10.0)}
            for i, name in enumerate(names)}
    for i, name in enumerate(names[:3]):  # a second proxy, scored on three rules so far, ranking them backwards
        rows[name]["other"] = score(0.4 - 0.01 * i, 20.0)
    path = tmp_path / "fidelity.json"
    path.write_text(json.dumps({"results": rows}))
    page = tmp_path / "cifar-proxies.md"
    page.write_text("intro\n<!-- big overview: begin (benchmarks/proxy_fidelity.py writes this block) -->\nstale\n<!-- big overview: end -->\noutro\n")
    argv = ["--data", str(tmp_path), "--reference", "big", "--proxy", "cheap", "--random-rules", "0", "--limit",
            "0", "--json", str(path), "--markdown", str(tmp_path / "fidelity.md"), "--doc", str(page)]
    assert benchmark.main(argv) == 0
    text = page.read_text()
    assert text.startswith("intro\n<!-- big overview: begin (benchmarks/proxy_fidelity.py writes this block) -->\n") and text.endswith(
        "<!-- big overview: end -->\noutro\n") and "stale" not in text
    assert "| cheap | 6 | 10.0 | 10.0x | **1.000** |" in text  # same order as the reference, a tenth of its cost
    assert "| other | 3 | 20.0 | 5.0x | **-1.000** | - |" in text  # too few rules for an interval
    assert "| rule | text | big | cheap | other |" in text
    assert "| adam | `adam` | 0.5200 (0.01) | 0.3400 (0.01) | 0.3800 (0.01) |" in text
    assert "| rmsprop | `rmsprop` | 0.5300 (0.01) | 0.3600 (0.01) | - |" in text
    assert (tmp_path / "fidelity_overview.md").read_text().strip() in text
    assert "seeds" not in text  # no repeats of the reference: no column for their mean
    for i, name in enumerate(names):  # the reference again with seed 1: the seeds' mean ranks the rules backwards
        rows[name]["big@seed1"] = score(0.6 - 0.03 * i, 50.0)
    path.write_text(json.dumps({"results": rows}))
    assert benchmark.main(argv) == 0
    lines = page.read_text().splitlines()
    assert "Spearman vs the mean of the reference's seeds" in lines[4]
    assert next(line for line in lines if line.startswith("| cheap |")).endswith(" | -1.000 (-1.00 .. -1.00) |")
    assert next(line for line in lines if line.startswith("| other |")).endswith(" | - |")  # too few rules
    page.write_text("no markers here\n")
    with pytest.raises(SystemExit, match="needs one <!-- big overview: begin"):
        benchmark.main(argv)
    with pytest.raises(SystemExit, match="needs one <!-- big overview: begin"):
        benchmark.main(argv[:-2] + ["--readme", str(page)])  # the old name of --doc still works


def test_proxy_fidelity_writes_its_overview_into_the_results_page_by_default():
    benchmark = load("proxy_fidelity")
    page = benchmark.RESULTS_DOC.read_text()
    assert benchmark.RESULTS_DOC == Path(__file__).resolve().parents[1] / "docs" / "results" / "cifar-proxies.md"
    assert page.count("<!-- cifar10-convnet overview: begin (benchmarks/proxy_fidelity.py writes this block) -->") == 1
    assert "<!-- cifar10-convnet overview: end -->" in page
    assert "overview: begin" not in (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_proxy_fidelity_registers_its_candidate_proxies_as_changes_to_cifar10_pooled():
    """``--proxy NAME`` reproduces each candidate's column: the registered task is cifar10-pooled with exactly
    the listed changes, and its Evaluator options are ones the Evaluator takes."""
    from keras_nos.tasks import Evaluator

    benchmark = load("proxy_fidelity")
    benchmark.register_candidates()
    pooled = get_task("cifar10-pooled")
    for name, (description, changes, options) in benchmark.CANDIDATES.items():
        task = get_task(name)
        expected = {key: value for key, value in changes.items() if key != "validation_size"}
        assert {field: getattr(task, field) for field in expected} == expected
        kept = ("build_model", "batch_size", "epochs", "steps_per_epoch")
        assert all(getattr(task, field) == getattr(pooled, field) for field in kept if field not in expected)
        assert task.description == description
        assert task.load_data.keywords == {"validation_size": changes.get("validation_size", 2000)}
        Evaluator("synthetic", **{"learning_rates": (0.1,), **options})  # a bad option name or value raises here
        assert benchmark.proxy_learning_rates(name) == options.get("learning_rates", DEFAULT_LEARNING_RATES)
    assert any(options.get("lr_search") == "halving" for _, _, options in benchmark.CANDIDATES.values())


def test_noise_ceiling_separates_rule_effects_from_seed_effects_and_noise():
    """Rewards = rule effect + seed effect + small noise: the seed effect is taken out, the noise measured."""
    noise_ceiling = load("noise_ceiling")
    rng = np.random.default_rng(0)
    effects = np.linspace(0.1, 0.9, 30)
    rows = {f"rule-{i}": {f"t@{s}": {"reward": effect + 0.2 * s + rng.normal(scale=0.01), "cpu": 1.0}
                          for s in range(3)} for i, effect in enumerate(effects)}
    found = noise_ceiling.ceiling(rows, "t", 3)
    assert found["noise"] == pytest.approx(0.01, rel=0.3)  # the 0.2-a-seed shift is not noise
    assert found["spread"] == pytest.approx(effects.std(ddof=1), rel=0.05)
    assert found["spearman"] > 0.99 and found["ratio"] > 20 and found["rules"] == 30
    noisy = {name: {key: dict(cell, reward=rng.normal()) for key, cell in row.items()} for name, row in rows.items()}
    assert abs(noise_ceiling.ceiling(noisy, "t", 3)["spearman"]) < 0.4  # pure noise agrees with nothing


def test_noise_ceiling_ranks_by_speedup_over_adam_from_the_stored_curves():
    """A rule whose curve is Adam's at twice the pace is 2x; one that diverged is 0; Adam against itself is 1."""
    noise_ceiling = load("noise_ceiling")
    steps = [0, 10, 20, 30, 40]
    adam = [0.0, 0.2, 0.4, 0.6, 0.8]
    curves = {"adam": adam, "fast": [0.0, 0.4, 0.8, 0.8, 0.8], "slow": [0.0, 0.1, 0.2, 0.3, 0.4],
              "diverged": [0.0, 0.1, float("nan"), float("nan"), float("nan")]}
    rows = {name: {f"t@{s}": {"reward": values[-1], "steps": steps, "values": values, "cpu": 1.0} for s in range(2)}
            for name, values in curves.items()}
    found = noise_ceiling.speedups_over_adam(rows, list(curves), "t", 2)
    assert found[:, 0] == pytest.approx([1.0, 40 / 20, 20 / 40, 0.0])
    assert noise_ceiling.ceiling(rows, "t", 2, "speedup")["spearman"] == pytest.approx(1.0)
    # thinned to the epoch ends of a 2-epoch training (steps 20 and 40), with or without step 0
    assert noise_ceiling.curve_points(rows["fast"]["t@0"], 20, "epochs") == ([0, 20, 40], [0.0, 0.8, 0.8])
    assert noise_ceiling.curve_points(rows["fast"]["t@0"], 20, "epochs-only") == ([20, 40], [0.8, 0.8])
    thinned = noise_ceiling.speedups_over_adam(rows, list(curves), "t", 2, "epochs", epochs=2)
    assert thinned[:3, 0] == pytest.approx([1.0, 40 / 20, 20 / 40])
    assert noise_ceiling.ceiling({n: {k: {"reward": 1.0, "cpu": 1.0} for k in row} for n, row in rows.items()},
                                 "t", 2, "speedup") is None  # no curves stored: no speedup row


def test_noise_ceiling_scores_rules_with_every_seed_and_resumes(tmp_path, capsys):
    noise_ceiling = load("noise_ceiling")
    out = tmp_path / "raw.json"
    argv = ["--tasks", "digits-mlp", "--seeds", "2", "--random-rules", "0", "--limit", "4", "--json", str(out)]
    noise_ceiling.main(argv)
    first = capsys.readouterr().out
    assert re.search(r"\| digits-mlp \| 4 \| -?\d\.\d{3} \(-?\d\.\d{3}\) \| (-?\d\.\d{3}|nan) \| [\d.]+ \| [\d.]+ \| "
                     r"[\d.]+ \| [\d.]+ \| ", first)
    assert len(json.loads(out.read_text())["results"]) == 4
    page = page_with_a_block(tmp_path, "noise-ceiling", "benchmarks/noise_ceiling.py")
    noise_ceiling.main(argv + ["--doc", str(page)])  # everything stored: nothing trains again
    again = capsys.readouterr().out
    assert "digits-mlp@" not in again.split("Rules:")[0]
    assert (tmp_path / "raw.md").read_text().startswith("Rules:")
    row = next(line for line in again.splitlines() if line.startswith("| digits-mlp | 4 |"))
    assert row in first
    assert_block_written(page, "noise-ceiling", again, "| task | rules | self-agreement", row)
    noise_ceiling.main(argv + ["--report-only", "--doc", str(page)])
    assert "stored results file" in page.read_text() and row in page.read_text()
    assert "speedup over adam (" not in again  # no curves stored: no speedup row
    curves = ["--tasks", "digits-mlp", "--seeds", "2", "--random-rules", "0", "--limit", "3", "--curve-points", "5",
              "--json", str(tmp_path / "curves.json")]
    noise_ceiling.main(curves)
    assert re.search(r"\| digits-mlp, speedup over adam \(every stored point\) \| 3 \| ", capsys.readouterr().out)
    adam = json.loads((tmp_path / "curves.json").read_text())["results"]["adam"]
    for seed in (0, 1):  # Adam's curve for the speedups runs on to twice the rules' length, the stored one first
        cell = adam[f"digits-mlp@{seed}"]
        assert cell["extended_steps"][-1] == 2 * cell["steps"][-1]
        continued = dict(zip(cell["extended_steps"], cell["extended_values"]))
        assert [continued[step] for step in cell["steps"]] == pytest.approx(cell["values"], abs=1e-6)


def test_main_job_writes_its_page_figure_and_the_readme_block_from_one_search(tmp_path, capsys):
    main_job = load("main_job")
    readme = tmp_path / "README.md"
    readme.write_text(f"# A project\n\n{main_job.BEGIN}\nan old, hand-typed table\n{main_job.END}\n\nThe rest.\n")
    page = tmp_path / "results" / "main-job.md"
    page.parent.mkdir()
    main_job.main(["--doc", str(page), "--readme", str(readme), "--folder", str(tmp_path / "empty"), "--",
                   "--task", "synthetic", "--space", "small", "--epochs", "1", "--lr", "0.01,0.1", "--budget", "6",
                   "--funnel-top-k", "1", "--funnel-seeds", "2", "--funnel-suite", "none"])
    block = readme.read_text().split(main_job.BEGIN)[1].split(main_job.END)[0].strip()
    assert "hand-typed" not in block and readme.read_text().endswith("The rest.\n")
    assert block in page.read_text()  # the README quotes the page
    table = [line for line in block.splitlines() if line.startswith("| ")]
    assert table[0].startswith("| rank |") and any("(reference)" in line and "`adam`" in line for line in table)
    assert re.search(r"Of the 6 candidates, .*Per quarter of the budget", block)
    assert re.search(r"Wall time \d+ min \d+ s: search \d+ min \d+ s, funnel \d+ min \d+ s\.", block)
    assert (page.parent / "main-job-figure4.png").stat().st_size > 1000
    assert "Machine: " in page.read_text() and "cores" in page.read_text()


def test_search_overhead_times_every_part_of_the_loop_by_quarter(tmp_path, capsys):
    clock = load("search_overhead").main(["--budget", "8", "--batch-size", "2", "--strategy", "random",
                                          "--task", "synthetic", "--space", "small", "--epochs", "1",
                                          "--doc", str(tmp_path / "overhead.md")])
    assert sum(clock.candidates.values()) == 8 and all(clock.candidates[quarter] == 2 for quarter in range(4))
    assert all(clock.seconds[quarter, part] > 0 for quarter in range(4) for part in ("propose", "checkpoint"))
    assert sum(clock.seconds[quarter, "train"] for quarter in range(4)) > 0  # a quarter of cache hits trains nothing
    page = (tmp_path / "overhead.md").read_text()
    assert "| 4 | 2 |" in page and "8 candidates in" in page and "Machine:" in page



def test_warm_start_reports_each_winners_funnel_verdict_and_the_target(tmp_path, capsys):
    benchmark = load("warm_start")
    tiny = {"task": "synthetic", "space": "small", "epochs": 2, "learning_rates": (0.01, 0.1), "budget": 4,
            "batch_size": 2, "funnel_top_k": 1, "funnel_seeds": 2, "funnel_suite": "none"}
    row = benchmark.winner_row(0, "adam", tiny)
    assert row["funnel_seeds"] == 2 and row["speedup"] is not None and row["speedup_low"] <= row["speedup_high"]
    assert row["suite_vs_adam"] is None and not benchmark.meets_target(dict(row, met=None))  # no suite: not met
    fast = dict(row, speedup=1.3, speedup_low=1.05, speedup_high=1.6, suite_vs_adam="4/6")
    assert benchmark.meets_target(fast) and benchmark.meets_target(dict(fast, suite_vs_adam="2/3"))
    assert not benchmark.meets_target(dict(fast, speedup_low=0.98)) and not benchmark.meets_target(
        dict(fast, suite_vs_adam="3/6")) and not benchmark.meets_target(dict(fast, suite_vs_adam="1/3"))
    rows = tmp_path / "rows.json"
    rows.write_text(json.dumps([dict(row, seed=0, warm_start="adam", met=None, seconds=1.0),
                                dict(fast, seed=1, warm_start="adam", met=None, seconds=1.0)]))
    page = page_with_a_block(tmp_path, "warm-start", "benchmarks/warm_start.py")
    capsys.readouterr()
    benchmark.main(["--from-json", str(rows), "--doc", str(page)])
    out = capsys.readouterr().out
    assert "on 1 of 2 seeds." in out
    assert_block_written(page, "warm-start", (tmp_path / "page.md").read_text(),
                         f"| 1 | adam | `{row['rule']}` | {row['reward']:.4f} | 1.30x (95% 1.05-1.60) |")
    assert benchmark.describe(dict(fast, speedup_bounds=2, met=False)).startswith(f"winner {row['rule']}: ≥1.30x")


def test_conv_in_scan_times_each_program_shape_against_one_copy_and_they_train_alike(tmp_path):
    conv_in_scan = load("conv_in_scan")
    page = tmp_path / "page.md"
    result = conv_in_scan.main(["--copies", "2", "--steps", "3", "--batch", "8", "--size", "8", "--filters", "4",
                                "--repeats", "2", "--keras-steps", "4", "--json", str(tmp_path / "out.json"),
                                "--doc", str(page)])
    rows = {row["variant"]: row for row in result["rows"]}
    floor = "TensorFlow, shared kernel, copies as batch"  # the same arithmetic, not the same copies
    assert list(rows) == [conv_in_scan.REFERENCE, "vmap, step loop", "vmap, scan", "vmap, scan unrolled",
                          "vmap, scan, conv as slices", "TensorFlow, one copy, step loop",
                          "TensorFlow, grouped convolution", floor, conv_in_scan.WHOLE, conv_in_scan.CURRENT]
    assert rows[conv_in_scan.REFERENCE]["ratio"] == 1.0
    assert all(row["cpu_per_copy_step"] > 0 and row["standard_error"] >= 0 for row in rows.values())
    not_the_same_copies = (floor, conv_in_scan.WHOLE, conv_in_scan.CURRENT)
    assert all(row["max_delta"] < 1e-5 for name, row in rows.items() if name not in not_the_same_copies)
    assert all(rows[name]["max_delta"] is None for name in not_the_same_copies) and f"| {floor} | " in page.read_text()
    # the ceiling: half the current evaluator's cost, against the fastest convolutions and the whole network
    current, whole = (rows[name]["cpu_per_copy_step"] for name in (conv_in_scan.CURRENT, conv_in_scan.WHOLE))
    fastest = min((row for name, row in rows.items() if name not in not_the_same_copies[1:]),
                  key=lambda r: r["cpu_per_copy_step"])
    assert (f"in at most {0.5e3 * current:.2f} CPU-ms a copy and step; the two convolutions alone take "
            f"{1e3 * fastest['cpu_per_copy_step']:.2f} in the fastest program above ({fastest['variant']}), and the "
            f"whole network with its copies side by side {1e3 * whole:.2f} ({current / whole:.2f}x"
            in page.read_text())
    assert json.loads((tmp_path / "out.json").read_text())["rows"] == result["rows"]
    assert "| vmap, scan, conv as slices |" in page.read_text()
