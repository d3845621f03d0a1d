"""examples/translation.py: corpus, tokenizer, flags, missing data, smoke runs.

The smoke runs train real (tiny) models and are marked slow; they still run in CI.
Nothing here downloads anything.
"""

import json
import math
import sys
from pathlib import Path

import pytest
from example_scripts import assert_one_line_error as check_one_line_error
from example_scripts import run_example

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
for path in (str(EXAMPLES), str(ROOT)):
    if path not in sys.path:
        sys.path.insert(0, path)

from translation_lib import corpus  # noqa: E402
from translation_lib.specs import parse_learning_rates, parse_optimizers  # noqa: E402


def run_script(*args, cwd, timeout=300):
    return run_example("translation.py", *args, cwd=cwd, timeout=timeout)


def assert_one_line_error(proc, *needles):
    check_one_line_error(proc, "translation.py", *needles)


# --- built-in corpus and flag parsing (no TensorFlow) -----------------------

def test_builtin_corpus_is_deterministic_and_splits_are_disjoint():
    assert corpus.generate_pairs(50, seed=3) == corpus.generate_pairs(50, seed=3)
    assert corpus.generate_pairs(50, seed=3) != corpus.generate_pairs(50, seed=4)
    train, val, test = corpus.builtin_splits(2000, 100, 100, seed=0)
    assert (len(train), len(val), len(test)) == (2000, 100, 100)
    held_out = {en for en, _ in val + test}
    assert len(held_out) == 200
    assert not held_out & {en for en, _ in train}


def test_german_numbers_and_dates():
    assert corpus.number_de(312) == "dreihundertzwölf"
    assert corpus.number_de(21) == "einundzwanzig"
    assert corpus.number_de(101) == "einhunderteins"
    assert corpus.number_en(312) == "three hundred twelve"
    assert corpus.ordinal_de(3) == "dritten" and corpus.ordinal_de(21) == "einundzwanzigsten"
    assert corpus.year_de(1905) == "neunzehnhundertfünf" and corpus.year_en(1905) == "nineteen oh five"


def test_optimizer_and_learning_rate_specs():
    specs = parse_optimizers("adam, powersign,clip(g, 1)*sign(m)")
    assert specs == ["adam", "powersign", "clip(g, 1)*sign(m)"]
    assert parse_learning_rates("0.01", specs) == dict.fromkeys(specs, 0.01)
    rates = parse_learning_rates("adam=2e-3", specs)
    assert rates["adam"] == 2e-3 and rates["powersign"] > rates["adam"]
    assert parse_learning_rates("1,2,3", specs) == {"adam": 1, "powersign": 2, "clip(g, 1)*sign(m)": 3}
    for bad in ("1,2", "nadam=1", "adam=-1", "x"):
        with pytest.raises(ValueError):
            parse_learning_rates(bad, specs)


# --- tokenizer ---------------------------------------------------------------

def test_wordpiece_round_trip_on_builtin_corpus(tmp_path):
    from translation_lib.tokenizer import END_ID, START_ID, SubwordTokenizer, learn_vocab, save_vocab

    pairs = corpus.generate_pairs(1500, seed=1)
    for side in (0, 1):
        texts = [pair[side] for pair in pairs]
        path = save_vocab(learn_vocab(texts[:1000], vocab_size=600), tmp_path / f"v{side}.txt")
        tokenizer = SubwordTokenizer(path)
        ids = tokenizer.tokenize(texts).to_list()
        assert all(row[0] == START_ID and row[-1] == END_ID for row in ids)
        assert tokenizer.detokenize(ids) == texts  # held-out sentences too
    german = [pair[1] for pair in pairs]
    assert max(len(row) for row in tokenizer.tokenize(german).to_list()) <= 32


def test_plain_text_files_are_held_out_and_aligned(tmp_path):
    from types import SimpleNamespace

    from translation_lib.data import DataError, check_source, load_corpus

    pairs = corpus.generate_pairs(120, seed=5)
    (tmp_path / "a.en").write_text("".join(en + "\n" for en, _ in pairs), encoding="utf-8")
    (tmp_path / "a.de").write_text("".join(de + "\n" for _, de in pairs), encoding="utf-8")
    cfg = SimpleNamespace(data="files", src=str(tmp_path / "a.en"), tgt=str(tmp_path / "a.de"),
                          test_src=None, test_tgt=None, train_size=0, val_size=10, test_size=20)
    check_source(cfg)
    loaded = load_corpus(cfg)
    assert (loaded.train_size, len(loaded.val), len(loaded.test)) == (90, 10, 20)
    train = [(s.decode(), t.decode()) for s, t in loaded.train.as_numpy_iterator()]
    assert sorted(train + loaded.val + loaded.test) == sorted(pairs)
    (tmp_path / "a.de").write_text("one line\n", encoding="utf-8")
    with pytest.raises(DataError, match="aligned"):
        load_corpus(cfg)


