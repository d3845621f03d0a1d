"""The whole experiment: data and vocabularies once, then optimizer x seed runs.

One parent MLflow run holds the shared settings, the vocabulary files and the
summary table; each (optimizer, seed) is a nested run (see ``train``).
"""

import json
import math
import time
from datetime import datetime
from pathlib import Path

import keras
import mlflow

from keras_nos.tracking import get_or_create_experiment

from .data import load_corpus
from .pipeline import encode_texts, eval_dataset, materialize, tokenize_pairs
from .report import summarize, to_markdown
from .tokenizer import SubwordTokenizer, learn_vocab, save_vocab
from .train import Prepared, run_one

# Corpora up to this many pairs are tokenized once and held as arrays.
IN_MEMORY_PAIRS = 2_000_000


def _say(message):
    print(message, flush=True)


def prepare(cfg, corpus, out_dir):
    """Learn both vocabularies, tokenize every split; return (Prepared, vocab paths)."""
    t0 = time.time()
    vocab_paths = []
    tokenizers = []
    for index, side in enumerate(("src", "tgt")):
        texts = corpus.train.map(lambda s, t, i=index: (s, t)[i]).take(cfg.vocab_sample)
        vocab = learn_vocab(texts, cfg.vocab_size)
        path = save_vocab(vocab, out_dir / "vocab" / f"{side}_vocab.txt")
        vocab_paths.append(path)
        tokenizers.append(SubwordTokenizer(path))
    src_tok, tgt_tok = tokenizers
    _say(f"vocabularies: {src_tok.vocab_size} source, {tgt_tok.vocab_size} target subwords "
         f"({time.time() - t0:.1f}s)")

    id_pairs = tokenize_pairs(corpus.train, src_tok, tgt_tok, cfg.max_len)
    if corpus.train_size <= IN_MEMORY_PAIRS:
        train_source = materialize(id_pairs, cfg.max_len)
        train_pairs = len(train_source[0])
        train_eval = tuple(a[: cfg.train_eval_size] for a in train_source)
    else:
        train_source, train_pairs = id_pairs, corpus.train_size
        train_eval = materialize(id_pairs.take(cfg.train_eval_size), cfg.max_len)
    if train_pairs < cfg.batch_size:
        from .data import DataError

        raise DataError(f"only {train_pairs} training pairs fit --max-len {cfg.max_len}; "
                        f"need at least --batch-size {cfg.batch_size}")
    steps_per_epoch = cfg.steps_per_epoch or train_pairs // cfg.batch_size

    def arrays(pairs):
        src = encode_texts(src_tok, [s for s, _ in pairs], cfg.max_len)
        tgt = encode_texts(tgt_tok, [t for _, t in pairs], cfg.max_len)
        return src, tgt

    val_src, val_tgt = arrays(corpus.val)
    test_src, test_tgt = arrays(corpus.test)
    data = Prepared(
        corpus_name=corpus.name, src_tok=src_tok, tgt_tok=tgt_tok, train_source=train_source,
        train_pairs=train_pairs,
        val_ds=eval_dataset(val_src, val_tgt, cfg.decode_batch_size),
        train_eval_ds=eval_dataset(*train_eval, cfg.decode_batch_size),
        test_ds=eval_dataset(test_src, test_tgt, cfg.decode_batch_size),
        test_src_ids=test_src, test_srcs=[s for s, _ in corpus.test],
        test_refs=[t for _, t in corpus.test], steps_per_epoch=steps_per_epoch)
    _say(f"data: {corpus.name}, {train_pairs} training pairs (<= {cfg.max_len} subwords), "
         f"{len(corpus.val)} validation, {len(corpus.test)} test; {steps_per_epoch} steps "
         f"per epoch ({time.time() - t0:.1f}s)")
    return data, vocab_paths


def _shared_params(cfg, corpus):
    return {"arch": cfg.arch, "data": corpus.name, "optimizers": ",".join(cfg.optimizer_specs),
            "seeds": cfg.seeds, "epochs": cfg.epochs, "batch_size": cfg.batch_size,
            "max_len": cfg.max_len, "vocab_size": cfg.vocab_size, "schedule": cfg.schedule,
            "warmup_steps": cfg.warmup_steps, "label_smoothing": cfg.label_smoothing,
            "clip_norm": cfg.clip_norm, "beam_size": cfg.beam_size, "smoke": cfg.smoke}


def run_experiment(cfg, started=None):
    """Run every optimizer x seed; write and return the summary rows."""
    started = started or time.time()
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out_dir = Path(cfg.out or Path("runs", "translation", f"{stamp}-{cfg.arch}"))
    cfg.out = str(out_dir)  # where the table is, for --doc
    out_dir.mkdir(parents=True, exist_ok=True)

    corpus = load_corpus(cfg)
    data, vocab_paths = prepare(cfg, corpus, out_dir)
    experiment_id = get_or_create_experiment(cfg.experiment, cfg.tracking_uri)
    results = []
    run_name = cfg.run_name or f"{cfg.arch} {corpus.name.split('(')[0]} {stamp}"
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as parent:
        mlflow.log_params(_shared_params(cfg, corpus))
        mlflow.set_tag("role", "parent")
        for path in vocab_paths:
            mlflow.log_artifact(str(path), artifact_path="vocab")
        for spec_index, spec in enumerate(cfg.optimizer_specs):
            for seed in range(cfg.seeds):
                keras.backend.clear_session()
                run_dir = out_dir / "runs" / f"{spec_index:02d}-seed{seed}"
                results.append(run_one(cfg, data, spec, cfg.learning_rates[spec], seed,
                                       run_dir, log=_say))
        rows = summarize(results, cfg.optimizer_specs)
        title = (f"{cfg.arch}, {corpus.name}, {cfg.epochs} epochs x {data.steps_per_epoch} "
                 f"steps, {cfg.seeds} seed(s): mean ± std")
        table = to_markdown(rows, cfg.beam_size, title=title)
        (out_dir / "table.md").write_text(table, encoding="utf-8")
        summary = {"parent_run_id": parent.info.run_id, "experiment_id": experiment_id,
                   "tracking_uri": mlflow.get_tracking_uri(), "rows": rows, "runs": results,
                   "seconds": time.time() - started}
        (out_dir / "results.json").write_text(json.dumps(summary, indent=2, default=str),
                                              encoding="utf-8")
        mlflow.log_artifact(str(out_dir / "table.md"))
        mlflow.log_artifact(str(out_dir / "results.json"))
        finite = [r["bleu_greedy"] for r in results if math.isfinite(r["bleu_greedy"])]
        if finite:
            mlflow.log_metric("best_bleu_greedy", max(finite))
    _say("")
    _say(table)
    _say(f"wrote {out_dir / 'table.md'}; MLflow parent run {parent.info.run_id} "
         f"({time.time() - started:.0f}s in all)")
    return rows