def test_table_is_shaped_like_table_2():
    from translation_lib.report import summarize, to_markdown

    runs = [{"optimizer": "adam", "lr": 1e-3, "seed": s, "train_perplexity": 1.5 + s,
             "test_perplexity": 2.0 + s, "bleu_greedy": 20.0 + s, "bleu_beam": 21.0 + s}
            for s in range(3)]
    runs.append({"optimizer": "g*|m|", "lr": 0.3, "seed": 0, "train_perplexity": 2.0,
                 "test_perplexity": 3.0, "bleu_greedy": 10.0, "bleu_beam": None})
    table = to_markdown(summarize(runs, ["adam", "g*|m|"]), beam_size=4)
    lines = table.splitlines()
    assert lines[0].startswith("| Optimizer | lr | Train perplexity | Test perplexity")
    assert "| `adam` | 0.001 | 2.500 ± 1.000 | 3.000 ± 1.000 | 21.00 ± 1.00 | 22.00 ± 1.00 | 3 |" in lines
    assert "| `g*\\|m\\|` | 0.3 | 2.000 | 3.000 | 10.00 | - | 1 |" in lines


# --- errors: one line on stderr, exit status 2 --------------------------------

def test_missing_wmt14_is_a_one_line_error(tmp_path):
    proc = run_script("--data", "wmt14", "--data-dir", str(tmp_path / "nothing"), cwd=tmp_path)
    assert_one_line_error(proc, "wmt14_translate/de-en", str(tmp_path / "nothing"))
    assert not (tmp_path / "nothing").exists()  # nothing downloaded or created


def test_missing_text_files_are_a_one_line_error(tmp_path):
    proc = run_script("--src", str(tmp_path / "a.en"), "--tgt", str(tmp_path / "a.de"),
                      cwd=tmp_path)
    assert_one_line_error(proc, "a.en")


@pytest.mark.parametrize("args, needle", [
    (["--smoke", "--arch", "rnn"], "--arch"),
    (["--smoke", "--lr", "0,1"], "--lr"),
    (["--smoke", "--epochs", "0"], "--epochs"),
    (["--smoke", "--no-such-flag"], "--no-such-flag"),
])
def test_bad_flags_are_a_one_line_error(tmp_path, args, needle):
    assert_one_line_error(run_script(*args, cwd=tmp_path), needle)


def test_unknown_optimizer_is_a_one_line_error(tmp_path):
    proc = run_script("--smoke", "--optimizers", "adam,nosuchopt", cwd=tmp_path)
    assert_one_line_error(proc, "nosuchopt")
    assert not (tmp_path / "mlruns").exists()


# --- smoke runs ---------------------------------------------------------------

# About a minute per architecture: 62 steps, 64 test sentences, beam 2.
TINY = ["--smoke", "--optimizers", "adam,powersign", "--lr", "adam=3e-3,powersign=0.1",
        "--epochs", "1", "--train-size", "2000", "--batch-size", "32", "--warmup-steps", "20",
        "--val-size", "32", "--test-size", "64", "--beam-size", "2", "--verbose", "0"]


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["transformer", "gnmt"])
def test_smoke_run_tracks_every_optimizer(tmp_path, arch):
    import mlflow

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    out = tmp_path / "out"
    page = tmp_path / "translation-transfer.md"
    page.write_text("# Translation\n\n<!-- translation-builtin: begin (examples/translation.py writes this block) -->"
                    "\nold\n<!-- translation-builtin: end -->\n\nProse.\n")
    proc = run_script(*TINY, "--arch", arch, "--tracking-uri", uri, "--out", str(out),
                      "--experiment", "translation-test", "--doc", str(page), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    table = (out / "table.md").read_text()
    assert "| `adam` |" in table and "| `powersign` |" in table
    assert table in proc.stdout
    written = page.read_text()  # --doc: the table, the command and the machine in the block, the prose kept
    assert table.strip() in written and "\nold\n" not in written and "Machine: " in written
    assert written.startswith("# Translation\n\n<!-- ") and written.endswith("-->\n\nProse.\n")
    assert "`python examples/translation.py --smoke" in written
    summary = json.loads((out / "results.json").read_text())
    rows = {row["optimizer"]: row for row in summary["rows"]}
    assert set(rows) == {"adam", "powersign"}
    for row in rows.values():
        assert math.isfinite(row["test_perplexity"]) and row["test_perplexity"] > 1
        assert math.isfinite(row["bleu_greedy"]) and math.isfinite(row["bleu_beam"])
    assert rows["adam"]["bleu_greedy"] > 0
    assert (out / "vocab" / "tgt_vocab.txt").is_file()
    assert list((out / "runs").glob("*/checkpoints/epoch-001.weights.h5"))

    client = mlflow.MlflowClient(tracking_uri=uri)
    parent = client.get_run(summary["parent_run_id"])
    assert parent.data.params["arch"] == arch
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"table.md", "vocab"} <= artifacts
    children = client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert sorted(c.data.params["optimizer"] for c in children) == ["adam", "powersign"]
    for child in children:
        assert child.data.params["arch"] == arch and child.data.params["seed"] == "0"
        for key in ("test_perplexity", "bleu_greedy", "bleu_beam", "val_perplexity", "train_loss"):
            assert math.isfinite(child.data.metrics[key]), key
        history = client.get_metric_history(child.info.run_id, "val_perplexity")
        assert [m.step for m in history] == [1]
